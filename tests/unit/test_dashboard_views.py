"""Dashboard view models and action rules, pure: health levels, alert lists, charts, fleet, frames."""

from __future__ import annotations

import pytest

from cloud.dashboard.actions import allowed_actions, build_action
from cloud.dashboard.errors import ActionRejected
from cloud.dashboard.frames import FrameRing, frame_from_proto
from cloud.dashboard.plant_reader import CameraSummary, DeviceInfo, NodeSession, is_defective_labels
from cloud.dashboard.views import (
    alert_list,
    downsample,
    duration_text,
    line_defects,
    machine_level,
    machine_tile,
    node_view,
    subject_of,
    tile_readings,
)
from cloud.processing.alert_rules import DefectRateLimits, PredictionRule, ProbabilityThresholds, RangeRule
from cloud.processing.records import ActionKind, Alert, AlertState, PredictionPoint, Severity
from cloud.storage.base import MetricValue
from proto import messages as m

T0 = 1_700_000_000_000
LIMITS = ProbabilityThresholds()  # enter 0.8, exit 0.6, critical band 0.95


def alert(
    state: AlertState = AlertState.ACTIVE, severity: Severity = Severity.WARNING, **kw: object
) -> Alert:
    base = {
        "alert_id": "a1",
        "source": "machine/m1",
        "kind": "prediction",
        "severity": severity,
        "state": state,
        "episode_start_ms": T0,
        "last_raised_ms": T0,
        "updated_ms": T0,
    }
    base.update(kw)
    return Alert(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("probability", "alerts", "has_data", "stale", "level"),
    [
        (0.1, [], True, False, "ok"),
        (0.65, [], True, False, "watch"),
        (0.85, [], True, False, "alarm"),
        (0.97, [], True, False, "critical"),
        (None, [], False, False, "unknown"),
        (0.1, [], True, True, "unknown"),
        (0.1, [alert()], True, False, "alarm"),
        (0.1, [alert(severity=Severity.CRITICAL)], True, False, "critical"),
        (0.1, [alert(AlertState.ACKNOWLEDGED, Severity.CRITICAL)], True, False, "critical"),
        (0.1, [alert(AlertState.SHELVED, Severity.CRITICAL)], True, False, "watch"),
        (0.97, [alert(AlertState.SHELVED)], True, False, "critical"),
        (None, [alert(severity=Severity.INFO)], False, False, "watch"),
    ],
)
def test_machine_level(
    probability: float | None, alerts: list[Alert], has_data: bool, stale: bool, level: str
) -> None:
    assert machine_level(probability, LIMITS, alerts, has_data=has_data, stale=stale) == level


def test_machine_tile_status_is_shape_and_words() -> None:
    device = DeviceInfo("m1", "plant", "edge1", (MetricValue("vibration", T0, 5.0, unit="mm/s"),))
    prediction = PredictionPoint("m1", T0, 0.97, "bearing", rul_s=5400.0, line_id="L1")
    tile = machine_tile("m1", device, prediction, [], PredictionRule(), RangeRule(), {})
    assert (tile.health.level, tile.health.label, tile.health.shape) == ("critical", "CRITICAL", "octagon")
    assert (tile.line_id, tile.fault_type, tile.rul_text) == ("L1", "bearing", "1 h 30 min")
    assert tile.readings[0].limit == "high"


def test_tile_readings_put_metrics_beyond_limits_first() -> None:
    metrics = [
        MetricValue("current", T0, 20.0),
        MetricValue("speed", T0, 1500.0),
        MetricValue("temperature", T0, 85.0),
        MetricValue("vibration", T0, 5.0),
        MetricValue("prediction/fault_probability", T0, 0.3),
    ]
    assert [r.metric for r in tile_readings(metrics, RangeRule())] == ["vibration", "temperature", "speed"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(None, ""), (-1, ""), (40, "40 s"), (720, "12 min"), (19_200, "5 h 20 min"), (190_800, "2 d 5 h")],
)
def test_duration_text(seconds: float | None, text: str) -> None:
    assert duration_text(seconds) == text


@pytest.mark.parametrize(
    ("source", "subject"),
    [
        ("machine/m1", ("machine", "m1", "m1")),
        ("camera/L1/cam1", ("camera", "L1/cam1", None)),
        ("node/plant/edge1", ("node", "plant/edge1", None)),
    ],
)
def test_subject_of(source: str, subject: tuple[str, str, str | None]) -> None:
    assert subject_of(source) == subject


def test_alert_list_orders_by_severity_state_and_time() -> None:
    alerts = [
        alert(alert_id="w-old", updated_ms=T0),
        alert(alert_id="w-new", updated_ms=T0 + 5),
        alert(AlertState.ACKNOWLEDGED, Severity.CRITICAL, alert_id="c-ack"),
        alert(severity=Severity.CRITICAL, alert_id="c-active"),
        alert(AlertState.CLEARED, alert_id="gone"),
    ]
    listed = alert_list(alerts, "open", T0)
    assert [a.alert_id for a in listed.alerts] == ["c-active", "c-ack", "w-new", "w-old"]
    assert listed.by_severity == {"info": 0, "warning": 2, "critical": 2}
    assert [a.alert_id for a in alert_list(alerts, "acknowledged", T0).alerts] == ["c-ack"]
    assert alert_list(alerts, "all", T0).total == 5


