"""The Sparkplug edge node state machine: births, aliases, seq, bdSeq, rebirth, STATE, DBIRTH on growth."""

from __future__ import annotations

import pytest

from edge.publisher.metric_map import (
    NODE_SPECS,
    DeviceCatalog,
    MetricSpec,
    ReportByException,
    prediction_metrics,
    sample_metrics,
)
from edge.publisher.session import EdgeNodeSession, NodeState, OutMessage
from proto.messages import AlarmState, ModelRef, Prediction
from proto.sparkplug import (
    AliasTable,
    DataType,
    HostState,
    MessageType,
    Metric,
    SequenceTracker,
    Verdict,
    decode_message,
    encode_rebirth_request,
    encode_state,
    parse_node_topic,
)

GROUP, NODE = "plant", "edge-1"


def new_session(**kwargs: object) -> EdgeNodeSession:
    catalog = DeviceCatalog()
    catalog.declare(None, NODE_SPECS)
    catalog.declare("m1", [MetricSpec("temperature_c", DataType.DOUBLE, "degC")])
    return EdgeNodeSession(GROUP, NODE, catalog, clock_ms=lambda: 1_000, **kwargs)  # type: ignore[arg-type]


class Host:
    """A minimal host application: decodes everything with the proto codec and tracks seq."""

    def __init__(self) -> None:
        self.aliases = AliasTable()
        self.tracker = SequenceTracker()
        self.verdicts: list[Verdict] = []
        self.values: list[tuple[str | None, Metric]] = []

    def receive(self, messages: tuple[OutMessage, ...] | list[OutMessage]) -> None:
        for message in messages:
            topic = parse_node_topic(message.topic)
            kind = topic.message_type
            payload = decode_message(kind, message.payload, aliases=self.aliases, device_id=topic.device_id)
            if kind in (MessageType.NBIRTH, MessageType.DBIRTH):
                self.aliases.learn(payload.metrics, topic.device_id)
            decision = self.tracker.observe(topic.node_key, kind, payload.seq, payload.bd_seq)
            self.verdicts.append(decision.verdict)
            self.values.extend((topic.device_id, m) for m in payload.metrics)


def test_births_carry_every_metric_with_alias_and_bd_seq() -> None:
    session = new_session()
    will = session.start()
    assert will.topic == "spBv1.0/plant/NDEATH/edge-1"
    assert decode_message(MessageType.NDEATH, will.payload).bd_seq == 0
    births = session.connected().publish
    assert [m.topic for m in births] == ["spBv1.0/plant/NBIRTH/edge-1", "spBv1.0/plant/DBIRTH/edge-1/m1"]
    nbirth = decode_message(MessageType.NBIRTH, births[0].payload)
    assert nbirth.seq == 0
    assert nbirth.bd_seq == 0
    names = [m.name for m in nbirth.metrics]
    assert names[:2] == ["bdSeq", "Node Control/Rebirth"]
    assert set(names[2:]) == {s.name for s in NODE_SPECS}
    assert all(m.alias is not None for m in nbirth.metrics[2:])
    dbirth = decode_message(MessageType.DBIRTH, births[1].payload)
    assert dbirth.seq == 1
    (temp,) = dbirth.metrics
    assert (temp.name, temp.datatype, temp.value) == ("temperature_c", DataType.DOUBLE, None)
    assert temp.properties["engUnit"].value == "degC"
    assert session.state is NodeState.ONLINE


def test_data_goes_by_alias_and_a_host_resolves_it() -> None:
    session, host = new_session(), Host()
    session.start()
    host.receive(session.connected().publish)
    metrics = [Metric("temperature_c", DataType.DOUBLE, 61.5, timestamp=10)]
    (ddata,) = session.data("m1", metrics)
    raw = decode_message(MessageType.DDATA, ddata.payload)
    assert raw.metrics[0].name is None
    assert raw.metrics[0].alias is not None
    host.receive([ddata])
    assert host.values[-1] == (
        "m1",
        Metric("temperature_c", DataType.DOUBLE, 61.5, alias=raw.metrics[0].alias, timestamp=10),
    )
    assert host.verdicts == [Verdict.BIRTH, Verdict.OK, Verdict.OK]


def test_seq_wraps_after_255_and_every_message_is_in_sequence() -> None:
    session, host = new_session(), Host()
    session.start()
    host.receive(session.connected().publish)
    seqs = []
    for i in range(300):
        (message,) = session.data("m1", [Metric("temperature_c", DataType.DOUBLE, float(i), timestamp=i)])
        host.receive([message])
        seqs.append(decode_message(MessageType.DDATA, message.payload).seq)
    assert seqs[:3] == [2, 3, 4]
    assert seqs[253:256] == [255, 0, 1]
    assert set(host.verdicts[2:]) == {Verdict.OK}


def test_bd_seq_increments_per_connection_and_wraps() -> None:
    session = new_session(last_bd_seq=254)
    bd = []
    for _ in range(3):
        bd.append(decode_message(MessageType.NDEATH, session.start().payload).bd_seq)
        nbirth = session.connected().publish[0]
        assert decode_message(MessageType.NBIRTH, nbirth.payload).bd_seq == bd[-1]
        session.lost()
    assert bd == [255, 0, 1]


