"""Thin InfluxDB adapter for the harness: the run's bucket, identities stored, counts, alerts.

Each run writes to a bucket of its own (``harness-<run id>``), so nothing of an earlier run (the
twin's event time may run ahead of the wall clock) is counted. Queries return identities, not
values: per series the event times in ms, one row per stored point, so a point stored under two tag
sets shows up twice. Queries stay in the forms InfluxDB pushes down to storage (equality
filters, a bare ``count()``); times are parsed here, vectorized. Alerts are read through
the cloud's own storage reader. Client errors become ``ObservationError``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import numpy as np
from numpy.typing import NDArray

from iiot.harness.errors import ObservationError
from iiot.harness.records import AlertSpan
from iiot.harness.scoring import SeriesKey

T = TypeVar("T")
RANGE = "range(start: 1970-01-01T00:00:00Z, stop: 2200-01-01T00:00:00Z)"
MACHINE_SOURCE = "machine/"


def flux_string(value: str) -> str:
    """A Flux string literal."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${") + '"'


def flux_time_ms(ms: int) -> str:
    """A Flux time literal for an event time in ms (nanosecond integer form)."""
    return f"time(v: {int(ms) * 1_000_000})"


def parse_times_ms(values: Sequence[str]) -> NDArray[np.int64]:
    """RFC 3339 UTC times as InfluxDB writes them (``...Z``, with or without a fraction) -> ms."""
    if not values:
        return np.empty(0, dtype=np.int64)
    return np.array([v.rstrip("Z") for v in values], dtype="datetime64[ms]").astype(np.int64)


def rows_to_series(
    rows: Iterable[Sequence[str]], key_columns: Sequence[str], time_column: str = "_time"
) -> dict[tuple[str, ...], NDArray[np.int64]]:
    """CSV rows (header rows included, as Flux repeats them per table) -> key -> event times in ms."""
    out: dict[tuple[str, ...], list[str]] = {}
    index: dict[str, int] | None = None
    for row in rows:
        if not row or all(cell == "" for cell in row):
            continue
        if time_column in row and all(k in row for k in key_columns):
            index = {name: i for i, name in enumerate(row)}
            continue
        if index is None:
            continue
        key = tuple(row[index[k]] for k in key_columns)
        out.setdefault(key, []).append(row[index[time_column]])
    return {k: parse_times_ms(v) for k, v in out.items()}


