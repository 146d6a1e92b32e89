"""InfluxDB 2.x storage: the schema table as points, batched synchronous writes with backoff, Flux reads.

Writes are synchronous so the caller knows a batch is stored before it commits its input offsets;
each batch is retried with exponential backoff on retriable failures (connection errors, 429, 5xx).
Records become line protocol straight from the schema table (:func:`lines`), the same text
influxdb-client's ``Point`` makes at a fraction of its cost: on the worker's hot path, building
``Point`` objects cost more than processing the samples (bench/cloud_e2e.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache, partial
from typing import Any, TypeVar

from cloud.errors import StorageRejected, StorageUnavailable
from cloud.processing.records import Aggregate, Alert
from cloud.retry import retry_call
from cloud.storage.base import InfluxOptions, MachineState, MetricValue, SeriesPoint
from cloud.storage.schema import (
    FieldValue,
    Precision,
    Row,
    Storable,
    aggregate_from_values,
    alert_from_values,
    prediction_from_values,
    specs_for,
)

T = TypeVar("T")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EARLIEST = "1970-01-01T00:00:00Z"
LATEST = "2200-01-01T00:00:00Z"  # event time may run ahead of the wall clock (a fast twin)
RETRIABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


def flux_string(value: str) -> str:
    """A Flux string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return f'"{escaped}"'


