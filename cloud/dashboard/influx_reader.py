"""The plant reader over InfluxDB 2.x: Flux ``last()`` per series for "newest", ranges for histories.

Same measurements, tags and fields as :mod:`cloud.storage.schema`; exceptions are translated the
same way as in :mod:`cloud.storage.influx`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from cloud.dashboard.plant_reader import CameraSummary, DeviceInfo, NodeSession, is_defective_labels
from cloud.errors import StorageRejected, StorageUnavailable
from cloud.processing.alert_rules import DefectRateLimits
from cloud.processing.records import PredictionPoint
from cloud.storage.base import InfluxOptions, MetricValue
from cloud.storage.influx import EARLIEST, EPOCH, LATEST, RETRIABLE_STATUS, flux_string, flux_time
from cloud.storage.schema import NONE_INT, prediction_from_values

T = TypeVar("T")
FPS_SPAN_MS = 10_000


class InfluxPlantReader:
    """Flux queries on the pipeline's bucket."""

    def __init__(self, options: InfluxOptions, query_api: Any | None = None) -> None:
        self.options = options
        self._client: Any = None
        if query_api is None:
            from influxdb_client import InfluxDBClient

            self._client = InfluxDBClient(
                url=options.url, token=options.token, org=options.org, timeout=options.timeout_ms
            )
            query_api = self._client.query_api()
        self._query_api = query_api

    def _flux(
        self,
        measurement: str,
        predicate: str = "true",
        *,
        start: str = EARLIEST,
        stop: str = LATEST,
        fields: tuple[str, ...] = (),
        last: bool = False,
    ) -> str:
        field_filter = ""
        if fields:
            wanted = " or ".join(f"r._field == {flux_string(f)}" for f in fields)
            field_filter = f" |> filter(fn: (r) => {wanted})"
        return (
            f"from(bucket: {flux_string(self.options.bucket)})"
            f" |> range(start: {start}, stop: {stop})"
            f" |> filter(fn: (r) => r._measurement == {flux_string(measurement)})"
            f" |> filter(fn: (r) => {predicate}){field_filter}"
            + (" |> last()" if last else "")
            + ' |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")'
        )

    def _rows(self, flux: str) -> list[dict[str, Any]]:
        tables = self._call(lambda: self._query_api.query(flux, org=self.options.org))
        rows = []
        for table in tables:
            for record in table.records:
                values = dict(record.values)
                values["time"] = (values.pop("_time") - EPOCH) // timedelta(milliseconds=1)
                rows.append(values)
        return rows

    def _call(self, fn: Callable[[], T]) -> T:
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn()
        except ApiException as exc:
            status = int(exc.status or 0)
            detail = f"InfluxDB answered {status} {exc.reason}"
            if status in RETRIABLE_STATUS:
                raise StorageUnavailable(detail) from exc
            raise StorageRejected(detail) from exc
        except (HTTPError, OSError) as exc:
            raise StorageUnavailable(f"InfluxDB at {self.options.url} unreachable: {exc}") from exc

    # ----------------------------------------------------------------- devices

    def devices(self) -> list[DeviceInfo]:
        """Every machine, camera and node, newest sample per metric."""
        rows = self._rows(self._flux("telemetry", fields=("value", "stale", "unit"), last=True))
        by_device: dict[str, tuple[str, str, dict[str, MetricValue]]] = {}
        for r in rows:
            if r.get("value") is None:
                continue
            device = str(r["machine_id"])
            _, _, metrics = by_device.setdefault(
                device, (str(r.get("group") or ""), str(r.get("edge_node") or ""), {})
            )
            value = MetricValue(
                str(r["metric"]),
                int(r["time"]),
                float(r["value"]),
                bool(r.get("stale")),
                str(r.get("unit") or ""),
            )
            known = metrics.get(value.metric)
            if known is None or value.ts_ms > known.ts_ms:
                metrics[value.metric] = value
        return [
            DeviceInfo(device, group, node, tuple(sorted(metrics.values(), key=lambda m: m.metric)))
            for device, (group, node, metrics) in sorted(by_device.items())
        ]

    def latest_prediction(self, machine_id: str) -> PredictionPoint | None:
        """The newest fault prediction of one machine."""
        rows = self._rows(self._flux("prediction", f"r.machine_id == {flux_string(machine_id)}", last=True))
        newest = max(rows, key=lambda r: r["time"], default=None)
        return prediction_from_values(newest) if newest else None

    def predictions(self, machine_id: str, start_ms: int, end_ms: int) -> list[PredictionPoint]:
        """Predictions of one machine in ``[start_ms, end_ms)``."""
        flux = self._flux(
            "prediction",
            f"r.machine_id == {flux_string(machine_id)}",
            start=flux_time(start_ms),
            stop=flux_time(end_ms),
        )
        return sorted((prediction_from_values(r) for r in self._rows(flux)), key=lambda p: p.ts_ms)

    # ----------------------------------------------------------------- fleet and cameras

    def sessions(self) -> list[NodeSession]:
        """The newest session event of every edge node."""
        newest: dict[tuple[str, str], dict[str, Any]] = {}
        for r in self._rows(self._flux("node_status", fields=("event", "bd_seq"), last=True)):
            key = (str(r.get("group") or ""), str(r["edge_node"]))
            if key not in newest or r["time"] > newest[key]["time"]:
                newest[key] = r
        out = []
        for (group, node), r in sorted(newest.items()):
            bd = int(r.get("bd_seq", NONE_INT) if r.get("bd_seq") is not None else NONE_INT)
            out.append(
                NodeSession(
                    group, node, str(r.get("event") or "data"), int(r["time"]), None if bd == NONE_INT else bd
                )
            )
        return out

    def cameras(self, window_ms: int, limits: DefectRateLimits) -> list[CameraSummary]:
        """Per camera: inspected and defective frames in its last ``window_ms``, detector version, fps."""
        heads: dict[tuple[str, str, str], dict[str, Any]] = {}
        for r in self._rows(self._flux("detection", fields=("boxes", "model_version"), last=True)):
            key = (str(r["line_id"]), str(r["camera_id"]), str(r.get("edge_node") or ""))
            if key not in heads or r["time"] > heads[key]["time"]:
                heads[key] = r
        out = []
        for (line_id, camera_id, edge_node), head in sorted(heads.items()):
            end = int(head["time"])
            predicate = f"r.line_id == {flux_string(line_id)} and r.camera_id == {flux_string(camera_id)}"
            rows = self._rows(
                self._flux(
                    "detection",
                    predicate,
                    start=flux_time(end - window_ms + 1),
                    stop=flux_time(end + 1),
                    fields=("labels", "max_score"),
                )
            )
            defective = sum(
                1
                for r in rows
                if is_defective_labels(
                    str(r.get("labels") or "").split(","), float(r.get("max_score") or 0.0), limits
                )
            )
            recent = sum(1 for r in rows if int(r["time"]) > end - FPS_SPAN_MS)
            out.append(
                CameraSummary(
                    line_id,
                    camera_id,
                    edge_node,
                    len(rows),
                    defective,
                    end,
                    str(head.get("model_version") or ""),
                    recent / (FPS_SPAN_MS / 1000),
                )
            )
        return out

    def close(self) -> None:
        """Release the HTTP connections."""
        if self._client is not None:
            self._client.close()
