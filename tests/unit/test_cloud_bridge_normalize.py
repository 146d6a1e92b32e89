"""The bridge's normalizer without any broker: Sparkplug sessions, records, rebirths and dead letters."""

from __future__ import annotations

import pytest

from cloud.bridge.edge_feed import EdgeNodeScript
from cloud.bridge.normalize import BridgeOutput, Normalizer
from cloud.bus_records import BusRecord
from cloud.processing.records import NodeEvent, TelemetryPoint
from cloud.proto_mapping import inspection, prediction_point, telemetry_events
from proto import kafka
from proto import messages as m
from proto.codec import decode
from proto.sparkplug import DataType, Metric, decode_payload, encode_dbirth, encode_ddata

T0 = 1_700_000_000_000


def edge() -> EdgeNodeScript:
    return EdgeNodeScript(
        "plant",
        "edge1",
        {
            "press1": {
                "temperature": 20.0,
                "running": True,
                "cycles": 1,
                "prediction/fault_probability": 0.0,
                "prediction/fault_type": "normal",
                "prediction/class/bearing": 0.0,
            },
            "pump2": {"pressure": 3.0},
        },
    )


def topics(out: BridgeOutput) -> list[str]:
    return [r.topic for r in out.records]


def events(records: list[BusRecord]) -> list[TelemetryPoint | NodeEvent]:
    found: list[TelemetryPoint | NodeEvent] = []
    for r in records:
        if r.topic == kafka.TELEMETRY:
            found.extend(telemetry_events(decode(m.TelemetryBatch, r.value)))
    return found


def run(normalizer: Normalizer, messages: list[tuple[str, bytes]]) -> list[BridgeOutput]:
    return [normalizer.handle(t, p, T0) for t, p in messages]


def test_birth_gives_a_session_record_and_telemetry_keyed_by_machine() -> None:
    outs = run(Normalizer(), edge().birth(T0))
    records = [r for o in outs for r in o.records]
    assert [(r.topic, r.key) for r in records] == [
        (kafka.TELEMETRY, b"node/plant/edge1"),
        (kafka.TELEMETRY, b"press1"),
        (kafka.PREDICTIONS, b"press1"),
        (kafka.TELEMETRY, b"pump2"),
    ]
    assert all(r.timestamp_ms == T0 for r in records)
    got = events(records)
    assert got[0] == NodeEvent("plant", "edge1", T0, "birth", 0)
    assert {(e.machine_id, e.metric, e.value) for e in got if isinstance(e, TelemetryPoint)} == {
        ("press1", "temperature", 20.0),
        ("press1", "running", 1.0),
        ("press1", "cycles", 1.0),
        ("pump2", "pressure", 3.0),
    }


def test_data_by_alias_and_record_identity() -> None:
    node, n = edge(), Normalizer()
    run(n, node.birth(T0))
    out = n.handle(*node.data("press1", {"temperature": 55.5}, T0 + 1000), T0)
    (record,) = [r for r in out.records if r.key == b"press1"]
    batch = decode(m.TelemetryBatch, record.value)
    (r,) = batch.records
    assert (r.group_id, r.edge_node, r.device_id, r.machine_id, r.metric) == (
        "plant",
        "edge1",
        "press1",
        "press1",
        "temperature",
    )
    assert (r.timestamp_ms, r.double_value, r.seq, r.bd_seq) == (T0 + 1000, 55.5, 3, 0)
    assert record.timestamp_ms == T0 + 1000
    assert record.header(kafka.HEADER_SOURCE_TOPIC) == b"spBv1.0/plant/DDATA/edge1/press1"


def test_prediction_metrics_become_a_prediction() -> None:
    node, n = edge(), Normalizer()
    run(n, node.birth(T0))
    values: dict[str, float | str] = {
        "prediction/fault_probability": 0.91,
        "prediction/fault_type": "bearing",
        "prediction/class/bearing": 0.9,
    }
    out = n.handle(*node.data("press1", values, T0 + 5000), T0)
    assert topics(out) == [kafka.PREDICTIONS, kafka.TELEMETRY]  # and a heartbeat for the node
    p = decode(m.Prediction, out.records[0].value)
    point = prediction_point(p)
    assert (point.machine_id, point.ts_ms, point.probability, point.fault_type) == (
        "press1",
        T0 + 5000,
        0.91,
        "bearing",
    )
    assert dict(p.class_probabilities) == {"bearing": pytest.approx(0.9)}


