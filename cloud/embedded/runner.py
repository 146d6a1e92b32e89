"""The embedded runner: the bridge's normalizer and the pipeline core in one process, no Kafka.

MQTT messages become the same bus records the bridge would produce; instead of Kafka they go
straight to :class:`PipelineCore` with per-key state kept in memory, and the results go to the
storage (SQLite by default). Same code, same alerts as the Faust path on the same input.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

from cloud.bridge.normalize import MqttCommand, Normalizer
from cloud.bus_records import BusRecord
from cloud.mqtt_client import MqttClient
from cloud.pipeline import Inbound, Outcome, PipelineCore, action_record, group_by_key, tick_record
from cloud.processing.processor import KeyState
from cloud.processing.records import Alert, OperatorAction
from cloud.proto_mapping import action_to_proto
from cloud.storage.base import TelemetrySink
from proto import kafka

log = logging.getLogger(__name__)


@dataclass(slots=True)
class EmbeddedStats:
    """Counters of the embedded runner."""

    messages: int = 0
    records: int = 0
    alerts: int = 0
    dead_letters: int = 0
    points: int = 0


@dataclass(slots=True)
class EmbeddedResult:
    """What one batch of MQTT messages produced."""

    alerts: list[Alert] = field(default_factory=list)
    dead_letters: list[BusRecord] = field(default_factory=list)
    commands: list[MqttCommand] = field(default_factory=list)


class EmbeddedRunner:
    """Normalizer + pipeline core + storage, driven by MQTT messages or by a test."""

    def __init__(
        self, core: PipelineCore, storage: TelemetrySink, normalizer: Normalizer | None = None
    ) -> None:
        self.core = core
        self.storage = storage
        self.normalizer = normalizer or Normalizer(topic_prefix=core.prefix)
        self.states: dict[str, KeyState] = {}
        self.stats = EmbeddedStats()
        self.watermark_ms: int | None = None
        self._owners: dict[str, str] = {}

    def handle(self, messages: Sequence[tuple[str, bytes]], received_ms: int) -> EmbeddedResult:
        """Process a batch of (topic, payload) MQTT messages."""
        result = EmbeddedResult()
        records: list[BusRecord] = []
        for topic, payload in messages:
            out = self.normalizer.handle(topic, payload, received_ms)
            records.extend(out.records)
            result.commands.extend(out.commands)
        self.stats.messages += len(messages)
        self._run(records, result)
        return result

    def act(self, action: OperatorAction) -> EmbeddedResult:
        """Apply an operator action to the key that owns the alert."""
        result = EmbeddedResult()
        key = self._owners.get(action.alert_id)
        if key is None:
            log.warning("operator action on unknown alert %s", action.alert_id)
            return result
        self._run([action_record(key, action_to_proto(action), self.core.prefix)], result)
        return result

    def tick(self, now_ms: int | None = None) -> EmbeddedResult:
        """Advance event time (default: the newest seen) for every key: stale nodes, expired shelves."""
        result = EmbeddedResult()
        now = now_ms if now_ms is not None else self.watermark_ms
        if now is not None:
            self._run([tick_record(key, now, self.core.prefix) for key in sorted(self.states)], result)
        return result

    def _run(self, records: Sequence[BusRecord], result: EmbeddedResult) -> None:
        inbound = []
        for r in records:
            if r.topic.endswith(kafka.DEAD_LETTERS):
                result.dead_letters.append(r)
                continue
            inbound.append(Inbound(r.topic, r.key, r.value, -1, r.headers))
            if not r.topic.endswith("processing-control"):
                self.watermark_ms = (
                    r.timestamp_ms if self.watermark_ms is None else max(self.watermark_ms, r.timestamp_ms)
                )
        self.stats.records += len(inbound)
        outcomes: list[Outcome] = []
        for key, items in group_by_key(inbound).items():
            self.states[key], outcome = self.core.apply(key, self.states.get(key, KeyState()), items)
            outcomes.append(outcome)
        storables = [s for o in outcomes for s in o.storables]
        if storables:
            self.stats.points += self.storage.write(storables)
        for outcome in outcomes:
            for alert in outcome.alerts:
                self._owners[alert.alert_id] = alert.key
            result.alerts.extend(outcome.alerts)
            result.dead_letters.extend(outcome.dead_letters)
        self.stats.alerts += len(result.alerts)
        self.stats.dead_letters += len(result.dead_letters)


async def run_embedded(
    runner: EmbeddedRunner, mqtt: MqttClient, stop: asyncio.Event, *, tick_s: float = 1.0, batch: int = 500
) -> None:
    """Feed the runner from an MQTT client until ``stop``; tick event time every ``tick_s`` wall seconds."""
    loop = asyncio.get_running_loop()
    next_tick = loop.time() + tick_s
    while not stop.is_set():
        first = await mqtt.get(wait_s=min(0.5, tick_s))
        messages = [first] if first is not None else []
        while first is not None and len(messages) < batch:
            more = mqtt.get_nowait()
            if more is None:
                break
            messages.append(more)
        if messages:
            now_ms = int(time.time() * 1000)
            result = await asyncio.to_thread(runner.handle, [(m.topic, m.payload) for m in messages], now_ms)
            for command in result.commands:
                await mqtt.publish(command.topic, command.payload, command.qos)
            for message in messages:
                mqtt.ack(message)
        if loop.time() >= next_tick:
            next_tick = loop.time() + tick_s
            await asyncio.to_thread(runner.tick)