def test_rebirth_keeps_bd_seq_and_restarts_seq_and_aliases_stay() -> None:
    session, host = new_session(), Host()
    session.start()
    first = session.connected().publish
    host.receive(first)
    session.data("m1", [Metric("temperature_c", DataType.DOUBLE, 1.0, timestamp=1)])
    request = encode_rebirth_request(timestamp=5)
    again = session.on_message("spBv1.0/plant/NCMD/edge-1", request).publish
    nbirth = decode_message(MessageType.NBIRTH, again[0].payload)
    assert (nbirth.seq, nbirth.bd_seq) == (0, 0)
    assert [m.payload for m in again][1:] != []
    aliases_before = {m.name: m.alias for m in decode_message(MessageType.DBIRTH, first[1].payload).metrics}
    aliases_after = {m.name: m.alias for m in decode_message(MessageType.DBIRTH, again[1].payload).metrics}
    assert aliases_before == aliases_after
    assert session.births_published == 2


def test_rebirth_request_false_or_for_another_node_is_ignored() -> None:
    session = new_session()
    session.start()
    session.connected()
    other = session.on_message("spBv1.0/plant/NCMD/edge-2", encode_rebirth_request(timestamp=5))
    assert other.publish == ()
    assert session.on_message("spBv1.0/plant/NCMD/edge-1", b"\xff\x00garbage").publish == ()


def test_primary_host_state_gates_births_and_offline_ends_the_session() -> None:
    session = new_session(primary_host_id="scada")
    session.start()
    assert "spBv1.0/STATE/scada" in session.subscriptions()
    assert session.connected().publish == ()
    assert session.state is NodeState.WAITING_FOR_HOST
    offline = encode_state(HostState(online=False, timestamp=10))
    assert session.on_message("spBv1.0/STATE/scada", offline) == session.on_message(
        "spBv1.0/STATE/scada", offline
    )
    assert session.state is NodeState.WAITING_FOR_HOST
    online = session.on_message("spBv1.0/STATE/scada", encode_state(HostState(online=True, timestamp=20)))
    assert [parse_node_topic(m.topic).message_type for m in online.publish] == [
        MessageType.NBIRTH,
        MessageType.DBIRTH,
    ]
    stale = session.on_message("spBv1.0/STATE/scada", encode_state(HostState(online=False, timestamp=15)))
    assert not stale.disconnect  # older than the online STATE already seen
    assert session.on_message("spBv1.0/STATE/other", offline).disconnect is False
    gone = session.on_message("spBv1.0/STATE/scada", encode_state(HostState(online=False, timestamp=30)))
    assert gone.disconnect
    assert gone.publish == ()
    death = session.death()
    assert decode_message(MessageType.NDEATH, death.payload).bd_seq == 0


def test_new_device_or_new_metric_is_born_before_its_data() -> None:
    session, host = new_session(), Host()
    session.start()
    host.receive(session.connected().publish)
    out = session.data("m2", [Metric("speed_rpm", DataType.DOUBLE, 1500.0, timestamp=3)])
    assert [parse_node_topic(m.topic).message_type for m in out] == [MessageType.DBIRTH, MessageType.DDATA]
    host.receive(out)
    grown = session.data(
        "m1",
        [
            Metric("temperature_c", DataType.DOUBLE, 50.0, timestamp=4),
            Metric("current_a", DataType.DOUBLE, 3.0, timestamp=4),
        ],
    )
    dbirth = decode_message(MessageType.DBIRTH, grown[0].payload)
    assert {m.name for m in dbirth.metrics} == {"temperature_c", "current_a"}
    host.receive(grown)
    assert set(host.verdicts) == {Verdict.BIRTH, Verdict.OK}
    assert session.data("m1", [Metric("current_a", DataType.DOUBLE, 3.5, timestamp=5)])[0].topic.endswith(
        "DDATA/edge-1/m1"
    )


def test_historical_flag_and_device_death() -> None:
    session = new_session()
    session.start()
    session.connected()
    (message,) = session.data(
        "m1", [Metric("temperature_c", DataType.DOUBLE, 1.0, timestamp=1)], historical=True
    )
    assert decode_message(MessageType.DDATA, message.payload).metrics[0].is_historical
    (death,) = session.device_death("m1")
    assert parse_node_topic(death.topic).message_type is MessageType.DDEATH
    assert session.device_death("m1") == ()
    out = session.data("m1", [Metric("temperature_c", DataType.DOUBLE, 2.0, timestamp=2)])
    assert parse_node_topic(out[0].topic).message_type is MessageType.DBIRTH


def test_data_while_offline_is_refused() -> None:
    session = new_session()
    with pytest.raises(RuntimeError):
        session.data("m1", [Metric("temperature_c", DataType.DOUBLE, 1.0, timestamp=1)])


