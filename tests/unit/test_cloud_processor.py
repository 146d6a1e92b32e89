"""The shared processing core: routing, batch invariance and operator actions through the processor."""

from __future__ import annotations

import random

import pytest

from cloud.processing.alert_lifecycle import LifecyclePolicy
from cloud.processing.processor import (
    Event,
    KeyedProcessor,
    KeyState,
    ProcessingConfig,
    Processor,
    StepResult,
    partition_key,
)
from cloud.processing.records import (
    ActionKind,
    Aggregate,
    Alert,
    AlertState,
    DetectionBox,
    Inspection,
    NodeEvent,
    OperatorAction,
    PredictionPoint,
    TelemetryPoint,
)
from cloud.processing.windows import WindowSpec

CONFIG = ProcessingConfig(
    windows=(WindowSpec.tumbling("10s", "1s"), WindowSpec.hopping("20s", "10s")),
    lifecycle=LifecyclePolicy(update_interval_ms=5_000),
)


@pytest.mark.parametrize(
    ("event", "key"),
    [
        (TelemetryPoint("m1", "temperature", 0, 1.0), "m1"),
        (PredictionPoint("m2", 0, 0.1, "bearing"), "m2"),
        (Inspection("L1", "cam1", 0, machine_id="m3"), "m3"),
        (Inspection("L1", "cam1", 0), "camera/L1/cam1"),
        (NodeEvent("plant", "edge1", 0, "birth"), "node/plant/edge1"),
    ],
)
def test_partition_key(event: TelemetryPoint | PredictionPoint | Inspection | NodeEvent, key: str) -> None:
    assert partition_key(event) == key


def scenario(seed: int = 3) -> list[TelemetryPoint | PredictionPoint | Inspection | NodeEvent]:
    """Two machines drifting hot and failing, a camera with a defect burst, a node that dies."""
    rng = random.Random(seed)
    events: list[TelemetryPoint | PredictionPoint | Inspection | NodeEvent] = [
        NodeEvent("plant", "edge1", 0, "birth", 0)
    ]
    for step in range(200):
        ts = step * 500
        for machine, drift in (("m1", 0.5), ("m2", 0.1)):
            temperature = 60.0 + drift * step * 0.5 + rng.gauss(0, 1.0)
            events.append(TelemetryPoint(machine, "temperature", ts + rng.randint(-800, 0), temperature))
            events.append(TelemetryPoint(machine, "vibration", ts, 2.0 + rng.random()))
            if step % 4 == 0:
                p = min(1.0, max(0.0, drift * step / 60 + rng.gauss(0, 0.05)))
                events.append(PredictionPoint(machine, ts, p, "bearing"))
        bad = 60 <= step < 90 and step % 2 == 0
        boxes = (DetectionBox("scratch", 0.9),) if bad else (DetectionBox("part", 0.99),)
        events.append(Inspection("L1", "cam1", ts, boxes, machine_id="m1"))
    events.append(NodeEvent("plant", "edge1", 99_000, "death", 0))
    return events


def run_batched(
    events: list[TelemetryPoint | PredictionPoint | Inspection | NodeEvent], batch: int
) -> StepResult:
    host = KeyedProcessor(Processor(CONFIG))
    result = StepResult()
    for start in range(0, len(events), batch):
        result = result + host.process(events[start : start + batch])
    return result


def test_scenario_raises_the_expected_alerts() -> None:
    result = run_batched(scenario(), 1_000)
    kinds = {(a.source, a.kind) for a in result.alerts}
    assert ("machine/m1", "range.temperature") in kinds
    assert ("machine/m1", "prediction") in kinds
    assert ("camera/L1/cam1", "defect_rate") in kinds
    assert ("node/plant/edge1", "node.offline") in kinds
    assert ("machine/m2", "range.temperature") not in kinds
    assert all(a.key for a in result.alerts)
    assert {a.key for a in result.alerts if a.source.startswith("camera/")} == {"m1"}
    assert len(result.aggregates) > 0


@pytest.mark.parametrize("batch", [1, 13, 250])
def test_same_alerts_and_aggregates_whatever_the_batching(batch: int) -> None:
    events = scenario()
    reference = run_batched(events, len(events))
    got = run_batched(events, batch)

    def order(result: StepResult) -> tuple[list[Alert], list[Aggregate]]:
        return (
            sorted(result.alerts, key=lambda a: (a.alert_id, a.revision)),
            sorted(result.aggregates, key=lambda a: (a.window_id, a.end_ms)),
        )

    assert order(got) == order(reference)


def test_operator_action_through_the_processor_and_rejection() -> None:
    host = KeyedProcessor(Processor(CONFIG))
    raised = host.process([PredictionPoint("m1", 1_000, 0.9, "bearing")]).alerts[0]
    found = host.find_alert(raised.alert_id)
    assert found is not None
    assert found.key == "m1"
    acked = host.act("m1", OperatorAction(raised.alert_id, ActionKind.ACK, "ana", 2_000))
    assert [a.state for a in acked.alerts] == [AlertState.ACKNOWLEDGED]
    bad = host.act("m1", OperatorAction("nope", ActionKind.ACK, "ana", 2_000))
    assert bad.alerts == ()
    assert len(bad.rejected) == 1
    assert "no alert" in bad.rejected[0][1]


def test_shelve_expires_with_event_time_of_the_key() -> None:
    host = KeyedProcessor(Processor(CONFIG))
    raised = host.process([PredictionPoint("m1", 1_000, 0.9, "bearing")]).alerts[0]
    host.act("m1", OperatorAction(raised.alert_id, ActionKind.SHELVE, "ana", 1_500, until_ms=10_000))
    quiet = host.process([PredictionPoint("m1", 9_000, 0.9, "bearing")])
    assert quiet.alerts == ()
    back = host.process([PredictionPoint("m1", 10_500, 0.9, "bearing")])
    assert [a.state for a in back.alerts] == [AlertState.ACTIVE]


def test_tick_makes_a_silent_node_stale() -> None:
    host = KeyedProcessor(Processor(CONFIG))
    host.process([NodeEvent("plant", "edge1", 0, "birth", 0)])
    assert host.tick(10_000).alerts == ()
    (stale,) = host.tick(40_000).alerts
    assert (stale.kind, stale.key) == ("node.stale", "node/plant/edge1")


def test_step_keeps_the_positions_and_flush_returns_open_windows() -> None:
    processor = Processor(CONFIG)
    events: list[Event] = [TelemetryPoint("m1", "temperature", 1_000, 50.0)]
    state, _ = processor.step("m1", KeyState(positions={"t": 41}), events)
    assert state.positions == {"t": 41}
    assert [a.final for a in processor.flush(state)] == [False, False, False]
