"""The Faust app: agents that run the pipeline core over the Kafka topics.

* ``process`` consumes telemetry, predictions, detections and the internal control topic (all keyed
  by partition key and co-partitioned), in batches from ``stream.take_events``. Per key it loads the
  state from the ``processing-state`` table, applies the batch with :class:`PipelineCore`, writes
  storage and publishes alerts and dead letters (waiting for both), and only then stores the new
  state, whose per-topic offsets make a replay after a crash skip what was already applied.
* Each partition's records apply in offset order only (:mod:`cloud.worker.offset_guard`): after a
  rebalance Faust may hand over a record twice or jump over a stretch; repeats are dropped, and on
  a jump the partition is sought back to the first missing offset instead of skipping it.
* ``owners`` remembers which partition key owns each alert (from the alerts topic), and ``route``
  forwards operator actions (keyed by alert id) to that key on the control topic.
* A timer sends event-time ticks to keys that have edge nodes or shelved alerts.

Tables use the Kafka default partitioner on their keys (``use_partitioner``), the same one the
bridge's producer uses, so a key's state lives in the partition number its input records use.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

import faust

from cloud.bus_records import BusRecord, dead_letter
from cloud.pipeline import CONTROL, Inbound, Outcome, PipelineCore, action_record, group_by_key, tick_record
from cloud.processing.processor import KeyState, Processor
from cloud.processing.records import AlertState
from cloud.processing.state_codec import key_state_from_json, key_state_to_json
from cloud.settings import WorkerSettings
from cloud.storage.base import TelemetrySink
from cloud.worker.offset_guard import OffsetGuard
from proto import kafka
from proto import messages as m
from proto.codec import decode
from proto.errors import ContractError

log = logging.getLogger(__name__)


def raw() -> Any:
    """Bytes in, bytes out (a new schema each time: faust objects adopt and change the one they get)."""
    return faust.Schema(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")


def raw_table(app: faust.App, name: str, partitions: int) -> Any:
    """A table of bytes keyed by the raw Kafka key, so its changelog partition is the input's partition."""
    table: Any = app.Table(
        name, default=None, partitions=partitions, use_partitioner=True, key_type=bytes, value_type=bytes
    )
    # Table derives its changelog serializers from the types ("json" for bytes); keys must stay raw
    # so the default partitioner puts a key's state where the key's input records are.
    table.key_serializer = "raw"
    table.value_serializer = "raw"
    return table