def test_heartbeat_is_throttled_by_event_time() -> None:
    node, n = edge(), Normalizer(heartbeat_ms=5_000)
    run(n, node.birth(T0))
    keys = [
        [r.key for r in n.handle(*node.data("pump2", {"pressure": 3.0}, T0 + dt), T0).records]
        for dt in (1_000, 4_000, 5_000, 6_000, 10_000)
    ]
    beats = [k.count(b"node/plant/edge1") for k in keys]
    assert beats == [0, 0, 1, 0, 1]


def test_seq_gap_asks_for_rebirth_once_and_keeps_the_data() -> None:
    node, n = edge(), Normalizer()
    run(n, node.birth(T0))
    node.skip(2)
    out = n.handle(*node.data("pump2", {"pressure": 4.0}, T0 + 1), T0)
    assert [c.topic for c in out.commands] == ["spBv1.0/plant/NCMD/edge1"]
    assert decode_payload(out.commands[0].payload).rebirth_requested
    assert kafka.TELEMETRY in topics(out)
    node.skip(1)
    again = n.handle(*node.data("pump2", {"pressure": 4.0}, T0 + 2), T0 + 10)
    assert again.commands == ()


def test_duplicate_is_dropped() -> None:
    node, n = edge(), Normalizer()
    run(n, node.birth(T0))
    message = node.data("pump2", {"pressure": 4.0}, T0 + 1)
    assert n.handle(*message, T0).records
    assert n.handle(*message, T0).records == ()
    assert n.stats.dropped == 1


def test_data_from_unknown_node_asks_for_rebirth_and_is_not_a_dead_letter() -> None:
    node, n = edge(), Normalizer()
    node.birth(T0)  # published before the bridge came up
    out = n.handle(*node.data("pump2", {"pressure": 4.0}, T0 + 1), T0)
    assert out.records == ()
    assert len(out.commands) == 1


def test_death_marks_known_metrics_stale_at_the_last_event_time() -> None:
    node, n = edge(), Normalizer()
    run(n, node.birth(T0))
    n.handle(*node.data("pump2", {"pressure": 4.5}, T0 + 7_000), T0)
    out = n.handle(*node.death(ts=T0 - 99), T0 + 60_000)
    got = events(list(out.records))
    assert got[0] == NodeEvent("plant", "edge1", T0 + 7_000, "death", 0)
    stale = [e for e in got if isinstance(e, TelemetryPoint)]
    assert {(e.machine_id, e.metric, e.value, e.stale) for e in stale} >= {("pump2", "pressure", 4.5, True)}
    assert all(e.stale for e in stale)
    # a later will of the old session is ignored, a rebirth opens a new session
    assert n.handle(*edge().death(), T0).records == ()
    reborn = run(n, node.birth(T0 + 80_000))
    # a birth has no sample time: it happens at the newest event time seen, not at the edge's clock
    assert events(list(reborn[0].records))[0] == NodeEvent("plant", "edge1", T0 + 7_000, "birth", 1)


def test_device_death_marks_that_device_stale() -> None:
    node, n = edge(), Normalizer()
    run(n, node.birth(T0))
    out = n.handle(*node.device_death("pump2", T0 + 10), T0)
    assert [(e.machine_id, e.stale) for e in events(list(out.records)) if isinstance(e, TelemetryPoint)] == [
        ("pump2", True)
    ]


HOUR = 3_600_000


def stamped(
    node: EdgeNodeScript, device: str, samples: list[tuple[int, str, object]], built: int
) -> tuple[str, bytes]:
    """A DDATA as the edge agent sends it: each metric at its sample time, the payload at the wall clock."""
    metrics = []
    for ts, name, value in samples:
        entry = node.aliases.entry_by_name(name, device)
        metrics.append(Metric(None, entry.datatype, value, alias=entry.alias, timestamp=ts))  # type: ignore[arg-type]
    topic = f"spBv1.0/plant/DDATA/edge1/{device}"
    return topic, encode_ddata(metrics, seq=node.seq.next(), timestamp=built)


