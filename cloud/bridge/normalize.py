"""Sparkplug B and detection messages in, normalized bus records and MQTT commands out.

``Normalizer.handle(topic, payload, received_ms)`` performs no I/O: it decodes with proto's codecs,
follows each edge node's session with proto's :class:`SequenceTracker` (births, deaths, seq gaps),
and returns the Kafka records to produce (telemetry batches keyed by machine, predictions,
detections, node session events keyed by node, dead letters) and the NCMD rebirth requests to
publish. Bad input never raises: it becomes a dead letter with the reason.

Conventions (docs/CLOUD.md): a D* message's machine is its Sparkplug device id, an N* message's
machine is the edge node; metrics named ``prediction/...`` form a Prediction (see
:data:`PREDICTION_METRICS`) instead of telemetry; node births, deaths and a throttled
"data seen" heartbeat travel on the telemetry topic as ``$session/...`` records keyed
``node/{group}/{edge_node}``.

Event time (Sparkplug B 3.0: a metric's timestamp is when its value was sampled, the payload's
when the message was built, on the edge's wall clock): each record carries its metric's time;
a message's event time, which stamps its Kafka records and drives the node's heartbeat, is the
newest time of its valued metrics (the payload's only when no metric has one). A birth has no
sample time of its own: it happens at the newest event time this normalizer has seen (or its
metrics', if later), so a node that restarts while a fast twin's clock is hours ahead of the wall
clock is not already "silent" at its birth. A death happens at the node's last event time.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from cloud.bus_records import BusRecord, dead_letter
from cloud.proto_mapping import SESSION_BIRTH, SESSION_DATA, SESSION_DEATH
from proto import kafka
from proto import messages as m
from proto.codec import decode, encode
from proto.errors import ContractError, UnknownAliasError
from proto.sparkplug import (
    BD_SEQ,
    AliasTable,
    MessageType,
    Metric,
    SequenceTracker,
    SparkplugPayload,
    SparkplugTopic,
    Verdict,
    build_topic,
    decode_message,
    encode_rebirth_request,
    parse_topic,
)
from proto.sparkplug_b import sparkplug_b_pb2 as pb
from proto.topics import DetectionTopic
from proto.topics import parse_topic as parse_iiot_topic

log = logging.getLogger(__name__)

NodeKey = tuple[str, str]
PREDICTION_PREFIX = "prediction/"
CLASS_PREFIX = "prediction/class/"
UNIT_PROPERTIES = ("engUnit", "engUnits", "unit", "units")
NOT_TELEMETRY = (BD_SEQ, "Node Control/")


def _set_float(name: str) -> Callable[[m.Prediction, object], None]:
    def apply(p: m.Prediction, v: object) -> None:
        if isinstance(v, int | float) and not isinstance(v, bool):
            setattr(p, name, float(v))

    return apply


def _set_int(name: str) -> Callable[[m.Prediction, object], None]:
    def apply(p: m.Prediction, v: object) -> None:
        if isinstance(v, int) and not isinstance(v, bool):
            setattr(p, name, v)

    return apply


def _set_str(path: str) -> Callable[[m.Prediction, object], None]:
    def apply(p: m.Prediction, v: object) -> None:
        if isinstance(v, str):
            target, _, attr = path.rpartition(".")
            setattr(getattr(p, target) if target else p, attr, v)

    return apply


# Sparkplug metric name -> how it fills the Prediction message (declarative; edge publishes these).
PREDICTION_METRICS: Mapping[str, Callable[[m.Prediction, object], None]] = {
    "prediction/fault_probability": _set_float("fault_probability"),
    "prediction/fault_type": _set_str("fault_type"),
    "prediction/rul_s": _set_float("rul_seconds"),
    "prediction/window_start_ms": _set_int("window_start_ms"),
    "prediction/window_start": _set_int("window_start_ms"),  # DateTime, as the edge agent sends it
    "prediction/model": _set_str("model.name"),
    "prediction/model_version": _set_str("model.version"),
    "prediction/line_id": _set_str("line_id"),
}


@dataclass(frozen=True, slots=True)
class MqttCommand:
    """A message the bridge publishes back to the edge (an NCMD rebirth request)."""

    topic: str
    payload: bytes
    qos: int = 1


@dataclass(frozen=True, slots=True)
class BridgeOutput:
    """What one MQTT message turned into."""

    records: tuple[BusRecord, ...] = ()
    commands: tuple[MqttCommand, ...] = ()

    @property
    def dead_letters(self) -> tuple[BusRecord, ...]:
        """The records bound for the dead-letter topic."""
        return tuple(r for r in self.records if r.topic.endswith(kafka.DEAD_LETTERS))


@dataclass(slots=True)
class _KnownMetric:
    value: object
    unit: str
    timestamp: int


@dataclass(slots=True)
class _Node:
    aliases: AliasTable = field(default_factory=AliasTable)
    known: dict[str | None, dict[str, _KnownMetric]] = field(default_factory=dict)
    last_event_ms: int | None = None
    last_heartbeat_ms: int | None = None
    rebirth_asked_ms: int | None = None


@dataclass(slots=True)
class NormalizerStats:
    """Counters for logs and metrics."""

    messages: int = 0
    records: int = 0
    dead_letters: int = 0
    rebirths: int = 0
    dropped: int = 0


class Normalizer:
    """Turns MQTT messages into bus records; one instance per bridge process."""

    def __init__(
        self, *, topic_prefix: str = "", heartbeat_ms: int = 5_000, rebirth_interval_ms: int = 5_000
    ) -> None:
        self.prefix = topic_prefix
        self.heartbeat_ms = heartbeat_ms
        self.rebirth_interval_ms = rebirth_interval_ms
        self.tracker = SequenceTracker()
        self.stats = NormalizerStats()
        self._nodes: dict[NodeKey, _Node] = {}
        self.newest_ms: int | None = None
        """The newest event time seen in any message: the time of a birth."""

    def handle(self, topic: str, payload: bytes, received_ms: int) -> BridgeOutput:
        """Normalize one MQTT message; never raises on bad input."""
        self.stats.messages += 1
        try:
            if topic.startswith("spBv1.0/"):
                out = self._sparkplug(topic, payload, received_ms)
            elif topic.startswith("iiot/v1/"):
                out = self._detection(topic, payload, received_ms)
            else:
                out = BridgeOutput((self._dead(topic, payload, "unknown-topic", None, received_ms),))
        except UnknownAliasError as exc:
            out = BridgeOutput((self._dead(topic, payload, "unknown-alias", exc, received_ms),))
        except ContractError as exc:
            out = BridgeOutput((self._dead(topic, payload, "decode", exc, received_ms),))
        except Exception as exc:  # the bridge never crashes on input
            log.exception("unexpected error normalizing %s", topic)
            out = BridgeOutput((self._dead(topic, payload, "internal", exc, received_ms),))
        self.stats.records += len(out.records)
        self.stats.dead_letters += len(out.dead_letters)
        self.stats.rebirths += len(out.commands)
        return out

    # ----------------------------------------------------------------- Sparkplug

    def _sparkplug(self, topic: str, data: bytes, now: int) -> BridgeOutput:
        parsed = parse_topic(topic)
        if not isinstance(parsed, SparkplugTopic):
            return BridgeOutput()  # host STATE messages are not data
        kind = parsed.message_type
        key = parsed.node_key
        node = self._nodes.setdefault(key, _Node())
        if kind in (MessageType.NCMD, MessageType.DCMD):
            return BridgeOutput()
        if kind is MessageType.NBIRTH:
            return self._nbirth(parsed, data, node)
        if kind is MessageType.NDEATH:
            return self._ndeath(parsed, data, node, now)
        decision = self.tracker.observe(key, kind, _peek_seq(data))
        commands = self._rebirth(parsed, node, now) if decision.request_rebirth else ()
        if decision.verdict is Verdict.INVALID:
            return BridgeOutput((self._dead(topic, data, "invalid-seq", None, now),), commands)
        if not decision.accept:
            self.stats.dropped += 1
            return BridgeOutput((), commands)
        if decision.verdict is Verdict.GAP:
            log.warning("seq gap from %s/%s: expected %s got %s", *key, decision.expected, decision.received)
        device = parsed.device_id
        try:
            payload = decode_message(kind, data, aliases=node.aliases, device_id=device)
        except UnknownAliasError as exc:
            dead = self._dead(topic, data, "unknown-alias", exc, now)
            return BridgeOutput((dead,), commands or self._rebirth(parsed, node, now))
        if kind is MessageType.DBIRTH and device is not None:
            node.aliases.forget_device(device)
            node.aliases.learn(payload.metrics, device)
            node.known[device] = {}
        if kind is MessageType.DDEATH and device is not None:
            # like NDEATH: the device died after the node's last event, whatever the edge's wall clock says
            died = node.last_event_ms if node.last_event_ms is not None else (payload.timestamp or now)
            stale = self._stale(parsed, node, device, died)
            node.aliases.forget_device(device)
            node.known.pop(device, None)
            return BridgeOutput(stale, commands)
        ts = self._birth_time(payload) if kind is MessageType.DBIRTH else self._event_time(payload)
        records = self._data(parsed, payload, node, ts)
        return BridgeOutput(records + self._heartbeat(parsed, node), commands)

    def _nbirth(self, parsed: SparkplugTopic, data: bytes, node: _Node) -> BridgeOutput:
        payload = decode_message(MessageType.NBIRTH, data)
        decision = self.tracker.observe(parsed.node_key, MessageType.NBIRTH, payload.seq, payload.bd_seq)
        if decision.verdict is not Verdict.BIRTH:
            return BridgeOutput(
                (self._dead(str(parsed), data, "invalid-birth", None, payload.timestamp or 0),)
            )
        node.aliases.clear()
        node.aliases.learn(payload.metrics)
        node.known = {None: {}}
        node.rebirth_asked_ms = None
        ts = self._birth_time(payload)
        session = self._session(parsed, SESSION_BIRTH, ts, payload.bd_seq)
        node.last_heartbeat_ms = ts
        return BridgeOutput((session, *self._data(parsed, payload, node, ts)))

    def _ndeath(self, parsed: SparkplugTopic, data: bytes, node: _Node, now: int) -> BridgeOutput:
        payload = decode_message(MessageType.NDEATH, data)
        decision = self.tracker.observe(parsed.node_key, MessageType.NDEATH, None, payload.bd_seq)
        if decision.verdict is not Verdict.DEATH:
            return BridgeOutput()  # the will of an older session
        # The will's own timestamp is from connect time; the node died after its last message.
        ts = node.last_event_ms if node.last_event_ms is not None else (payload.timestamp or now)
        stale: list[BusRecord] = []
        for device in list(node.known):
            stale.extend(self._stale(parsed, node, device, ts))
        node.known = {}
        return BridgeOutput((self._session(parsed, SESSION_DEATH, ts, payload.bd_seq), *stale))

    def _rebirth(self, parsed: SparkplugTopic, node: _Node, now: int) -> tuple[MqttCommand, ...]:
        if node.rebirth_asked_ms is not None and now - node.rebirth_asked_ms < self.rebirth_interval_ms:
            return ()
        node.rebirth_asked_ms = now
        topic = build_topic(parsed.group_id, MessageType.NCMD, parsed.edge_node_id)
        return (MqttCommand(topic, encode_rebirth_request(timestamp=now)),)

    # ----------------------------------------------------------------- event time

    def _event_time(self, payload: SparkplugPayload) -> int:
        """The newest sample time of the message's valued metrics, else its payload time."""
        sampled = _sample_time(payload)
        ts = sampled if sampled is not None else (payload.timestamp or 0)
        self._saw(ts)
        return ts

    def _birth_time(self, payload: SparkplugPayload) -> int:
        """When a birth happened: the newest event time seen (or its metrics', if later)."""
        known = [t for t in (_sample_time(payload), self.newest_ms) if t is not None]
        ts = max(known) if known else (payload.timestamp or 0)
        self._saw(ts)
        return ts

    def _saw(self, ts: int) -> None:
        if ts and (self.newest_ms is None or ts > self.newest_ms):
            self.newest_ms = ts

    # ----------------------------------------------------------------- records

    def _data(
        self, parsed: SparkplugTopic, payload: SparkplugPayload, node: _Node, ts: int
    ) -> tuple[BusRecord, ...]:
        device = parsed.device_id
        machine = device or parsed.edge_node_id
        node.last_event_ms = ts if node.last_event_ms is None else max(node.last_event_ms, ts)
        known = node.known.setdefault(device, {})
        batch = m.TelemetryBatch()
        prediction_metrics: list[Metric] = []
        for metric in payload.metrics:
            name = metric.name or ""
            if not name or name.startswith(NOT_TELEMETRY):
                continue
            if name.startswith(PREDICTION_PREFIX):
                prediction_metrics.append(metric)
                continue
            record = self._record(parsed, machine, metric, ts, payload.seq)
            if record is None:
                continue
            batch.records.append(record)
            known[name] = _KnownMetric(metric.value, record.unit, record.timestamp_ms)
        out: list[BusRecord] = []
        if batch.records:
            out.append(self._record_of(kafka.TELEMETRY, machine, batch, ts, str(parsed)))
        if prediction_metrics:
            out.extend(self._prediction(parsed, machine, prediction_metrics, ts, payload.seq))
        return tuple(out)

    def _record(
        self,
        parsed: SparkplugTopic,
        machine: str,
        metric: Metric,
        ts: int,
        seq: int | None,
        *,
        stale: bool = False,
    ) -> m.TelemetryRecord | None:
        record = m.TelemetryRecord(
            group_id=parsed.group_id,
            edge_node=parsed.edge_node_id,
            device_id=parsed.device_id or "",
            machine_id=machine,
            metric=metric.name or "",
            timestamp_ms=metric.timestamp if metric.timestamp is not None else ts,
            stale=stale,
            historical=metric.is_historical,
            seq=seq or 0,
            bd_seq=self.tracker.bd_seq(parsed.node_key) or 0,
            unit=_unit(metric),
        )
        if not _set_value(record, metric.value):
            return None
        return record

    def _prediction(
        self, parsed: SparkplugTopic, machine: str, metrics: Iterable[Metric], ts: int, seq: int | None
    ) -> list[BusRecord]:
        """One Prediction per window: the edge may send several, each metric at its window's end time."""
        windows: dict[int, list[Metric]] = {}
        for metric in metrics:
            windows.setdefault(metric.timestamp if metric.timestamp is not None else ts, []).append(metric)
        out: list[BusRecord] = []
        for window_ts, group in sorted(windows.items()):
            out.extend(self._one_prediction(parsed, machine, group, window_ts, seq))
        return out

    def _one_prediction(
        self, parsed: SparkplugTopic, machine: str, metrics: Iterable[Metric], ts: int, seq: int | None
    ) -> list[BusRecord]:
        p = m.Prediction(
            group_id=parsed.group_id, edge_node=parsed.edge_node_id, machine_id=machine, seq=seq or 0
        )
        p.timestamp_ms = ts
        present = False
        for metric in metrics:
            name = metric.name or ""
            if name.startswith(CLASS_PREFIX):
                if isinstance(metric.value, int | float) and not isinstance(metric.value, bool):
                    p.class_probabilities[name[len(CLASS_PREFIX) :]] = float(metric.value)
                continue
            apply = PREDICTION_METRICS.get(name)
            if apply is not None:
                apply(p, metric.value)
                present = present or (name == "prediction/fault_probability" and metric.value is not None)
        if not present:
            return []
        if not p.window_start_ms:
            p.window_start_ms = p.timestamp_ms
        return [self._record_of(kafka.PREDICTIONS, machine, p, p.timestamp_ms, str(parsed))]

    def _stale(
        self, parsed: SparkplugTopic, node: _Node, device: str | None, ts: int
    ) -> tuple[BusRecord, ...]:
        known = node.known.get(device, {})
        if not known:
            return ()
        machine = device or parsed.edge_node_id
        topic = SparkplugTopic(
            parsed.group_id, MessageType.DDATA if device else MessageType.NDATA, parsed.edge_node_id, device
        )
        batch = m.TelemetryBatch()
        for name, seen in sorted(known.items()):
            record = m.TelemetryRecord(
                group_id=parsed.group_id,
                edge_node=parsed.edge_node_id,
                device_id=device or "",
                machine_id=machine,
                metric=name,
                timestamp_ms=max(ts, seen.timestamp),
                stale=True,
                bd_seq=self.tracker.bd_seq(parsed.node_key) or 0,
                unit=seen.unit,
            )
            _set_value(record, seen.value)
            batch.records.append(record)
        return (self._record_of(kafka.TELEMETRY, machine, batch, ts, str(topic)),)

    def _session(self, parsed: SparkplugTopic, metric: str, ts: int, bd_seq: int | None) -> BusRecord:
        record = m.TelemetryRecord(
            group_id=parsed.group_id,
            edge_node=parsed.edge_node_id,
            metric=metric,
            timestamp_ms=ts,
            bd_seq=bd_seq or 0,
        )
        if bd_seq is not None:
            record.int_value = bd_seq
        batch = m.TelemetryBatch(records=[record])
        return self._record_of(kafka.TELEMETRY, node_key(*parsed.node_key), batch, ts, str(parsed))

    def _heartbeat(self, parsed: SparkplugTopic, node: _Node) -> tuple[BusRecord, ...]:
        ts = node.last_event_ms
        if ts is None or (
            node.last_heartbeat_ms is not None and ts - node.last_heartbeat_ms < self.heartbeat_ms
        ):
            return ()
        node.last_heartbeat_ms = ts
        return (self._session(parsed, SESSION_DATA, ts, self.tracker.bd_seq(parsed.node_key)),)

    # ----------------------------------------------------------------- detections

    def _detection(self, topic: str, data: bytes, now: int) -> BridgeOutput:
        parsed = parse_iiot_topic(topic)
        if not isinstance(parsed, DetectionTopic):
            return BridgeOutput((self._dead(topic, data, "unknown-topic", None, now),))
        event = decode(m.DetectionEvent, data)
        if (event.edge_node, event.camera_id) != (parsed.edge_node, parsed.camera_id):
            said, where = f"{event.edge_node}/{event.camera_id}", f"{parsed.edge_node}/{parsed.camera_id}"
            why = f"payload says {said}, topic {where}"
            return BridgeOutput((self._dead(topic, data, "topic-mismatch", ValueError(why), now),))
        self._saw(event.timestamp_ms)
        key = event.machine_id or f"camera/{event.line_id or 'line'}/{event.camera_id}"
        headers = ((kafka.HEADER_SOURCE_TOPIC, topic.encode()), kafka.schema_header(m.DetectionEvent))
        record = BusRecord(
            kafka.prefixed(kafka.DETECTIONS, self.prefix),
            kafka.record_key(key),
            bytes(data),
            event.timestamp_ms,
            headers,
        )
        return BridgeOutput((record,))

    # ----------------------------------------------------------------- helpers

    def _record_of(
        self, topic: str, key: str, message: m.TelemetryBatch | m.Prediction, ts: int, src: str
    ) -> BusRecord:
        headers = ((kafka.HEADER_SOURCE_TOPIC, src.encode()), kafka.schema_header(type(message)))
        return BusRecord(
            kafka.prefixed(topic, self.prefix), kafka.record_key(key), encode(message), ts, headers
        )

    def _dead(self, topic: str, data: bytes, reason: str, exc: BaseException | None, now: int) -> BusRecord:
        log.info("dead letter from %s: %s (%s)", topic, reason, exc)
        return dead_letter(
            data,
            source_topic=topic,
            reason=reason,
            error=exc,
            received_ms=now,
            source="mqtt",
            prefix=self.prefix,
        )