class InfluxProbe:
    """Reads (and creates, and deletes) the run's bucket."""

    def __init__(self, url: str, token: str, org: str, bucket: str, *, timeout_ms: int = 300_000) -> None:
        from influxdb_client import InfluxDBClient

        self.url, self.token, self.org, self.bucket = url, token, org, bucket
        self._client = InfluxDBClient(url=url, token=token, org=org, timeout=timeout_ms)

    def __enter__(self) -> InfluxProbe:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Release the HTTP connections."""
        self._client.close()

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn()
        except ApiException as exc:
            raise ObservationError(
                f"InfluxDB {what}: {exc.status} {exc.reason}: {(exc.body or b'')[:300]!r}",
                retriable=int(exc.status or 0) >= 500,
            ) from exc
        except (HTTPError, OSError) as exc:
            raise ObservationError(f"InfluxDB {what} at {self.url}: {exc}") from exc

    # ------------------------------------------------------------------ the bucket

    def create_bucket(self) -> None:
        """Create the run's bucket (infinite retention); an existing one is reused."""
        api = self._client.buckets_api()
        if self._call("find bucket", lambda: api.find_bucket_by_name(self.bucket)) is None:
            self._call("create bucket", lambda: api.create_bucket(bucket_name=self.bucket, org=self.org))

    def delete_bucket(self) -> None:
        """Delete the run's bucket, if it exists."""
        api = self._client.buckets_api()
        found = self._call("find bucket", lambda: api.find_bucket_by_name(self.bucket))
        if found is not None:
            self._call("delete bucket", lambda: api.delete_bucket(found))

    # ------------------------------------------------------------------ queries

    def _csv(self, flux: str) -> list[list[str]]:
        from influxdb_client.domain.dialect import Dialect

        api = self._client.query_api()
        dialect = Dialect(header=True, annotations=[], delimiter=",", comment_prefix="#")
        return self._call("query", lambda: list(api.query_csv(flux, org=self.org, dialect=dialect)))

    def _from(self, measurement: str, predicate: str = "true", start_ms: int | None = None) -> str:
        span = (
            RANGE
            if start_ms is None
            else f"range(start: {flux_time_ms(start_ms)}, stop: 2200-01-01T00:00:00Z)"
        )
        return (
            f"from(bucket: {flux_string(self.bucket)}) |> {span}"
            f" |> filter(fn: (r) => r._measurement == {flux_string(measurement)})"
            f" |> filter(fn: (r) => {predicate})"
        )

    def telemetry(
        self, machines: Sequence[str], metrics: Sequence[str], start_ms: int | None = None
    ) -> dict[SeriesKey, NDArray[np.int64]]:
        """Stored sample times per (machine, metric), one entry per stored point (one query per machine)."""
        wanted = set(metrics)
        out: dict[SeriesKey, NDArray[np.int64]] = {}
        for machine in machines:
            flux = (
                self._from(
                    "telemetry", f'r._field == "value" and r.machine_id == {flux_string(machine)}', start_ms
                )
                + ' |> keep(columns: ["_time", "machine_id", "metric"])'
            )
            for key, times in rows_to_series(self._csv(flux), ("machine_id", "metric")).items():
                if key[1] in wanted:
                    previous = out.get((key[0], key[1]))
                    out[(key[0], key[1])] = times if previous is None else np.concatenate([previous, times])
        return out

    def inspections(self, cameras: Sequence[str]) -> dict[SeriesKey, NDArray[np.int64]]:
        """Stored inspection (frame) times per (camera, ``frame``), one entry per stored point."""
        out: dict[SeriesKey, NDArray[np.int64]] = {}
        for camera in cameras:
            flux = (
                self._from("detection", f'r._field == "frame_seq" and r.camera_id == {flux_string(camera)}')
                + ' |> keep(columns: ["_time", "camera_id"])'
            )
            for key, times in rows_to_series(self._csv(flux), ("camera_id",)).items():
                out[(key[0], "frame")] = times
        return out

    def count_telemetry(self, metrics: Sequence[str]) -> int:
        """Points stored in the telemetry measurement for these metrics (per-series counts, summed here)."""
        flux = (
            self._from("telemetry", 'r._field == "value"')
            + ' |> count() |> keep(columns: ["metric", "_value"])'
        )
        wanted, total, index = set(metrics), 0, None
        for row in self._csv(flux):
            if "_value" in row and "metric" in row:
                index = (row.index("metric"), row.index("_value"))
            elif index is not None and len(row) > max(index) and row[index[0]] in wanted:
                total += int(row[index[1]])
        return total

    def node_births(self, group_id: str) -> set[str]:
        """Edge nodes of the group whose birth reached storage."""
        flux = (
            self._from(
                "node_status",
                f'r._field == "event" and r._value == "birth" and r.group == {flux_string(group_id)}',
            )
            + ' |> keep(columns: ["_time", "edge_node"])'
        )
        return {k[0] for k in rows_to_series(self._csv(flux), ("edge_node",))}

    def alerts(self) -> list[AlertSpan]:
        """Every alert episode about a machine (newest revision of each), via the cloud's reader."""
        from cloud.errors import CloudError
        from cloud.storage.base import InfluxOptions, open_storage

        try:
            storage = open_storage(
                self.url, influx=InfluxOptions(token=self.token, org=self.org, bucket=self.bucket)
            )
            try:
                alerts = storage.alerts(open_only=False)
            finally:
                storage.close()
        except CloudError as exc:
            raise ObservationError(f"reading alerts: {exc}") from exc
        return [alert_span(a) for a in alerts if a.source.startswith(MACHINE_SOURCE)]


def alert_span(alert: Any, seen_wall: float | None = None) -> AlertSpan:
    """A cloud ``Alert`` record about a machine as the scorer's span."""
    return AlertSpan(
        alert.alert_id,
        alert.source.removeprefix(MACHINE_SOURCE),
        alert.kind,
        int(alert.episode_start_ms),
        None if alert.cleared_ms is None else int(alert.cleared_ms),
        seen_wall,
    )
