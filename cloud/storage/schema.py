"""The storage schema as a declarative table: record type -> measurement, tags, time, fields.

InfluxDB identifies a point by measurement + tag set + timestamp, and a second write of the same
point overwrites its fields. Every mapping below therefore uses only identity-stable values as tags
(never flags or readings), a source timestamp as time, and writes every field every time (a
sentinel instead of a missing value), so a replay overwrites completely and never duplicates.
SQLite uses the same table: one table per measurement, primary key (tags..., time), UPSERT.
docs/INFLUXDB_SCHEMA.md describes the same mapping for people.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cloud.errors import StorageRejected
from cloud.processing.records import (
    Aggregate,
    Alert,
    AlertState,
    Inspection,
    NodeEvent,
    PredictionPoint,
    Severity,
    TelemetryPoint,
)
from cloud.processing.state_codec import (
    evidence_from_json,
    evidence_to_json,
    history_from_json,
    history_to_json,
)

Precision = Literal["ms", "ns"]
FieldValue = float | int | str | bool
FieldType = Literal["float", "int", "str", "bool"]
Storable = TelemetryPoint | Aggregate | PredictionPoint | Inspection | NodeEvent | Alert

NONE_INT = -1  # stands for "not set" in integer fields (InfluxDB has no null)
NONE_FLOAT = -1.0  # the same for float fields that are never negative


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field: name, storage type and how to read it from the record."""

    name: str
    type: FieldType
    value: Callable[[Any], FieldValue]


@dataclass(frozen=True, slots=True)
class MeasurementSpec:
    """How one record type is stored."""

    record_type: type
    measurement: str
    tags: tuple[tuple[str, Callable[[Any], str]], ...]
    time: Callable[[Any], int]
    precision: Precision
    fields: tuple[FieldSpec, ...]
    index: tuple[str, ...]
    description: str
    version_field: str = ""  # SQLite keeps the row with the highest value of this field

    @property
    def tag_keys(self) -> tuple[str, ...]:
        """Tag names in order."""
        return tuple(name for name, _ in self.tags)

    @property
    def field_keys(self) -> tuple[str, ...]:
        """Field names in order."""
        return tuple(f.name for f in self.fields)


@dataclass(frozen=True, slots=True)
class Row:
    """A storable point: measurement, tags, integer time at a precision, fields."""

    measurement: str
    tags: tuple[tuple[str, str], ...]
    time: int
    precision: Precision
    fields: tuple[tuple[str, FieldValue], ...]


def _f(name: str, kind: FieldType, value: Callable[[Any], FieldValue]) -> FieldSpec:
    return FieldSpec(name, kind, value)


def _alert_fields() -> tuple[FieldSpec, ...]:
    return (
        _f("severity", "str", lambda a: a.severity.label),
        _f("state", "str", lambda a: a.state.value),
        _f("count", "int", lambda a: a.count),
        _f("message", "str", lambda a: a.message),
        _f("episode_start_ms", "int", lambda a: a.episode_start_ms),
        _f("last_raised_ms", "int", lambda a: a.last_raised_ms),
        _f("updated_ms", "int", lambda a: a.updated_ms),
        _f("cleared_ms", "int", lambda a: NONE_INT if a.cleared_ms is None else a.cleared_ms),
        _f(
            "shelved_until_ms",
            "int",
            lambda a: NONE_INT if a.shelved_until_ms is None else a.shelved_until_ms,
        ),
        _f("revision", "int", lambda a: a.revision),
        _f("key", "str", lambda a: a.key),
        _f("evidence_json", "str", lambda a: evidence_to_json(a.evidence)),
        _f("history_json", "str", lambda a: history_to_json(a.history)),
    )


_ALERT_TAGS: tuple[tuple[str, Callable[[Any], str]], ...] = (
    ("alert_id", lambda a: a.alert_id),
    ("source", lambda a: a.source),
    ("kind", lambda a: a.kind),
)

