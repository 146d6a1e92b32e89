"""The InfluxDB writer's line protocol: the same text as influxdb-client's ``Point`` for every row.

``cloud.storage.influx.line`` replaced ``Point`` objects on the worker's hot path (bench/cloud_e2e.py);
``Point`` stays the reference here, so escaping, field types and precision cannot drift from it.
"""

from __future__ import annotations

import pytest

from cloud.processing.records import (
    Aggregate,
    Alert,
    AlertState,
    DetectionBox,
    Inspection,
    NodeEvent,
    PredictionPoint,
    Severity,
    TelemetryPoint,
)
from cloud.storage.influx import line, lines
from cloud.storage.schema import Row, Storable, rows_of


def reference(row: Row) -> str:
    """What influxdb-client writes for the row (empty tag values left out, as the writer always did)."""
    from influxdb_client import Point, WritePrecision

    point = Point(row.measurement)
    for key, value in row.tags:
        if value:
            point.tag(key, value)
    for key, value in row.fields:
        point.field(key, value)
    precision = WritePrecision.NS if row.precision == "ns" else WritePrecision.MS
    return str(point.time(row.time, precision).to_line_protocol())


ODD_ROWS = [
    Row("plain", (("a", "1"),), 5, "ms", (("value", 1.5),)),
    Row("a b,c", (("t 1", "x,y=z"), ("empty", ""), ("b", "ends\\")), 7, "ns", (("s", 'q"uo\\te'),)),
    Row("m", (), 1, "ms", (("nan", float("nan")), ("inf", float("inf")), ("whole", 3.0), ("tiny", 1.25e-7))),
    Row("m", (("z", "1"), ("a", "2")), 1, "ms", (("i", -3), ("yes", True), ("no", False), ("neg0", -0.0))),
    Row("m", (), 1, "ms", (("big", 1e21), ("line", "a\nb\tc"))),
    Row("only-nan", (("k", "v"),), 1, "ms", (("value", float("nan")),)),
]


@pytest.mark.parametrize("row", ODD_ROWS, ids=lambda r: r.measurement)
def test_odd_rows_match_influxdb_client(row: Row) -> None:
    assert line(row) == reference(row)


def test_every_measurement_of_the_schema_matches_influxdb_client() -> None:
    t = 1_700_000_000_000
    alert = Alert(
        alert_id="a1",
        source="machine:press 1",
        kind="range.temperature",
        severity=Severity.WARNING,
        state=AlertState.ACTIVE,
        message='temperature "high", 95°C',
        episode_start_ms=t,
        last_raised_ms=t,
        updated_ms=t,
        revision=1,
        key="press 1",
        evidence=(("value", 95.0), ("unit", "degC")),
    )
    records: list[Storable] = [
        TelemetryPoint("press 1", "temperature", t, 95.0, edge_node="edge1", group="g", unit="degC"),
        TelemetryPoint("press,2", "motor/current", t, 12.0, edge_node="", group="g"),
        Aggregate("press 1", "temperature", "1m", t, t + 60_000, 60, 70.0, 60.0, 80.0, 2.5, "w1", final=True),
        PredictionPoint("press 1", t, 0.9, fault_type="bearing", rul_s=None, edge_node="edge1"),
        Inspection("L1", "cam 1", t, (DetectionBox("scratch", 0.9),), machine_id="press 1", frame_seq=4),
        NodeEvent("g", "edge1", t, "birth", 3),
        alert,
    ]
    rows = rows_of(records)
    assert {r.measurement for r in rows} >= {"telemetry", "telemetry_window", "prediction", "alert"}
    for row in rows:
        assert line(row) == reference(row)
    by_precision: dict[str, list[str]] = {}
    for row in rows:
        by_precision.setdefault(row.precision, []).append(reference(row))
    assert lines(records) == by_precision


def test_lines_of_records_are_the_lines_of_their_rows() -> None:
    t = 1_700_000_000_000
    records: list[Storable] = [
        TelemetryPoint("press 1", "temperature", t + i, 60.0 + i, edge_node="edge1", group="g")
        for i in range(5)
    ]
    records.append(NodeEvent("g", "edge1", t, "death", None))
    expected: dict[str, list[str]] = {}
    for row in rows_of(records):
        expected.setdefault(row.precision, []).append(line(row))
    assert lines(records) == expected