class Worker:
    """The agents' logic, separate from the Faust wiring so that it reads top to bottom."""

    def __init__(self, app: faust.App, settings: WorkerSettings, storage: TelemetrySink) -> None:
        self.app = app
        self.settings = settings
        self.storage = storage
        self.prefix = settings.kafka_topic_prefix
        self.core = PipelineCore(Processor(settings.processing_config()), topic_prefix=self.prefix)
        self.inputs = app.topic(*self.core.input_topics, schema=raw())
        self.alerts = app.topic(kafka.prefixed(kafka.ALERTS, self.prefix), schema=raw())
        self.actions = app.topic(kafka.prefixed(kafka.ALERT_ACTIONS, self.prefix), schema=raw())
        self.state = raw_table(app, "processing-state", settings.kafka_partitions)
        self.owners = raw_table(app, "alert-owner", settings.kafka_partitions)
        self.watermark_ms: int | None = None
        self.guard: OffsetGuard[Any] = OffsetGuard()
        self._generation: int | None = None
        self._topics: dict[str, Any] = {}

    # ----------------------------------------------------------------- process

    async def process_batch(self, events: Sequence[Any]) -> Outcome:
        """Apply one batch: storage and publishing first, then the new states."""
        events = await self.in_offset_order(events)
        inbound = []
        control = kafka.prefixed(CONTROL, self.prefix)
        for event in events:
            msg = event.message
            inbound.append(
                Inbound(
                    msg.topic,
                    bytes(msg.key or b""),
                    bytes(msg.value or b""),
                    msg.offset,
                    tuple((k, bytes(v)) for k, v in (msg.headers or ())),
                )
            )
            if msg.topic != control and msg.timestamp:
                ts = round(msg.timestamp * 1000)
                self.watermark_ms = ts if self.watermark_ms is None else max(self.watermark_ms, ts)
        new_states: dict[bytes, KeyState] = {}
        storables: list[Any] = []
        publish: list[BusRecord] = []
        skipped = 0
        for key, records in group_by_key(inbound).items():
            raw_key = key.encode()
            stored = self.state.get(raw_key)
            state = key_state_from_json(stored) if stored else KeyState()
            new_states[raw_key], outcome = self.core.apply(key, state, records)
            storables.extend(outcome.storables)
            publish.extend(outcome.publish)
            skipped += outcome.skipped
        if storables:
            await asyncio.to_thread(self.storage.write, storables)
        await self.publish(publish)
        for raw_key, state in new_states.items():
            self.state[raw_key] = key_state_to_json(state)
        log.debug("batch: %d records, %d stored, %d published", len(inbound), len(storables), len(publish))
        if skipped:
            log.info("skipped %d records already applied", skipped)
        return Outcome(tuple(storables), (), tuple(publish), skipped)

    async def in_offset_order(self, events: Sequence[Any]) -> list[Any]:
        """The batch's events that continue their partitions; seek back over any jump.

        See :mod:`cloud.worker.offset_guard`. Held-back events are marked acked without being
        acked, so Faust neither commits their offsets nor waits for them; they come again after
        the seek (``seek_wait`` seeks in the consumer's thread and resets Faust's read offset).
        """
        generation = self.app.consumer_generation_id
        if generation != self._generation:
            self._generation = generation
            self.guard.reset()
        admission = self.guard.admit((event.message.tp, event.message.offset) for event in events)
        for index in admission.held:
            events[index].message.acked = True
        if admission.rewind:
            log.warning(
                "records out of offset order after a jump; %d held back, reading again from %s",
                len(admission.held),
                ", ".join(f"{tp.topic}[{tp.partition}]@{offset}" for tp, offset in admission.rewind.items()),
            )
            # A partition lost meanwhile (a rebalance under way) is read again by its new owner.
            assigned = self.app.consumer.assignment()
            await self.app.consumer.seek_wait({tp: o for tp, o in admission.rewind.items() if tp in assigned})
        if admission.repeats:
            log.info("dropped %d records seen before in this assignment", admission.repeats)
        return [events[index] for index in admission.apply]

    async def publish(self, records: Sequence[BusRecord]) -> None:
        """Send records and wait until Kafka has every one."""
        futures = []
        for r in records:
            topic = self._topics.get(r.topic)
            if topic is None:
                topic = self._topics[r.topic] = self.app.topic(r.topic, schema=raw())
            futures.append(
                await topic.send(
                    key=r.key, value=r.value, timestamp=r.timestamp_ms / 1000, headers=list(r.headers)
                )
            )
        if futures:
            await asyncio.gather(*futures)

    # ----------------------------------------------------------------- alerts and actions

    def remember_owner(self, alert_id: bytes, headers: Sequence[tuple[str, bytes]]) -> None:
        """Note which partition key owns an alert (header ``partition-key`` of the alert record)."""
        owner = dict(headers).get("partition-key")
        if owner:
            self.owners[alert_id] = owner

    async def route_action(self, key: bytes, value: bytes, topic: str) -> None:
        """Forward an operator action to the key owning its alert, or dead-letter it."""
        try:
            action = decode(m.AlertAction, value)
        except ContractError as exc:
            await self.publish(
                [
                    dead_letter(
                        value,
                        source_topic=topic,
                        reason="decode",
                        error=exc,
                        received_ms=0,
                        source="kafka",
                        key=key,
                        prefix=self.prefix,
                    )
                ]
            )
            return
        owner = self.owners.get(action.alert_id.encode())
        if owner is None:
            why = ValueError(f"no owner known for alert {action.alert_id}")
            await self.publish(
                [
                    dead_letter(
                        value,
                        source_topic=topic,
                        reason="unknown-alert",
                        error=why,
                        received_ms=action.requested_ms,
                        source="kafka",
                        key=key,
                        prefix=self.prefix,
                    )
                ]
            )
            return
        await self.publish([action_record(bytes(owner).decode(), action, self.prefix)])

    async def tick(self) -> None:
        """Send an event-time tick to every local key with edge nodes or shelved alerts."""
        if self.watermark_ms is None:
            return
        ticks = []
        for raw_key, raw in list(self.state.items()):
            if not raw:
                continue
            state = key_state_from_json(raw)
            if state.nodes or any(a.state is AlertState.SHELVED for a in state.alerts.open.values()):
                ticks.append(tick_record(bytes(raw_key).decode(), self.watermark_ms, self.prefix))
        await self.publish(ticks)


def create_app(settings: WorkerSettings, storage: TelemetrySink) -> tuple[faust.App, Worker]:
    """The Faust app with its agents, tables and timer."""
    app = faust.App(
        settings.worker_app_id,
        broker=f"kafka://{settings.kafka_bootstrap.split(',')[0]}",
        store=settings.worker_store,
        datadir=settings.worker_data_dir,
        topic_partitions=settings.kafka_partitions,
        topic_replication_factor=1,
        table_standby_replicas=0,
        processing_guarantee="at_least_once",
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        web_enabled=False,
        web_port=settings.worker_web_port,
        broker_commit_every=settings.worker_take * 4,
        broker_commit_interval=2.0,
        broker_session_timeout=settings.worker_session_timeout,
        broker_heartbeat_interval=min(3.0, settings.worker_session_timeout / 3),
    )
    worker = Worker(app, settings, storage)

    @app.agent(worker.inputs, name="process")
    async def process(stream: Any) -> None:
        async for events in stream.take_events(settings.worker_take, within=settings.worker_within):
            await worker.process_batch(events)

    @app.agent(worker.alerts, name="owners")
    async def owners(stream: Any) -> None:
        async for event in stream.events():
            worker.remember_owner(bytes(event.message.key or b""), event.message.headers or ())

    @app.agent(worker.actions, name="route")
    async def route(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            await worker.route_action(bytes(msg.key or b""), bytes(msg.value or b""), msg.topic)

    @app.timer(interval=settings.worker_tick)
    async def tick() -> None:
        await worker.tick()

    return app, worker
