"""The plant readers (SQLite for real, InfluxDB against a fake query API) and the pipeline links' records."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from cloud.dashboard.influx_reader import InfluxPlantReader
from cloud.dashboard.kafka_link import action_record, live_event
from cloud.dashboard.plant_reader import open_plant_reader
from cloud.dashboard.sqlite_reader import SqlitePlantReader
from cloud.dashboard.storage_link import StorageWatch
from cloud.errors import ConfigError
from cloud.processing.alert_rules import DefectRateLimits
from cloud.processing.records import (
    ActionKind,
    Alert,
    AlertState,
    DetectionBox,
    Inspection,
    NodeEvent,
    OperatorAction,
    PredictionPoint,
    Severity,
    TelemetryPoint,
)
from cloud.proto_mapping import alert_to_proto
from cloud.storage.base import InfluxOptions
from cloud.storage.sqlite import SqliteStorage
from proto import kafka
from proto import messages as m
from proto.codec import decode, encode

T0 = 1_700_000_000_000


@pytest.fixture
def db(tmp_path: Path) -> SqliteStorage:
    storage = SqliteStorage(tmp_path / "cloud.db")
    records: list[Any] = [NodeEvent("plant", "e1", T0, "birth", 3), NodeEvent("plant", "e2", T0, "birth", 1)]
    for i in range(50):
        ts = T0 + i * 1000
        records += [
            TelemetryPoint("m1", "temperature", ts, 40.0 + i, "e1", "plant", "degC"),
            TelemetryPoint("m1", "vibration", ts, 2.0, "e1", "plant", "mm/s"),
            TelemetryPoint("e1", "Outbox/messages", ts, float(i), "e1", "plant"),
            TelemetryPoint("cam1", "frames/processed", ts, float(i * 10), "e1", "plant"),
            PredictionPoint("m1", ts, i / 50, "bearing", 3600.0, "lstm", "1.0", "e1", "plant", "L1"),
            Inspection(
                "L1",
                "cam1",
                ts,
                (DetectionBox("scratch" if i % 5 == 0 else "ok", 0.9),),
                "",
                "e1",
                "plant",
                i,
                "2.0",
            ),
        ]
    records.append(NodeEvent("plant", "e2", T0 + 9000, "death", 1))
    storage.write(records)
    return storage


def test_sqlite_reader_enumerates_the_plant(db: SqliteStorage) -> None:
    reader = SqlitePlantReader(db.path)
    devices = {d.device_id: d for d in reader.devices()}
    assert {k: d.kind for k, d in devices.items()} == {"cam1": "camera", "e1": "node", "m1": "machine"}
    newest = {mv.metric: mv.value for mv in devices["m1"].metrics}
    assert newest == {"temperature": 89.0, "vibration": 2.0}
    assert devices["m1"].updated_ms == T0 + 49_000
    latest = reader.latest_prediction("m1")
    assert latest is not None
    assert (latest.ts_ms, latest.line_id) == (T0 + 49_000, "L1")
    assert [p.ts_ms for p in reader.predictions("m1", T0 + 10_000, T0 + 13_000)] == [
        T0 + 10_000,
        T0 + 11_000,
        T0 + 12_000,
    ]
    sessions = {(s.edge_node, s.online) for s in reader.sessions()}
    assert sessions == {("e1", True), ("e2", False)}
    (camera,) = reader.cameras(20_000, DefectRateLimits())
    assert (camera.line_id, camera.inspected, camera.defective, camera.model_version) == ("L1", 20, 4, "2.0")
    assert camera.fps == pytest.approx(1.0)
    assert reader.latest_prediction("nope") is None
    reader.close()


def test_sqlite_reader_before_the_pipeline_wrote_anything(tmp_path: Path) -> None:
    reader = SqlitePlantReader(tmp_path / "missing.db")
    assert (reader.devices(), reader.sessions(), reader.cameras(1000, DefectRateLimits())) == ([], [], [])


def test_open_plant_reader_by_url(tmp_path: Path) -> None:
    assert isinstance(open_plant_reader(f"sqlite:///{tmp_path / 'x.db'}"), SqlitePlantReader)
    with pytest.raises(ConfigError):
        open_plant_reader("sqlite://:memory:")
    with pytest.raises(ConfigError):
        open_plant_reader("mongodb://x")


class FakeRecord:
    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values


class FakeTable:
    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.records = [FakeRecord(r) for r in rows]


class FakeQueryApi:
    """Answers Flux by measurement, and remembers the queries."""

    def __init__(self, rows: dict[str, list[dict[str, Any]]]) -> None:
        self.rows = rows
        self.queries: list[str] = []

    def query(self, flux: str, org: str) -> list[FakeTable]:
        self.queries.append(flux)
        for measurement, rows in self.rows.items():
            if f'r._measurement == "{measurement}"' in flux:
                return [FakeTable([dict(r) for r in rows])]
        return []


def _t(ms: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)


def test_influx_reader_maps_rows() -> None:
    fake = FakeQueryApi(
        {
            "telemetry": [
                {
                    "_time": _t(T0),
                    "machine_id": "m1",
                    "metric": "temperature",
                    "group": "plant",
                    "edge_node": "e1",
                    "value": 41.0,
                    "stale": False,
                    "unit": "degC",
                },
                {
                    "_time": _t(T0 + 5),
                    "machine_id": "e1",
                    "metric": "Outbox/messages",
                    "group": "plant",
                    "edge_node": "e1",
                    "value": 7.0,
                },
            ],
            "prediction": [
                {
                    "_time": _t(T0),
                    "machine_id": "m1",
                    "edge_node": "e1",
                    "probability": 0.9,
                    "fault_type": "bearing",
                    "rul_s": -1.0,
                }
            ],
            "node_status": [
                {"_time": _t(T0), "group": "plant", "edge_node": "e1", "event": "death", "bd_seq": 2}
            ],
        }
    )
    reader = InfluxPlantReader(InfluxOptions(bucket="b"), query_api=fake)
    devices = {d.device_id: d for d in reader.devices()}
    assert (devices["m1"].kind, devices["e1"].kind) == ("machine", "node")
    prediction = reader.latest_prediction("m1")
    assert prediction is not None
    assert (prediction.probability, prediction.rul_s) == (0.9, None)
    assert [(s.edge_node, s.online, s.bd_seq) for s in reader.sessions()] == [("e1", False, 2)]
    assert all('from(bucket: "b")' in q for q in fake.queries)
    assert any("|> last()" in q for q in fake.queries)


def test_action_record_for_the_worker() -> None:
    action = OperatorAction("a1", ActionKind.SHELVE, "olga", T0, "wait for the fitter", T0 + 60_000, "req-1")
    record = action_record(action, "site1")
    assert record.topic == "site1." + kafka.ALERT_ACTIONS
    assert record.key == b"a1"
    decoded = decode(m.AlertAction, record.value)
    assert (decoded.alert_id, decoded.operator, decoded.until_ms, decoded.request_id) == (
        "a1",
        "olga",
        T0 + 60_000,
        "req-1",
    )
    assert dict(record.headers)[kafka.HEADER_SCHEMA] == b"iiot.v1.AlertAction"


def test_live_event_decodes_alerts_and_frames() -> None:
    alert = Alert(
        "a1", "machine/m1", "prediction", Severity.CRITICAL, AlertState.ACTIVE, T0, T0, T0, key="m1"
    )
    decoded = live_event(kafka.ALERTS, encode(alert_to_proto(alert)))
    assert isinstance(decoded, Alert)
    assert (decoded.alert_id, decoded.severity, decoded.source) == ("a1", Severity.CRITICAL, "machine/m1")
    frame = live_event(
        kafka.DETECTIONS,
        encode(m.DetectionEvent(edge_node="e1", camera_id="c1", seq=3, image_width=64, image_height=48)),
    )
    assert frame is not None
    assert live_event(kafka.ALERTS, b"\xff\xff not protobuf") is None
    assert live_event("other-topic", b"") is None


async def test_storage_watch_emits_changed_and_cleared_alerts(tmp_path: Path) -> None:
    storage = SqliteStorage(tmp_path / "w.db")
    first = Alert("a1", "machine/m1", "prediction", Severity.WARNING, AlertState.ACTIVE, T0, T0, T0)
    storage.write([first])
    watch = StorageWatch(storage, interval_s=0.01)
    events = watch.events()
    pending = asyncio.ensure_future(anext(events))
    await asyncio.sleep(0.05)
    acked = replace(first, state=AlertState.ACKNOWLEDGED, revision=2, updated_ms=T0 + 1)
    storage.write([acked])
    got = await asyncio.wait_for(pending, 2)
    assert isinstance(got, Alert)
    assert got.state is AlertState.ACKNOWLEDGED
    storage.write(
        [replace(acked, state=AlertState.CLEARED, revision=3, updated_ms=T0 + 2, cleared_ms=T0 + 2)]
    )
    cleared = await asyncio.wait_for(anext(events), 2)
    assert isinstance(cleared, Alert)
    assert cleared.state is AlertState.CLEARED
    watch.close()
    await events.aclose()