def test_event_time_is_the_sample_time_not_the_payload_clock() -> None:
    """A twin 4 h ahead of the wall clock: records, the node's heartbeat and its death follow the samples."""
    node, n = edge(), Normalizer(heartbeat_ms=5_000)
    run(n, node.birth(T0))
    ahead = T0 + 4 * HOUR
    message = stamped(node, "pump2", [(ahead, "pressure", 3.1), (ahead + 1_000, "pressure", 3.2)], T0 + 5)
    telemetry, heartbeat = n.handle(*message, T0).records
    assert telemetry.timestamp_ms == ahead + 1_000  # the newest sample, not the payload's T0 + 5
    assert [(e.ts_ms, e.value) for e in events([telemetry])] == [(ahead, 3.1), (ahead + 1_000, 3.2)]  # type: ignore[union-attr]
    assert events([heartbeat]) == [NodeEvent("plant", "edge1", ahead + 1_000, "data", 0)]
    assert n.newest_ms == ahead + 1_000
    death = n.handle(*node.death(ts=T0 + 10), T0 + 10)
    assert events(list(death.records))[0] == NodeEvent("plant", "edge1", ahead + 1_000, "death", 0)


def test_a_birth_happens_at_the_newest_event_time_seen() -> None:
    """An agent (re)starting with only its wall clock is not born hours before the data the bridge has."""
    n = Normalizer()
    first, late = edge(), EdgeNodeScript("plant", "edge2", {"m2": {"speed": 1.0}})
    run(n, first.birth(T0))
    n.handle(*stamped(first, "pump2", [(T0 + 3 * HOUR, "pressure", 3.0)], T0 + 1), T0)
    records = [r for o in run(n, late.birth(T0 + 2)) for r in o.records]
    assert events(records[:1]) == [NodeEvent("plant", "edge2", T0 + 3 * HOUR, "birth", 0)]
    assert {r.timestamp_ms for r in records} == {T0 + 3 * HOUR}
    # the first birth a bridge sees has nothing better than the payload's time
    assert events(list(run(Normalizer(), edge().birth(T0 + 9))[0].records))[0].ts_ms == T0 + 9


def test_device_death_happens_at_the_node_s_last_event_time() -> None:
    node, n = edge(), Normalizer()
    run(n, node.birth(T0))
    n.handle(*stamped(node, "pump2", [(T0 + HOUR, "pressure", 3.0)], T0 + 1), T0)
    out = n.handle(*node.device_death("pump2", T0 + 2), T0 + 2)
    (stale,) = events(list(out.records))
    assert isinstance(stale, TelemetryPoint)
    assert (stale.machine_id, stale.ts_ms, stale.stale) == ("pump2", T0 + HOUR, True)
    assert out.records[0].timestamp_ms == T0 + HOUR


def test_each_window_of_a_message_is_its_own_prediction() -> None:
    node, n = edge(), Normalizer()
    run(n, node.birth(T0))
    windows = [(T0 + HOUR, 0.2, "normal"), (T0 + HOUR + 300_000, 0.93, "bearing")]
    samples: list[tuple[int, str, object]] = []
    for ts, p, kind in windows:
        samples += [(ts, "prediction/fault_probability", p), (ts, "prediction/fault_type", kind)]
    out = n.handle(*stamped(node, "press1", samples, T0 + 3), T0)
    found = [r for r in out.records if r.topic == kafka.PREDICTIONS]
    predictions = [decode(m.Prediction, r.value) for r in found]
    assert [(p.timestamp_ms, round(p.fault_probability, 2), p.fault_type) for p in predictions] == windows
    assert [r.timestamp_ms for r in found] == [w[0] for w in windows]


def test_window_start_as_the_edge_sends_it() -> None:
    n, seq = Normalizer(), iter(range(256))
    topic = "spBv1.0/plant/{}/edge1/m1"
    start = Metric("prediction/window_start", DataType.DATETIME, T0 - 600_000, timestamp=T0)
    probability = Metric("prediction/fault_probability", DataType.DOUBLE, 0.7, timestamp=T0)
    run(n, EdgeNodeScript("plant", "edge1", {}).birth(T0))
    next(seq)
    n.handle(topic.format("DBIRTH"), encode_dbirth([probability, start], seq=next(seq), timestamp=T0), T0)
    out = n.handle(topic.format("DDATA"), encode_ddata([probability, start], seq=next(seq), timestamp=T0), T0)
    (record,) = [r for r in out.records if r.topic == kafka.PREDICTIONS]
    assert decode(m.Prediction, record.value).window_start_ms == T0 - 600_000


