"""InfluxDB storage against the real server: tags, fields, timestamps, idempotent replays, reads back.

Fails (never skips) when InfluxDB is down: the ``stack`` fixture checks it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import replace

import pytest
from stack_settings import StackSettings

from cloud.errors import StorageRejected, StorageUnavailable
from cloud.processing.records import (
    ActionKind,
    ActionRecord,
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
from cloud.retry import RetryPolicy
from cloud.storage.base import InfluxOptions, open_storage
from cloud.storage.influx import InfluxStorage

T0 = 1_700_000_000_000


@pytest.fixture
def influx(stack: StackSettings) -> Iterator[InfluxStorage]:
    options = InfluxOptions(
        url=stack.influx_url,
        token=stack.influx_token,
        org=stack.influx_org,
        bucket=stack.influx_test_bucket,
        batch_size=50,
        retry=RetryPolicy(attempts=3, initial_s=0.2),
    )
    storage = open_storage(stack.influx_url.replace("http://", "influxdb://"), influx=options)
    assert isinstance(storage, InfluxStorage)
    yield storage
    storage.close()


@pytest.fixture
def machine() -> str:
    return f"m-{uuid.uuid4().hex[:10]}"


def raw_rows(influx: InfluxStorage, measurement: str, predicate: str) -> list[dict[str, object]]:
    return influx._rows(measurement, predicate)


def test_points_land_with_tags_fields_and_timestamps(influx: InfluxStorage, machine: str) -> None:
    points = [
        TelemetryPoint(machine, "temperature", T0 + i * 1000, 20.0 + i, "edge1", "plant", "degC")
        for i in range(120)
    ]
    assert influx.write(points) == 120  # three batches of 50
    rows = raw_rows(influx, "telemetry", f'r.machine_id == "{machine}"')
    assert len(rows) == 120
    first = min(rows, key=lambda r: r["time"])  # type: ignore[arg-type, return-value]
    assert first["time"] == T0
    assert {k: first[k] for k in ("machine_id", "metric", "group", "edge_node")} == {
        "machine_id": machine,
        "metric": "temperature",
        "group": "plant",
        "edge_node": "edge1",
    }
    assert (first["value"], first["stale"], first["historical"], first["unit"]) == (
        20.0,
        False,
        False,
        "degC",
    )


def test_replay_overwrites_instead_of_duplicating(influx: InfluxStorage, machine: str) -> None:
    points = [
        TelemetryPoint(machine, "vibration", T0 + i * 100, float(i), "edge1", "plant") for i in range(10)
    ]
    influx.write(points)
    influx.write([replace(p, value=p.value * 10, historical=True) for p in points])  # the outbox replays
    series = influx.series(machine, "vibration", T0, T0 + 10_000)
    assert [(p.ts_ms, p.value) for p in series] == [(T0 + i * 100, float(i * 10)) for i in range(10)]
    assert [p.ts_ms for p in influx.series(machine, "vibration", T0 + 200, T0 + 500)] == [
        T0 + 200,
        T0 + 300,
        T0 + 400,
    ]


def test_latest_state(influx: InfluxStorage, machine: str) -> None:
    influx.write(
        [
            TelemetryPoint(machine, "temperature", T0, 20.0, "edge1", "plant"),
            TelemetryPoint(machine, "temperature", T0 + 5000, 25.0, "edge1", "plant"),
            TelemetryPoint(machine, "current", T0 + 1000, 12.0, "edge1", "plant", stale=True),
            PredictionPoint(
                machine,
                T0 + 2000,
                0.7,
                "bearing",
                rul_s=5000.0,
                model="fault",
                model_version="2",
                edge_node="edge1",
            ),
        ]
    )
    state = influx.latest(machine)
    assert [(m.metric, m.ts_ms, m.value, m.stale) for m in state.metrics] == [
        ("current", T0 + 1000, 12.0, True),
        ("temperature", T0 + 5000, 25.0, False),
    ]
    assert state.prediction is not None
    assert (state.prediction.probability, state.prediction.fault_type, state.prediction.rul_s) == (
        0.7,
        "bearing",
        5000.0,
    )


def test_window_aggregates_round_trip(influx: InfluxStorage, machine: str) -> None:
    agg = Aggregate(
        machine, "temperature", "1m", T0, T0 + 60_000, 60, 21.5, 19.0, 24.0, 1.25, "wid", final=False
    )
    influx.write([agg])
    influx.write([replace(agg, count=61, final=True)])  # the recomputed window overwrites
    assert influx.aggregates(machine, "temperature", "1m", T0, T0 + 1) == [replace(agg, count=61, final=True)]
    assert influx.aggregates(machine, "temperature", "5m/1m", T0, T0 + 1) == []


def test_alerts_current_and_history(influx: InfluxStorage, machine: str) -> None:
    alert_id = f"a-{machine}"
    base = Alert(
        alert_id,
        f"machine/{machine}",
        "prediction",
        Severity.WARNING,
        AlertState.ACTIVE,
        T0,
        T0,
        T0,
        message="up",
        evidence=(("probability", 0.9), ("model", "fault")),
        history=(ActionRecord(ActionKind.RAISE, "system", T0, "up"),),
        key=machine,
    )
    acked = replace(
        base,
        state=AlertState.ACKNOWLEDGED,
        updated_ms=T0 + 10,
        revision=2,
        history=(*base.history, ActionRecord(ActionKind.ACK, "ana", T0 + 10)),
    )
    cleared = replace(acked, state=AlertState.CLEARED, updated_ms=T0 + 20, cleared_ms=T0 + 20, revision=3)
    influx.write([base, acked])
    assert [a for a in influx.alerts() if a.alert_id == alert_id] == [acked]
    influx.write([cleared, cleared])
    assert [a for a in influx.alerts() if a.alert_id == alert_id] == []
    assert [a for a in influx.alerts(open_only=False) if a.alert_id == alert_id] == [cleared]
    assert influx.alert_history(alert_id) == [base, acked, cleared]


def test_detections_and_node_status(influx: InfluxStorage, machine: str) -> None:
    line = f"L-{machine}"
    frame = Inspection(
        line, "cam1", T0, (DetectionBox("scratch", 0.8),), machine_id=machine, edge_node="edge1", frame_seq=3
    )
    influx.write([frame, frame, NodeEvent(line, "edge1", T0, "death", 5)])
    (row,) = raw_rows(influx, "detection", f'r.line_id == "{line}"')
    assert (row["boxes"], row["labels"], row["frame_seq"], row["machine_id"]) == (1, "scratch", 3, machine)
    (node,) = raw_rows(influx, "node_status", f'r.group == "{line}"')
    assert (node["online"], node["bd_seq"], node["event"]) == (False, 5, "death")


def test_bad_token_is_rejected_not_retried(stack: StackSettings) -> None:
    options = InfluxOptions(
        url=stack.influx_url, token="wrong", org=stack.influx_org, bucket=stack.influx_test_bucket
    )
    with InfluxStorage(options) as storage, pytest.raises(StorageRejected, match="401"):
        storage.write([TelemetryPoint("m", "t", T0, 1.0)])


def test_unreachable_server_is_retriable() -> None:
    options = InfluxOptions(
        url="http://127.0.0.1:1", token="t", retry=RetryPolicy(attempts=2, initial_s=0.01)
    )
    with InfluxStorage(options) as storage, pytest.raises(StorageUnavailable) as info:
        storage.write([TelemetryPoint("m", "t", T0, 1.0)])
    assert info.value.retriable
