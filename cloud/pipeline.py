"""The processing core both hosts call: bus records in, storage writes and alert records out.

The Faust worker (``cloud/worker``) and the embedded runner (``cloud/embedded``) differ only in
transport and state store. Both hand each key's records to :meth:`PipelineCore.apply`, which
decodes them, skips records already applied (by offset, so reprocessing after a crash is
idempotent), runs the pure :class:`Processor`, and says what to store and what to publish.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from cloud.bus_records import BusRecord, dead_letter
from cloud.errors import DecodeError
from cloud.processing.processor import Event, KeyState, Processor, StepResult
from cloud.processing.records import Alert, Tick
from cloud.proto_mapping import (
    action_from_proto,
    alert_to_proto,
    inspection,
    prediction_point,
    telemetry_events,
)
from cloud.storage.schema import Storable
from proto import kafka
from proto import messages as m
from proto.codec import decode, encode
from proto.errors import ContractError

log = logging.getLogger(__name__)

CONTROL = "iiot.v1.processing-control"
"""Internal topic keyed like the inputs: operator actions routed to the key owning the alert, and ticks."""
TICK_SCHEMA = b"tick"


@dataclass(frozen=True, slots=True)
class Inbound:
    """One bus record as a host received it; ``offset`` < 0 when the transport has none."""

    topic: str
    key: bytes
    value: bytes
    offset: int = -1
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one ``apply`` produced."""

    storables: tuple[Storable, ...] = ()
    alerts: tuple[Alert, ...] = ()
    publish: tuple[BusRecord, ...] = ()
    skipped: int = 0

    @property
    def dead_letters(self) -> tuple[BusRecord, ...]:
        """Records bound for the dead-letter topic."""
        return tuple(r for r in self.publish if r.topic.endswith(kafka.DEAD_LETTERS))


@dataclass(slots=True)
class _Decoded:
    events: list[Event] = field(default_factory=list)
    storables: list[Storable] = field(default_factory=list)


def tick_record(key: str, now_ms: int, prefix: str = "") -> BusRecord:
    """A control record advancing one key's event time."""
    return BusRecord(
        kafka.prefixed(CONTROL, prefix),
        key.encode(),
        str(now_ms).encode(),
        now_ms,
        ((kafka.HEADER_SCHEMA, TICK_SCHEMA),),
    )


def action_record(key: str, action: m.AlertAction, prefix: str = "") -> BusRecord:
    """A control record carrying an operator action to the key that owns the alert."""
    return BusRecord(
        kafka.prefixed(CONTROL, prefix),
        key.encode(),
        encode(action),
        action.requested_ms,
        (kafka.schema_header(m.AlertAction),),
    )


class PipelineCore:
    """Decode, deduplicate, process, and map the results to storage rows and bus records."""

    def __init__(self, processor: Processor | None = None, *, topic_prefix: str = "") -> None:
        self.processor = processor or Processor()
        self.prefix = topic_prefix
        self._kinds = {
            kafka.prefixed(kafka.TELEMETRY, topic_prefix): kafka.TELEMETRY,
            kafka.prefixed(kafka.PREDICTIONS, topic_prefix): kafka.PREDICTIONS,
            kafka.prefixed(kafka.DETECTIONS, topic_prefix): kafka.DETECTIONS,
            kafka.prefixed(CONTROL, topic_prefix): CONTROL,
        }

    @property
    def input_topics(self) -> tuple[str, ...]:
        """The (prefixed) topics the core consumes."""
        return tuple(self._kinds)

    def apply(self, key: str, state: KeyState, records: Iterable[Inbound]) -> tuple[KeyState, Outcome]:
        """Apply one key's records in order; records at or below the stored offset are skipped."""
        positions = dict(state.positions)
        decoded = _Decoded()
        dead: list[BusRecord] = []
        payloads: dict[int, bytes] = {}
        skipped = 0
        for record in records:
            if record.offset >= 0:
                if record.offset <= positions.get(record.topic, -1):
                    skipped += 1
                    continue
                positions[record.topic] = record.offset
            try:
                before = len(decoded.events)
                self._decode(record, decoded)
                for event in decoded.events[before:]:
                    payloads[id(event)] = record.value
            except (DecodeError, ContractError, ValueError) as exc:
                reason = exc.reason if isinstance(exc, DecodeError) else "decode"
                dead.append(self._dead(record, reason, exc))
        new_state, result = self.processor.step(key, replace(state, positions=positions), decoded.events)
        for action, why in result.rejected:
            raw = next((payloads[id(e)] for e in decoded.events if e is action), b"")
            dead.append(
                dead_letter(
                    raw,
                    source_topic=kafka.prefixed(CONTROL, self.prefix),
                    reason="action-rejected",
                    error=ValueError(why),
                    received_ms=action.at_ms,
                    source="kafka",
                    key=key.encode(),
                    prefix=self.prefix,
                )
            )
        return new_state, self._outcome(decoded, result, dead, skipped)

    def _outcome(self, decoded: _Decoded, result: StepResult, dead: list[BusRecord], skipped: int) -> Outcome:
        alerts = result.alerts
        publish = tuple(self.alert_record(a) for a in alerts) + tuple(dead)
        storables: tuple[Storable, ...] = (*decoded.storables, *result.aggregates, *alerts)
        return Outcome(storables, alerts, publish, skipped)

    def alert_record(self, alert: Alert) -> BusRecord:
        """An alert revision for the alerts topic, keyed by alert id (compaction keeps the newest)."""
        return BusRecord(
            kafka.prefixed(kafka.ALERTS, self.prefix),
            kafka.record_key(alert.alert_id),
            encode(alert_to_proto(alert)),
            alert.updated_ms,
            (kafka.schema_header(m.Alert), ("partition-key", alert.key.encode())),
        )

    def _decode(self, record: Inbound, into: _Decoded) -> None:
        kind = self._kinds.get(record.topic)
        if kind == kafka.TELEMETRY:
            for event in telemetry_events(decode(m.TelemetryBatch, record.value)):
                into.events.append(event)
                into.storables.append(event)
        elif kind == kafka.PREDICTIONS:
            point = prediction_point(decode(m.Prediction, record.value))
            into.events.append(point)
            into.storables.append(point)
        elif kind == kafka.DETECTIONS:
            frame = inspection(decode(m.DetectionEvent, record.value))
            into.events.append(frame)
            into.storables.append(frame)
        elif kind == CONTROL:
            schema = dict(record.headers).get(kafka.HEADER_SCHEMA, b"")
            if schema == TICK_SCHEMA:
                into.events.append(Tick(int(record.value.decode())))
            else:
                into.events.append(action_from_proto(decode(m.AlertAction, record.value)))
        else:
            raise DecodeError(f"no decoder for topic {record.topic!r}", reason="unknown-topic")

    def _dead(self, record: Inbound, reason: str, exc: BaseException) -> BusRecord:
        log.info("dead letter from %s: %s (%s)", record.topic, reason, exc)
        return dead_letter(
            record.value,
            source_topic=record.topic,
            reason=reason,
            error=exc,
            received_ms=0,
            source="kafka",
            key=record.key,
            prefix=self.prefix,
        )


def group_by_key(records: Sequence[Inbound]) -> dict[str, list[Inbound]]:
    """Records per key, order kept within a key."""
    out: dict[str, list[Inbound]] = {}
    for record in records:
        out.setdefault(record.key.decode("utf-8", "replace"), []).append(record)
    return out