def test_a_birth_without_a_fault_probability_is_no_prediction() -> None:
    node = EdgeNodeScript("plant", "edge1", {"m1": {"prediction/fault_probability": None, "speed": 1.0}})
    records = [r for o in run(Normalizer(), node.birth(T0)) for r in o.records]
    assert kafka.PREDICTIONS not in {r.topic for r in records}


def test_detection_event_is_forwarded_keyed_by_machine() -> None:
    node, n = edge(), Normalizer()
    out = n.handle(*node.detection("cam1", T0, 7, [("scratch", 0.8)], machine="press1"), T0 + 50)
    (record,) = out.records
    assert (record.topic, record.key, record.timestamp_ms) == (kafka.DETECTIONS, b"press1", T0)
    frame = inspection(decode(m.DetectionEvent, record.value))
    assert (frame.line_id, frame.camera_id, frame.frame_seq, frame.boxes[0].label) == (
        "L1",
        "cam1",
        7,
        "scratch",
    )
    no_machine = n.handle(*node.detection("cam2", T0, 1), T0)
    assert no_machine.records[0].key == b"camera/L1/cam2"


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("spBv1.0/plant/DDATA/edge1/press1", b"\xff\xff\xff", "invalid-seq"),
        ("spBv1.0/plant/NBIRTH/edge1", b"not protobuf at all \xff", "decode"),
        ("spBv1.0/plant/BOGUS/edge1", b"", "decode"),
        ("iiot/v1/plant/edge1/cam1/detections", b"\x08\x01garbage", "decode"),
        ("iiot/v1/plant/edge1/cam9/detections", None, "topic-mismatch"),
        ("somewhere/else", b"x", "unknown-topic"),
        ("iiot/v1/plant/edge1/cmd/model", b"", "unknown-topic"),
    ],
)
def test_malformed_input_becomes_a_dead_letter_with_its_reason(
    topic: str, payload: bytes | None, reason: str
) -> None:
    n = Normalizer()
    if payload is None:
        payload = edge().detection("cam1", T0, 1)[1]
    out = n.handle(topic, payload, T0)
    (letter,) = out.dead_letters
    assert letter.topic == kafka.DEAD_LETTERS
    assert letter.header(kafka.HEADER_REASON) == reason.encode()
    assert letter.header(kafka.HEADER_SOURCE_TOPIC) == topic.encode()
    body = decode(m.DeadLetter, letter.value)
    assert (body.payload, body.reason, body.source, body.received_ms) == (payload, reason, "mqtt", T0)


def test_unknown_alias_is_a_dead_letter_and_a_rebirth() -> None:
    node, n = edge(), Normalizer()
    run(n, node.birth(T0))
    other = EdgeNodeScript(
        "plant", "edge1", {"press1": {"a": 1.0, "b": 2.0, "c": 3.0, "d": 4.0, "e": 5.0, "f": 6.0, "g": 7.0}}
    )
    other.birth(T0)
    other.seq = node.seq
    out = n.handle(*other.data("press1", {"g": 1.0}, T0 + 1), T0)
    assert [d.header(kafka.HEADER_REASON) for d in out.dead_letters] == [b"unknown-alias"]
    assert len(out.commands) == 1


def test_state_and_commands_are_ignored() -> None:
    n = Normalizer()
    assert n.handle("spBv1.0/STATE/host1", b'{"online":true,"timestamp":1}', T0) == BridgeOutput()
    assert n.handle("spBv1.0/plant/NCMD/edge1", b"", T0) == BridgeOutput()


def test_topic_prefix() -> None:
    n = Normalizer(topic_prefix="site1")
    out = run(n, edge().birth(T0))
    assert {r.topic for o in out for r in o.records} == {
        "site1.iiot.v1.telemetry",
        "site1.iiot.v1.predictions",
    }
