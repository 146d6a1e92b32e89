"""The storage schema table and the SQLite backend: idempotent writes and the reads the dashboard needs."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cloud.errors import ConfigError, StorageRejected
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
from cloud.storage.base import StorageReader, TelemetrySink, open_storage
from cloud.storage.schema import MEASUREMENTS, SCHEMA, Storable, to_rows
from cloud.storage.sqlite import SqliteStorage

T0 = 1_700_000_000_000


def alert(revision: int, state: AlertState = AlertState.ACTIVE, updated: int = T0, **kw: object) -> Alert:
    base = Alert(
        alert_id="a1",
        source="machine/m1",
        kind="prediction",
        severity=Severity.WARNING,
        state=state,
        episode_start_ms=T0,
        last_raised_ms=T0,
        updated_ms=updated,
        count=revision,
        message="bearing predicted",
        evidence=(("probability", 0.9), ("model_version", "3")),
        history=(ActionRecord(ActionKind.RAISE, "system", T0, "up"),),
        revision=revision,
        key="m1",
    )
    from dataclasses import replace

    return replace(base, **kw)  # type: ignore[arg-type]


AGG = Aggregate("m1", "temperature", "1m", T0, T0 + 60_000, 3, 2.0, 1.0, 3.0, 1.0, "w1")


@pytest.mark.parametrize(
    ("record", "measurement", "tags", "time"),
    [
        (
            TelemetryPoint("m1", "temperature", T0, 21.5, "edge1", "plant"),
            "telemetry",
            {"machine_id": "m1", "metric": "temperature", "group": "plant", "edge_node": "edge1"},
            T0,
        ),
        (AGG, "telemetry_window", {"machine_id": "m1", "metric": "temperature", "window": "1m"}, T0),
        (
            PredictionPoint("m1", T0, 0.4, edge_node="edge1"),
            "prediction",
            {"machine_id": "m1", "edge_node": "edge1"},
            T0,
        ),
        (
            Inspection("L1", "cam1", T0, edge_node="edge1"),
            "detection",
            {"line_id": "L1", "camera_id": "cam1", "edge_node": "edge1"},
            T0,
        ),
        (
            NodeEvent("plant", "edge1", T0, "death", 3),
            "node_status",
            {"group": "plant", "edge_node": "edge1"},
            T0,
        ),
        (alert(2), "alert", {"alert_id": "a1", "source": "machine/m1", "kind": "prediction"}, T0),
    ],
)
def test_schema_maps_identity_to_tags_and_time(
    record: Storable, measurement: str, tags: dict[str, str], time: int
) -> None:
    row = to_rows(record)[0]
    assert row.measurement == measurement
    assert dict(row.tags) == tags
    assert row.time == time
    spec = MEASUREMENTS[measurement]
    assert [k for k, _ in row.fields] == list(spec.field_keys)
    assert all(v is not None for _, v in row.fields)


def test_alert_is_stored_twice_with_unique_history_time() -> None:
    current, history = to_rows(alert(3, updated=T0 + 5))
    assert (current.measurement, history.measurement) == ("alert", "alert_history")
    assert history.precision == "ns"
    assert history.time == (T0 + 5) * 1_000_000 + 3


def test_schema_has_no_flag_or_reading_in_tags() -> None:
    for spec in SCHEMA:
        assert not {"value", "stale", "historical", "state", "severity", "revision"} & set(spec.tag_keys)


def test_unknown_record_is_rejected() -> None:
    with pytest.raises(StorageRejected):
        to_rows("nope")  # type: ignore[arg-type]


@pytest.fixture
def db(tmp_path: Path) -> Iterator[SqliteStorage]:
    storage = SqliteStorage(tmp_path / "iiot.db")
    yield storage
    storage.close()


def test_is_a_sink_and_a_reader(db: SqliteStorage) -> None:
    assert isinstance(db, TelemetrySink)
    assert isinstance(db, StorageReader)


def test_wal_mode(db: SqliteStorage) -> None:
    assert db._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_replay_overwrites_instead_of_duplicating(db: SqliteStorage) -> None:
    points = [
        TelemetryPoint("m1", "temperature", T0 + i * 1000, 20.0 + i, "edge1", "plant") for i in range(5)
    ]
    assert db.write(points) == 5
    replayed = [TelemetryPoint("m1", "temperature", T0 + 1000, 99.0, "edge1", "plant", historical=True)]
    db.write(replayed)
    got = db.series("m1", "temperature", T0, T0 + 10_000)
    assert [(p.ts_ms, p.value) for p in got] == [
        (T0, 20.0),
        (T0 + 1000, 99.0),
        (T0 + 2000, 22.0),
        (T0 + 3000, 23.0),
        (T0 + 4000, 24.0),
    ]
    assert db.series("m1", "temperature", T0 + 1000, T0 + 3000)[-1].ts_ms == T0 + 2000


def test_latest_machine_state(db: SqliteStorage) -> None:
    db.write(
        [
            TelemetryPoint("m1", "temperature", T0, 20.0, unit="degC"),
            TelemetryPoint("m1", "temperature", T0 + 2000, 22.0, unit="degC"),
            TelemetryPoint("m1", "vibration", T0 + 1000, 3.0, stale=True),
            TelemetryPoint("m2", "temperature", T0 + 9000, 50.0),
            PredictionPoint("m1", T0 + 500, 0.2, "bearing", rul_s=3600.0, model_version="3"),
            PredictionPoint("m1", T0 + 1500, 0.3, "bearing"),
        ]
    )
    state = db.latest("m1")
    assert [(m.metric, m.ts_ms, m.value, m.stale, m.unit) for m in state.metrics] == [
        ("temperature", T0 + 2000, 22.0, False, "degC"),
        ("vibration", T0 + 1000, 3.0, True, ""),
    ]
    assert state.prediction is not None
    assert (state.prediction.ts_ms, state.prediction.probability, state.prediction.rul_s) == (
        T0 + 1500,
        0.3,
        None,
    )
    assert state.updated_ms == T0 + 2000
    assert db.latest("nobody").metrics == ()


def test_aggregates_round_trip_and_overwrite(db: SqliteStorage) -> None:
    from dataclasses import replace

    db.write(
        [replace(AGG, final=False, count=2), AGG, replace(AGG, start_ms=T0 + 60_000, end_ms=T0 + 120_000)]
    )
    db.write([AGG])
    got = db.aggregates("m1", "temperature", "1m", T0, T0 + 60_000)
    assert got == [AGG]
    assert len(db.aggregates("m1", "temperature", "1m", 0, T0 * 2)) == 2
    assert db.aggregates("m1", "temperature", "5m/1m", 0, T0 * 2) == []


def test_alerts_keep_the_newest_revision_and_every_revision_in_history(db: SqliteStorage) -> None:
    db.write([alert(1)])
    db.write([alert(3, AlertState.ACKNOWLEDGED, T0 + 30)])
    db.write([alert(2, updated=T0 + 20)])  # late, older revision: history only
    (current,) = db.alerts()
    assert (current.revision, current.state) == (3, AlertState.ACKNOWLEDGED)
    assert current == alert(3, AlertState.ACKNOWLEDGED, T0 + 30)
    assert [a.revision for a in db.alert_history("a1")] == [1, 2, 3]
    db.write([alert(4, AlertState.CLEARED, T0 + 40, cleared_ms=T0 + 40)])
    assert db.alerts() == []
    (cleared,) = db.alerts(open_only=False)
    assert cleared.cleared_ms == T0 + 40
    db.write([alert(4, AlertState.CLEARED, T0 + 40, cleared_ms=T0 + 40)])
    assert len(db.alert_history("a1")) == 4


def test_detections_and_node_status_are_stored(db: SqliteStorage) -> None:
    frame = Inspection(
        "L1", "cam1", T0, (DetectionBox("scratch", 0.8), DetectionBox("dent", 0.6)), frame_seq=7
    )
    assert db.write([frame, frame, NodeEvent("plant", "edge1", T0, "birth", 1)]) == 3
    row = db._db.execute("SELECT boxes, labels, max_score, frame_seq FROM detection").fetchall()
    assert [tuple(r) for r in row] == [(2, "dent,scratch", pytest.approx(0.8), 7)]
    assert db._db.execute("SELECT count(*) FROM node_status").fetchone()[0] == 1


def test_empty_write(db: SqliteStorage) -> None:
    assert db.write([]) == 0


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite://:memory:", ":memory:"),
        ("sqlite://", ":memory:"),
        ("sqlite:///var/x.db", "var/x.db"),
    ],
)
def test_open_storage_sqlite_urls(
    url: str, path: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    storage = open_storage(url)
    assert isinstance(storage, SqliteStorage)
    assert storage.path == path
    storage.close()


def test_open_storage_absolute_path(tmp_path: Path) -> None:
    storage = open_storage(f"sqlite:///{tmp_path}/iiot.db")
    assert isinstance(storage, SqliteStorage)
    assert storage.path == f"{tmp_path}/iiot.db"
    storage.close()


def test_open_storage_rejects_unknown_scheme() -> None:
    with pytest.raises(ConfigError):
        open_storage("mysql://db")