@pytest.mark.parametrize(
    ("deadband", "period_ms", "values", "expected"),
    [
        (0.0, 0, [1.0, 1.0, 1.5, 1.5], [1.0, 1.5]),
        (0.5, 0, [1.0, 1.4, 1.6, 1.2, 2.2], [1.0, 1.6, 2.2]),
        (1.0, 2, [1.0, 1.1, 1.2, 1.3, 1.4], [1.0, 1.2, 1.4]),  # period (event time, 1 ms apart)
        (0.0, 0, [1.0, float("nan"), 1.0], [1.0]),  # NaN is missing: neither sent nor remembered
    ],
)
def test_report_by_exception(
    deadband: float, period_ms: int, values: list[float], expected: list[float]
) -> None:
    rbe = ReportByException(deadband, period_ms=period_ms)
    metrics = sample_metrics("m1", ["x"], list(range(len(values))), [[v] for v in values], rbe)
    assert [m.value for m in metrics] == expected


def test_per_channel_deadband_and_chronological_order() -> None:
    rbe = ReportByException(0.0, {"b": 10.0})
    metrics = sample_metrics("m1", ["a", "b"], [1, 2], [[1.0, 1.0], [2.0, 5.0]], rbe)
    assert [(m.name, m.timestamp) for m in metrics] == [("a", 1), ("b", 1), ("a", 2)]


def test_prediction_metrics_table() -> None:
    prediction = Prediction(
        machine_id="m1",
        edge_node=NODE,
        timestamp_ms=100,
        window_start_ms=50,
        fault_probability=0.9,
        fault_type="bearing",
        class_probabilities={"normal": 0.1, "bearing": 0.9},
        model=ModelRef(name="fault", version="1.2"),
        alarm=AlarmState.ALARM_STATE_ALARM,
        seq=4,
    )
    values = {m.name: m.value for m in prediction_metrics(prediction)}
    assert values["prediction/fault_probability"] == 0.9
    assert values["prediction/alarm"] == "alarm"
    assert values["prediction/rul_s"] is None
    assert values["prediction/class/bearing"] == 0.9
    assert values["prediction/model_version"] == "1.2"
    assert {m.timestamp for m in prediction_metrics(prediction)} == {100}


WALL, TWIN = 1_000, 1_000 + 4 * 3_600_000  # a twin four hours ahead of the edge's wall clock


def test_payload_time_is_the_wall_clock_and_metric_times_are_event_times() -> None:
    """Sparkplug B 3.0: a payload's timestamp says when it was built, a metric's when it was sampled."""
    session, host = new_session(), Host()
    session.start()
    host.receive(session.connected().publish)
    samples = [
        Metric("temperature_c", DataType.DOUBLE, 60.0 + i, timestamp=TWIN + 1_000 * i) for i in range(3)
    ]
    session.catalog.update("m1", samples)  # what the publisher does when it queues them
    (ddata,) = session.data("m1", samples, historical=True)
    payload = decode_message(MessageType.DDATA, ddata.payload)
    assert payload.timestamp == WALL
    assert [m.timestamp for m in payload.metrics] == [TWIN, TWIN + 1_000, TWIN + 2_000]
    # a rebirth carries each metric's latest value at its own sample time, not the birth's wall clock
    births = session.on_message("spBv1.0/plant/NCMD/edge-1", encode_rebirth_request(timestamp=5)).publish
    nbirth = decode_message(MessageType.NBIRTH, births[0].payload)
    dbirth = decode_message(MessageType.DBIRTH, births[1].payload)
    assert (nbirth.timestamp, dbirth.timestamp) == (WALL, WALL)
    (temp,) = dbirth.metrics
    assert (temp.value, temp.timestamp) == (62.0, TWIN + 2_000)


def test_prediction_metrics_carry_the_window_end_time() -> None:
    prediction = Prediction(machine_id="m1", timestamp_ms=TWIN, window_start_ms=TWIN - 600_000)
    prediction.fault_probability = 0.4
    metrics = prediction_metrics(prediction)
    assert {m.timestamp for m in metrics} == {TWIN}
    assert next(m.value for m in metrics if m.name == "prediction/window_start") == TWIN - 600_000


def test_a_dead_device_stays_out_of_births_until_its_data() -> None:
    session, host = new_session(), Host()
    session.start()
    host.receive(session.connected().publish)
    (death,) = session.device_death("m1")
    assert decode_message(MessageType.DDEATH, death.payload).timestamp == WALL
    host.receive([death])
    assert session.dead("m1")
    # a reconnect births the node and the living devices only
    session.lost()
    session.start()
    births = session.connected().publish
    assert [parse_node_topic(m.topic).message_type for m in births] == [MessageType.NBIRTH]
    host.receive(births)
    # the device's next data: DBIRTH first, then DATA
    back = session.data("m1", [Metric("temperature_c", DataType.DOUBLE, 3.0, timestamp=TWIN)])
    assert [parse_node_topic(m.topic).message_type for m in back] == [MessageType.DBIRTH, MessageType.DDATA]
    host.receive(back)
    assert not session.dead("m1")
    assert set(host.verdicts) == {Verdict.BIRTH, Verdict.OK}
    # lost while offline: nothing to publish, but the next births leave it out
    session.lost()
    assert session.device_death("m1") == ()
    session.start()
    assert [parse_node_topic(m.topic).device_id for m in session.connected().publish] == [None]
