"""The pipeline core both hosts call, and the embedded runner, without any broker."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from cloud.bridge.edge_feed import EdgeNodeScript
from cloud.bridge.normalize import Normalizer
from cloud.bus_records import BusRecord
from cloud.embedded.runner import EmbeddedRunner
from cloud.pipeline import CONTROL, Inbound, PipelineCore, action_record, group_by_key
from cloud.processing.alert_lifecycle import LifecyclePolicy
from cloud.processing.processor import KeyState, ProcessingConfig, Processor
from cloud.processing.records import ActionKind, Alert, AlertState, OperatorAction
from cloud.processing.windows import WindowSpec
from cloud.proto_mapping import action_to_proto, alert_from_proto
from cloud.storage.sqlite import SqliteStorage
from proto import kafka
from proto import messages as m
from proto.codec import decode

T0 = 1_700_000_000_000
CONFIG = ProcessingConfig(
    windows=(WindowSpec.tumbling("10s"),), lifecycle=LifecyclePolicy(update_interval_ms=5_000)
)


def scenario() -> list[tuple[str, bytes]]:
    """A press that overheats and is predicted to fail, a camera with a defect burst, a node that dies."""
    node = EdgeNodeScript(
        "plant", "edge1", {"press1": {"temperature": 20.0, "prediction/fault_probability": 0.0}}
    )
    messages = list(node.birth(T0))
    for i in range(1, 120):
        ts = T0 + i * 1000
        temperature = 60.0 + (40.0 if 40 <= i < 70 else 0.0)
        probability = 0.9 if 50 <= i < 80 else 0.1
        messages.append(
            node.data("press1", {"temperature": temperature, "prediction/fault_probability": probability}, ts)
        )
        boxes = [("scratch", 0.9)] if 20 <= i < 50 and i % 2 else [("part", 0.95)]
        messages.append(node.detection("cam1", ts, i, boxes, machine="press1"))
    messages.append(node.death())
    return messages


def normalized(messages: list[tuple[str, bytes]]) -> list[BusRecord]:
    normalizer = Normalizer()
    return [r for t, p in messages for r in normalizer.handle(t, p, T0).records]


def as_kafka(records: list[BusRecord]) -> Iterator[Inbound]:
    """The records with per-topic offsets, as a Kafka consumer would see them."""
    offsets: dict[str, int] = {}
    for r in records:
        offsets[r.topic] = offsets.get(r.topic, -1) + 1
        yield Inbound(r.topic, r.key, r.value, offsets[r.topic], r.headers)


def run_core(inbound: list[Inbound], batch: int) -> tuple[dict[str, KeyState], list[Alert]]:
    core = PipelineCore(Processor(CONFIG))
    states: dict[str, KeyState] = {}
    alerts: list[Alert] = []
    for start in range(0, len(inbound), batch):
        for key, items in group_by_key(inbound[start : start + batch]).items():
            states[key], outcome = core.apply(key, states.get(key, KeyState()), items)
            alerts.extend(outcome.alerts)
    return states, alerts


def summary(alerts: list[Alert]) -> list[tuple[str, str, str, int]]:
    return sorted((a.alert_id, a.kind, a.state.value, a.revision) for a in alerts)


def test_scenario_alerts() -> None:
    _, alerts = run_core(list(as_kafka(normalized(scenario()))), 64)
    kinds = {(a.source, a.kind, a.state.value) for a in alerts}
    assert {
        ("machine/press1", "range.temperature", "active"),
        ("machine/press1", "range.temperature", "cleared"),
        ("machine/press1", "prediction", "active"),
        ("machine/press1", "prediction", "cleared"),
        ("camera/L1/cam1", "defect_rate", "active"),
        ("camera/L1/cam1", "defect_rate", "cleared"),
        ("node/plant/edge1", "node.offline", "active"),
    } <= kinds
    assert len({a.alert_id for a in alerts if a.kind == "prediction"}) == 1  # one episode, raised once


def test_replayed_records_are_skipped_and_change_nothing() -> None:
    inbound = list(as_kafka(normalized(scenario())))
    states, _alerts = run_core(inbound, 50)
    core = PipelineCore(Processor(CONFIG))
    for key, items in group_by_key(inbound[100:300]).items():
        again, outcome = core.apply(key, states[key], items)
        assert again == states[key]
        assert outcome.alerts == ()
        assert outcome.skipped == len(items)


def test_embedded_runner_equals_the_kafka_path() -> None:
    messages = scenario()
    _, via_kafka = run_core(list(as_kafka(normalized(messages))), 37)
    runner = EmbeddedRunner(PipelineCore(Processor(CONFIG)), SqliteStorage())
    embedded: list[Alert] = []
    for start in range(0, len(messages), 11):
        embedded.extend(runner.handle(messages[start : start + 11], T0).alerts)
    assert summary(embedded) == summary(via_kafka)
    assert embedded
    assert sorted(embedded, key=lambda a: (a.alert_id, a.revision)) == sorted(
        via_kafka, key=lambda a: (a.alert_id, a.revision)
    )


def test_embedded_runner_stores_everything_and_takes_operator_actions() -> None:
    storage = SqliteStorage()
    runner = EmbeddedRunner(PipelineCore(Processor(CONFIG)), storage)
    runner.handle(scenario()[:120], T0)
    state = storage.latest("press1")
    assert {mv.metric for mv in state.metrics} == {"temperature"}
    assert state.prediction is not None
    assert storage.aggregates("press1", "temperature", "10s", T0, T0 + 60_000)
    (hot,) = [a for a in storage.alerts() if a.kind == "range.temperature"]
    result = runner.act(OperatorAction(hot.alert_id, ActionKind.ACK, "ana", T0 + 61_000, request_id="r1"))
    assert [a.state for a in result.alerts] == [AlertState.ACKNOWLEDGED]
    assert next(a for a in storage.alerts() if a.alert_id == hot.alert_id).state is AlertState.ACKNOWLEDGED
    assert [h.who for h in storage.alert_history(hot.alert_id)[-1].history] == ["system", "ana"]


def test_embedded_tick_makes_a_silent_node_stale() -> None:
    runner = EmbeddedRunner(PipelineCore(Processor(CONFIG)), SqliteStorage())
    node = EdgeNodeScript("plant", "edge9", {"m9": {"speed": 1.0}})
    runner.handle(node.birth(T0), T0)
    (stale,) = runner.tick(T0 + 60_000).alerts
    assert (stale.kind, stale.source) == ("node.stale", "node/plant/edge9")


def test_bad_records_and_rejected_actions_become_dead_letters() -> None:
    core = PipelineCore(Processor(CONFIG))
    bad_action = action_record("press1", action_to_proto(OperatorAction("nope", ActionKind.ACK, "ana", T0)))
    records = [
        Inbound(kafka.TELEMETRY, b"press1", b"\xff\xff", 0),
        Inbound(kafka.PREDICTIONS, b"press1", m.Prediction().SerializeToString(), 0),
        Inbound(CONTROL, b"press1", bad_action.value, 0, bad_action.headers),
        Inbound("elsewhere", b"press1", b"", 0),
    ]
    _, outcome = core.apply("press1", KeyState(), records)
    reasons = [dict(d.headers)[kafka.HEADER_REASON] for d in outcome.dead_letters]
    assert reasons == [b"decode", b"decode", b"unknown-topic", b"action-rejected"]
    letter = decode(m.DeadLetter, outcome.dead_letters[-1].value)
    assert letter.payload == bad_action.value


def test_alert_records_round_trip_through_proto() -> None:
    _, alerts = run_core(list(as_kafka(normalized(scenario()))), 64)
    core = PipelineCore()
    for alert in alerts:
        record = core.alert_record(alert)
        assert (record.topic, record.key, record.timestamp_ms) == (
            kafka.ALERTS,
            alert.alert_id.encode(),
            alert.updated_ms,
        )
        back = alert_from_proto(decode(m.Alert, record.value))
        assert replace(back, evidence=()) == replace(alert, evidence=())
        assert dict(back.evidence) == dict(alert.evidence)


@pytest.mark.parametrize("prefix", ["", "site1"])
def test_input_topics(prefix: str) -> None:
    core = PipelineCore(topic_prefix=prefix)
    assert core.input_topics == tuple(
        kafka.prefixed(t, prefix) for t in (kafka.TELEMETRY, kafka.PREDICTIONS, kafka.DETECTIONS, CONTROL)
    )