@pytest.mark.parametrize(
    ("state", "actions"),
    [
        (AlertState.ACTIVE, ("ack", "note", "shelve", "clear")),
        (AlertState.ACKNOWLEDGED, ("note", "shelve", "clear")),
        (AlertState.SHELVED, ("note", "shelve", "unshelve", "clear")),
        (AlertState.CLEARED, ("ack", "note")),
    ],
)
def test_allowed_actions_follow_the_lifecycle(state: AlertState, actions: tuple[str, ...]) -> None:
    assert tuple(a.value for a in allowed_actions(alert(state))) == actions


def test_build_action() -> None:
    action = build_action(alert(), "shelve", "olga", T0 + 10, shelve_minutes=30)
    assert (action.action, action.who, action.at_ms, action.until_ms) == (
        ActionKind.SHELVE,
        "olga",
        T0 + 10,
        T0 + 10 + 30 * 60_000,
    )
    assert action.request_id
    # never stamped before the revision the operator saw
    assert build_action(alert(updated_ms=T0 + 99), "ack", "olga", T0).at_ms == T0 + 99


@pytest.mark.parametrize(
    ("state", "action", "kw"),
    [
        (AlertState.ACKNOWLEDGED, "ack", {}),
        (AlertState.ACTIVE, "unshelve", {}),
        (AlertState.ACTIVE, "note", {"note": "  "}),
        (AlertState.ACTIVE, "shelve", {}),
        (AlertState.ACTIVE, "shelve", {"shelve_minutes": 5000}),
        (AlertState.CLEARED, "clear", {}),
    ],
)
def test_build_action_refuses(state: AlertState, action: str, kw: dict[str, object]) -> None:
    with pytest.raises(ActionRejected):
        build_action(alert(state), action, "olga", T0, **kw)  # type: ignore[arg-type]


def test_downsample_keeps_extremes_and_order() -> None:
    points = [(i, float(i % 50)) for i in range(10_000)]
    points[5000] = (5000, 999.0)
    out = downsample(points, 200)
    assert len(out) <= 200
    assert (5000, 999.0) in out
    assert [t for t, _ in out] == sorted(t for t, _ in out)
    assert downsample(points[:10], 200) == points[:10]


def test_line_defects_levels() -> None:
    limits = DefectRateLimits()
    cams = [
        CameraSummary("L1", "c1", "e1", 100, 30, T0),
        CameraSummary("L2", "c2", "e1", 100, 12, T0),
        CameraSummary("L3", "c3", "e1", 100, 1, T0),
        CameraSummary("L4", "c4", "e1", 0, 0, T0),
    ]
    assert [(x.line_id, x.health.level) for x in line_defects(cams, limits)] == [
        ("L1", "critical"),
        ("L2", "alarm"),
        ("L3", "ok"),
        ("L4", "unknown"),
    ]


@pytest.mark.parametrize(
    ("session", "alerts", "watermark", "status"),
    [
        (NodeSession("plant", "e1", "birth", T0), [], T0 + 1000, "online"),
        (NodeSession("plant", "e1", "death", T0 + 5000), [], T0 + 5000, "offline"),
        (NodeSession("plant", "e1", "birth", T0), [], T0 + 60_000, "stale"),
        (
            NodeSession("plant", "e1", "birth", T0),
            [alert(kind="node.stale", source="node/plant/e1")],
            T0,
            "stale",
        ),
    ],
)
def test_node_status(session: NodeSession, alerts: list[Alert], watermark: int, status: str) -> None:
    device = DeviceInfo("m1", "plant", "e1", (MetricValue("temperature", T0, 40.0),))
    node = node_view("plant", "e1", session, (), [device], [], [], alerts, watermark, 30_000)
    assert node.status == status
    assert node.health.label == status.upper()


def test_node_view_collects_models_outbox_and_fps() -> None:
    node_metrics = (MetricValue("Outbox/messages", T0, 1250.0),)
    predictions = [PredictionPoint("m1", T0, 0.1, model="fault-lstm", model_version="1.4.0")]
    cameras = [CameraSummary("L1", "cam1", "e1", 50, 2, T0, "2.1.0", 9.5)]
    node = node_view("plant", "e1", None, node_metrics, [], predictions, cameras, [], T0, 30_000)
    assert node.models == {"fault-lstm": "1.4.0", "detector": "2.1.0"}
    assert (node.outbox_depth, node.fps, node.cameras) == (1250.0, 9.5, ["L1/cam1"])


def test_frame_boxes_move_into_the_crop() -> None:
    event = m.DetectionEvent(
        edge_node="e1",
        camera_id="cam1",
        line_id="L1",
        seq=7,
        timestamp_ms=T0,
        image_width=640,
        image_height=480,
        crop_jpeg=b"\xff\xd8jpeg",
        crop_box=m.Box(x1=100, y1=100, x2=300, y2=200),
    )
    event.detections.append(
        m.Detection(class_name="scratch", score=0.9, box=m.Box(x1=150, y1=120, x2=250, y2=170))
    )
    frame = frame_from_proto(event)
    box = frame.boxes[0]
    assert (frame.frame_id, frame.width, frame.height) == ("e1~cam1~7", 200, 100)
    assert (box.x, box.y, box.w, box.h) == pytest.approx((0.25, 0.2, 0.5, 0.5))
    ring = FrameRing(4)
    assert ring.add(frame) is True
    assert ring.find("e1~cam1~7") is frame


@pytest.mark.parametrize(
    ("labels", "score", "defective"),
    [
        (["scratch"], 0.9, True),
        (["ok"], 0.9, False),
        (["ok", "dent"], 0.9, True),
        (["dent"], 0.3, False),
        ([""], 0.9, False),
    ],
)
def test_stored_frame_defectiveness(labels: list[str], score: float, defective: bool) -> None:
    assert is_defective_labels(labels, score, DefectRateLimits()) is defective