SCHEMA: tuple[MeasurementSpec, ...] = (
    MeasurementSpec(
        TelemetryPoint,
        "telemetry",
        (
            ("machine_id", lambda p: p.machine_id),
            ("metric", lambda p: p.metric),
            ("group", lambda p: p.group),
            ("edge_node", lambda p: p.edge_node),
        ),
        lambda p: p.ts_ms,
        "ms",
        (
            _f("value", "float", lambda p: float(p.value)),
            _f("stale", "bool", lambda p: p.stale),
            _f("historical", "bool", lambda p: p.historical),
            _f("unit", "str", lambda p: p.unit),
        ),
        ("machine_id", "metric"),
        "One sensor sample; identity (machine, metric, group, edge node, event time).",
    ),
    MeasurementSpec(
        Aggregate,
        "telemetry_window",
        (
            ("machine_id", lambda a: a.machine_id),
            ("metric", lambda a: a.metric),
            ("window", lambda a: a.window),
        ),
        lambda a: a.start_ms,
        "ms",
        (
            _f("count", "int", lambda a: a.count),
            _f("mean", "float", lambda a: a.mean),
            _f("min", "float", lambda a: a.min),
            _f("max", "float", lambda a: a.max),
            _f("std", "float", lambda a: a.std),
            _f("end_ms", "int", lambda a: a.end_ms),
            _f("final", "bool", lambda a: a.final),
            _f("window_id", "str", lambda a: a.window_id),
        ),
        ("machine_id", "metric", "window"),
        "Statistics of one event-time window; time is the window start, so a recomputed window overwrites.",
    ),
    MeasurementSpec(
        PredictionPoint,
        "prediction",
        (("machine_id", lambda p: p.machine_id), ("edge_node", lambda p: p.edge_node)),
        lambda p: p.ts_ms,
        "ms",
        (
            _f("probability", "float", lambda p: float(p.probability)),
            _f("fault_type", "str", lambda p: p.fault_type),
            _f("rul_s", "float", lambda p: NONE_FLOAT if p.rul_s is None else float(p.rul_s)),
            _f("model", "str", lambda p: p.model),
            _f("model_version", "str", lambda p: p.model_version),
            _f("line_id", "str", lambda p: p.line_id),
        ),
        ("machine_id",),
        "The fault predictor's output per machine at the event time of the window's last sample.",
    ),
    MeasurementSpec(
        Inspection,
        "detection",
        (
            ("line_id", lambda i: i.line_id),
            ("camera_id", lambda i: i.camera_id),
            ("edge_node", lambda i: i.edge_node),
        ),
        lambda i: i.ts_ms,
        "ms",
        (
            _f("machine_id", "str", lambda i: i.machine_id),
            _f("frame_seq", "int", lambda i: i.frame_seq),
            _f("boxes", "int", lambda i: len(i.boxes)),
            _f("labels", "str", lambda i: ",".join(sorted({b.label for b in i.boxes}))),
            _f("max_score", "float", lambda i: max((b.score for b in i.boxes), default=0.0)),
            _f("model_version", "str", lambda i: i.model_version),
        ),
        ("line_id", "camera_id"),
        "One inspected frame: how many objects and which classes the detector found.",
    ),
    MeasurementSpec(
        NodeEvent,
        "node_status",
        (("group", lambda n: n.group), ("edge_node", lambda n: n.edge_node)),
        lambda n: n.ts_ms,
        "ms",
        (
            _f("event", "str", lambda n: n.kind),
            _f("online", "bool", lambda n: n.kind != "death"),
            _f("bd_seq", "int", lambda n: NONE_INT if n.bd_seq is None else n.bd_seq),
        ),
        ("group", "edge_node"),
        "Sparkplug session events of an edge node (birth, death).",
    ),
    MeasurementSpec(
        Alert,
        "alert",
        _ALERT_TAGS,
        lambda a: a.episode_start_ms,
        "ms",
        _alert_fields(),
        ("alert_id",),
        "The newest revision of each alert episode; time is the episode start.",
        version_field="revision",
    ),
)

# Every revision of every alert: time in ns = updated_ms * 1e6 + revision, unique and ordered.
ALERT_HISTORY = MeasurementSpec(
    Alert,
    "alert_history",
    _ALERT_TAGS,
    lambda a: a.updated_ms * 1_000_000 + a.revision,
    "ns",
    _alert_fields(),
    ("alert_id",),
    "Every emitted revision of every alert, for the audit trail.",
)