def flux_time(ms: int) -> str:
    """An RFC 3339 time literal for an event time in ms."""
    moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _chunks(items: list[T], size: int) -> Iterator[list[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class InfluxStorage:
    """Storage in one InfluxDB 2.x bucket."""

    def __init__(self, options: InfluxOptions) -> None:
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.options = options
        self._client = InfluxDBClient(
            url=options.url, token=options.token, org=options.org, timeout=options.timeout_ms
        )
        self._write_api = self._client.write_api(write_options=SYNCHRONOUS)
        self._query_api = self._client.query_api()

    def __enter__(self) -> InfluxStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- sink

    def write(self, records: Iterable[Storable]) -> int:
        """Write every record in batches of ``batch_size`` points, each retried with backoff."""
        by_precision = lines(records)
        for precision, texts in by_precision.items():
            for chunk in _chunks(texts, self.options.batch_size):
                write = partial(self._write_chunk, chunk, precision)
                retry_call(write, self.options.retry, what="InfluxDB write")
        return sum(len(texts) for texts in by_precision.values())

    def _write_chunk(self, lines: list[str], precision: Precision) -> None:
        from influxdb_client import WritePrecision

        unit: Any = WritePrecision.NS if precision == "ns" else WritePrecision.MS
        body = "\n".join(lines)
        self._call(
            lambda: self._write_api.write(
                bucket=self.options.bucket, org=self.options.org, record=body, write_precision=unit
            )
        )

    def close(self) -> None:
        """Release the HTTP connections."""
        self._write_api.close()
        self._client.close()

    # ----------------------------------------------------------------- reader

    def latest(self, machine_id: str) -> MachineState:
        """Newest sample per metric and newest prediction of one machine."""
        telemetry = self._rows(
            "telemetry",
            f"r.machine_id == {flux_string(machine_id)}",
            tail="|> last()",
            fields=("value", "stale", "unit"),
        )
        newest: dict[str, dict[str, Any]] = {}
        for row in telemetry:
            metric = str(row["metric"])
            if metric not in newest or row["time"] > newest[metric]["time"]:
                newest[metric] = row
        predictions = self._rows("prediction", f"r.machine_id == {flux_string(machine_id)}", tail="|> last()")
        prediction = max(predictions, key=lambda r: r["time"], default=None)
        return MachineState(
            machine_id,
            tuple(
                MetricValue(
                    m, int(r["time"]), float(r["value"]), bool(r.get("stale")), str(r.get("unit") or "")
                )
                for m, r in sorted(newest.items())
            ),
            prediction_from_values(prediction) if prediction else None,
        )

    def series(self, machine_id: str, metric: str, start_ms: int, end_ms: int) -> list[SeriesPoint]:
        """Raw samples of one metric in ``[start_ms, end_ms)``."""
        rows = self._rows(
            "telemetry",
            f"r.machine_id == {flux_string(machine_id)} and r.metric == {flux_string(metric)}",
            start=flux_time(start_ms),
            stop=flux_time(end_ms),
            fields=("value",),
        )
        return sorted((SeriesPoint(int(r["time"]), float(r["value"])) for r in rows), key=lambda p: p.ts_ms)

    def aggregates(
        self, machine_id: str, metric: str, window: str, start_ms: int, end_ms: int
    ) -> list[Aggregate]:
        """Windows of one metric and spec starting in ``[start_ms, end_ms)``."""
        predicate = (
            f"r.machine_id == {flux_string(machine_id)} and r.metric == {flux_string(metric)}"
            f" and r.window == {flux_string(window)}"
        )
        rows = self._rows("telemetry_window", predicate, start=flux_time(start_ms), stop=flux_time(end_ms))
        return sorted((aggregate_from_values(r) for r in rows), key=lambda a: a.start_ms)

    def alerts(self, *, open_only: bool = True) -> list[Alert]:
        """Newest revision of each alert, newest first."""
        tail = '|> filter(fn: (r) => r.state != "cleared")' if open_only else ""
        alerts = [alert_from_values(r) for r in self._rows("alert", "true", tail_after_pivot=tail)]
        return sorted(alerts, key=lambda a: (-a.updated_ms, a.alert_id))

    def alert_history(self, alert_id: str) -> list[Alert]:
        """Every stored revision of one alert, oldest first."""
        rows = self._rows("alert_history", f"r.alert_id == {flux_string(alert_id)}")
        return sorted((alert_from_values(r) for r in rows), key=lambda a: (a.updated_ms, a.revision))

    # ----------------------------------------------------------------- plumbing

    def _rows(
        self,
        measurement: str,
        predicate: str,
        *,
        start: str = EARLIEST,
        stop: str = LATEST,
        fields: tuple[str, ...] = (),
        tail: str = "",
        tail_after_pivot: str = "",
    ) -> list[dict[str, Any]]:
        """Rows of one measurement as dicts of tags, fields and ``time`` (ms)."""
        field_filter = ""
        if fields:
            field_filter = (
                "|> filter(fn: (r) => " + " or ".join(f"r._field == {flux_string(f)}" for f in fields) + ")"
            )
        flux = (
            f"from(bucket: {flux_string(self.options.bucket)})"
            f" |> range(start: {start}, stop: {stop})"
            f" |> filter(fn: (r) => r._measurement == {flux_string(measurement)})"
            f" |> filter(fn: (r) => {predicate}) {field_filter} {tail}"
            ' |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")'
            f" {tail_after_pivot}"
        )
        tables = self._call(lambda: self._query_api.query(flux, org=self.options.org))
        rows = []
        for table in tables:
            for record in table.records:
                values = dict(record.values)
                values["time"] = (values.pop("_time") - EPOCH) // timedelta(milliseconds=1)
                rows.append(values)
        return rows

    def _call(self, fn: Callable[[], T]) -> T:
        """Run one client call, translating its exceptions into storage errors."""
        from influxdb_client.rest import ApiException
        from urllib3.exceptions import HTTPError

        try:
            return fn()
        except ApiException as exc:
            status = int(exc.status or 0)
            detail = f"InfluxDB answered {status} {exc.reason}: {(exc.body or b'')[:300]!r}"
            if status in RETRIABLE_STATUS:
                raise StorageUnavailable(detail) from exc
            raise StorageRejected(detail) from exc
        except (HTTPError, OSError) as exc:
            raise StorageUnavailable(f"InfluxDB at {self.options.url} unreachable: {exc}") from exc


_ESCAPE_MEASUREMENT = str.maketrans({",": r"\,", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_ESCAPE_KEY = str.maketrans({",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\t": r"\t", "\r": r"\r"})
_ESCAPE_STRING = str.maketrans({'"': r"\"", "\\": r"\\"})


def line(row: Row) -> str:
    """One row as InfluxDB line protocol, as influxdb-client's ``Point`` writes it ("" without fields).

    Tags sorted by key, empty tag values left out (line protocol has none; an absent tag is the
    same identity every time); fields sorted by key, non-finite floats left out, whole floats
    without ".0", ints with "i", strings quoted and escaped; the time in the row's precision.
    """
    tags = "".join([f",{_key(key)}={_tag_value(value)}" for key, value in sorted(row.tags) if value])
    fields = []
    for key, value in sorted(row.fields):
        text = _field_value(value)
        if text is not None:
            fields.append(f"{_key(key)}={text}")
    if not fields:
        return ""
    return f"{_measurement(row.measurement)}{tags} {','.join(fields)} {int(row.time)}"


@dataclass(frozen=True, slots=True)
class _LineSpec:
    """A measurement spec made ready for line protocol: names escaped, tags and fields sorted by key."""

    measurement: str
    tags: tuple[tuple[str, Callable[[Any], str]], ...]  # (",key=", value function)
    fields: tuple[tuple[str, Callable[[Any], FieldValue]], ...]  # ("key=", value function)
    time: Callable[[Any], int]
    precision: Precision


_LINE_SPECS: dict[type, tuple[_LineSpec, ...]] = {}


def _line_specs(record_type: type) -> tuple[_LineSpec, ...]:
    found = _LINE_SPECS.get(record_type)
    if found is None:
        found = _LINE_SPECS[record_type] = tuple(
            _LineSpec(
                _measurement(spec.measurement),
                tuple((f",{_key(name)}=", fn) for name, fn in sorted(spec.tags, key=lambda t: t[0])),
                tuple((f"{_key(f.name)}=", f.value) for f in sorted(spec.fields, key=lambda f: f.name)),
                spec.time,
                spec.precision,
            )
            for spec in specs_for(record_type)
        )
    return found


def lines(records: Iterable[Storable]) -> dict[Precision, list[str]]:
    """Records as line protocol by precision: ``line(row)`` of each of ``rows_of(records)``, without rows."""
    out: dict[Precision, list[str]] = {}
    for record in records:
        for spec in _line_specs(type(record)):
            tags = "".join([f"{key}{_tag_value(value)}" for key, fn in spec.tags if (value := fn(record))])
            fields = []
            for key, fn in spec.fields:
                text = _field_value(fn(record))
                if text is not None:
                    fields.append(f"{key}{text}")
            if fields:
                texts = out.get(spec.precision)
                if texts is None:
                    texts = out[spec.precision] = []
                texts.append(f"{spec.measurement}{tags} {','.join(fields)} {int(spec.time(record))}")
    return out


@lru_cache(maxsize=1024)
def _key(name: str) -> str:
    return name.translate(_ESCAPE_KEY)


@lru_cache(maxsize=256)
def _measurement(name: str) -> str:
    return name.translate(_ESCAPE_MEASUREMENT)


def _tag_value(value: str) -> str:
    escaped = value.translate(_ESCAPE_KEY)
    return escaped + " " if escaped.endswith("\\") else escaped


def _field_value(value: FieldValue) -> str | None:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value}i"
    if isinstance(value, float):
        if not math.isfinite(value):
            return None
        text = repr(value)
        return text[:-2] if text.endswith(".0") else text
    return f'"{value.translate(_ESCAPE_STRING)}"'