def node_key(group: str, edge_node: str) -> str:
    """The bus key of an edge node's session records (same as the processing partition key)."""
    return f"node/{group}/{edge_node}"


def _sample_time(payload: SparkplugPayload) -> int | None:
    """The newest timestamp among metrics that carry a value (session metrics left out), or None."""
    times = [
        metric.timestamp
        for metric in payload.metrics
        if metric.timestamp is not None
        and not metric.is_null
        and not (metric.name or "").startswith(NOT_TELEMETRY)
    ]
    return max(times) if times else None


def _peek_seq(data: bytes) -> int | None:
    """The seq field of a Sparkplug payload without resolving metrics (None if absent or unparsable)."""
    try:
        msg = pb.Payload.FromString(bytes(data))
    except Exception:  # malformed: decode_message reports it properly
        return None
    return msg.seq if msg.HasField("seq") else None


def _unit(metric: Metric) -> str:
    for name in UNIT_PROPERTIES:
        prop = metric.properties.get(name)
        if prop is not None and isinstance(prop.value, str):
            return prop.value
    return ""


def _set_value(record: m.TelemetryRecord, value: object) -> bool:
    """Put a scalar into the record's value oneof; False for values that are not telemetry."""
    if value is None:
        return True
    if isinstance(value, bool):
        record.bool_value = value
    elif isinstance(value, int):
        record.int_value = value
    elif isinstance(value, float):
        if math.isfinite(value):
            record.double_value = value
    elif isinstance(value, str):
        record.string_value = value
    else:
        return False
    return True