MEASUREMENTS: Mapping[str, MeasurementSpec] = {s.measurement: s for s in (*SCHEMA, ALERT_HISTORY)}
_BY_TYPE: Mapping[type, tuple[MeasurementSpec, ...]] = {
    TelemetryPoint: (MEASUREMENTS["telemetry"],),
    Aggregate: (MEASUREMENTS["telemetry_window"],),
    PredictionPoint: (MEASUREMENTS["prediction"],),
    Inspection: (MEASUREMENTS["detection"],),
    NodeEvent: (MEASUREMENTS["node_status"],),
    Alert: (MEASUREMENTS["alert"], ALERT_HISTORY),
}


def specs_for(record_type: type) -> tuple[MeasurementSpec, ...]:
    """How records of one type are stored (an alert: current state and history)."""
    specs = _BY_TYPE.get(record_type)
    if specs is None:
        raise StorageRejected(f"no storage mapping for {record_type.__name__}")
    return specs


def to_rows(record: Storable) -> tuple[Row, ...]:
    """The rows one record is stored as (an alert is two: current state and history)."""
    specs = specs_for(type(record))
    return tuple(
        Row(
            spec.measurement,
            tuple((name, fn(record)) for name, fn in spec.tags),
            int(spec.time(record)),
            spec.precision,
            tuple((f.name, f.value(record)) for f in spec.fields),
        )
        for spec in specs
    )


def rows_of(records: Iterable[Storable]) -> list[Row]:
    """All rows of many records, in order."""
    return [row for record in records for row in to_rows(record)]


# ----------------------------------------------------------------------------- reading back


def _opt(value: Any) -> int | None:
    return None if value is None or int(value) == NONE_INT else int(value)


def alert_from_values(values: Mapping[str, Any]) -> Alert:
    """An alert from its stored tags and fields (either backend)."""
    return Alert(
        alert_id=str(values["alert_id"]),
        source=str(values["source"]),
        kind=str(values["kind"]),
        severity=Severity.parse(str(values["severity"])),
        state=AlertState(str(values["state"])),
        episode_start_ms=int(values["episode_start_ms"]),
        last_raised_ms=int(values["last_raised_ms"]),
        updated_ms=int(values["updated_ms"]),
        count=int(values["count"]),
        message=str(values.get("message") or ""),
        evidence=evidence_from_json(str(values.get("evidence_json") or "[]")),
        cleared_ms=_opt(values.get("cleared_ms")),
        shelved_until_ms=_opt(values.get("shelved_until_ms")),
        history=history_from_json(str(values.get("history_json") or "[]")),
        revision=int(values["revision"]),
        key=str(values.get("key") or ""),
    )


def aggregate_from_values(values: Mapping[str, Any]) -> Aggregate:
    """A window aggregate from its stored tags, time (start, ms) and fields."""
    return Aggregate(
        machine_id=str(values["machine_id"]),
        metric=str(values["metric"]),
        window=str(values["window"]),
        start_ms=int(values["time"]),
        end_ms=int(values["end_ms"]),
        count=int(values["count"]),
        mean=float(values["mean"]),
        min=float(values["min"]),
        max=float(values["max"]),
        std=float(values["std"]),
        window_id=str(values["window_id"]),
        final=bool(values["final"]),
    )


def prediction_from_values(values: Mapping[str, Any]) -> PredictionPoint:
    """A prediction from its stored tags, time (ms) and fields."""
    rul = float(values.get("rul_s", NONE_FLOAT) if values.get("rul_s") is not None else NONE_FLOAT)
    return PredictionPoint(
        machine_id=str(values["machine_id"]),
        ts_ms=int(values["time"]),
        probability=float(values["probability"]),
        fault_type=str(values.get("fault_type") or ""),
        rul_s=None if rul == NONE_FLOAT else rul,
        model=str(values.get("model") or ""),
        model_version=str(values.get("model_version") or ""),
        edge_node=str(values.get("edge_node") or ""),
        line_id=str(values.get("line_id") or ""),
    )
