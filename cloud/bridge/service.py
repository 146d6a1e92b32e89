"""The bridge service: MQTT shared subscriptions in, Kafka out, acknowledging MQTT only after Kafka has it."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Sequence

from cloud.bridge.normalize import BridgeOutput, Normalizer
from cloud.bus import RecordSink
from cloud.errors import BusError
from cloud.mqtt_client import MqttClient, MqttMessage, MqttWill
from cloud.processing.windows import parse_duration_ms
from cloud.retry import RetryPolicy, retry_async
from cloud.settings import BridgeSettings
from proto import kafka
from proto.sparkplug import NAMESPACE, HostState, encode_state, state_topic
from proto.topics import detections_filter

log = logging.getLogger(__name__)


def host_state(host_id: str, online: bool, timestamp_ms: int) -> MqttWill:
    """The retained Sparkplug 3.0 STATE of a primary host (birth, death and will share a timestamp)."""
    payload = encode_state(HostState(online=online, timestamp=timestamp_ms))
    return MqttWill(state_topic(host_id), payload, qos=1, retain=True)


def subscriptions(share_group: str, sparkplug_group: str = "+") -> list[str]:
    """Topic filters of the bridge, shared (``$share/{group}/...``) so that bridges scale out."""
    filters = [f"{NAMESPACE}/{sparkplug_group}/#", detections_filter(group_id=sparkplug_group)]
    return [f"$share/{share_group}/{f}" if share_group else f for f in filters]


class BridgeService:
    """Moves batches of MQTT messages through the normalizer to the bus."""

    def __init__(
        self,
        normalizer: Normalizer,
        mqtt: MqttClient,
        sink: RecordSink,
        *,
        batch: int = 500,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.normalizer = normalizer
        self.mqtt = mqtt
        self.sink = sink
        self.batch = batch
        self.retry = retry or RetryPolicy(attempts=10, max_delay_s=30.0)
        self.clock = clock

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop`` is set: take what the broker delivered, normalize, produce, acknowledge."""
        while not stop.is_set():
            first = await self.mqtt.get(wait_s=0.5)
            if first is None:
                continue
            messages = [first]
            while len(messages) < self.batch:
                more = self.mqtt.get_nowait()
                if more is None:
                    break
                messages.append(more)
            await self.process(messages)

    async def process(self, messages: Sequence[MqttMessage]) -> BridgeOutput:
        """Normalize and produce one batch; acknowledge the MQTT messages once Kafka has the records."""
        now = int(self.clock() * 1000)
        outs = [self.normalizer.handle(msg.topic, msg.payload, now) for msg in messages]
        records = tuple(r for out in outs for r in out.records)
        commands = tuple(c for out in outs for c in out.commands)
        if records:
            await retry_async(lambda: self.sink.send(records), self.retry, what="Kafka produce")
        for command in commands:
            try:
                await self.mqtt.publish(command.topic, command.payload, command.qos)
                log.info("asked %s for a rebirth", command.topic)
            except BusError as exc:
                log.warning("rebirth request on %s failed: %s", command.topic, exc)
        for msg in messages:
            self.mqtt.ack(msg)
        return BridgeOutput(records, commands)


async def run_bridge(settings: BridgeSettings, stop: asyncio.Event) -> None:
    """Run one bridge until ``stop``: create topics, connect MQTT and Kafka, move messages."""
    from cloud.kafka_bus import KafkaOptions, KafkaSink, ensure_topics, topic_configs

    prefix = settings.kafka_topic_prefix
    topics = [
        kafka.prefixed(t, prefix)
        for t in (kafka.TELEMETRY, kafka.PREDICTIONS, kafka.DETECTIONS, kafka.DEAD_LETTERS)
    ]
    await ensure_topics(
        settings.kafka_bootstrap, topics, partitions=settings.kafka_partitions, configs=topic_configs(prefix)
    )
    normalizer = Normalizer(
        topic_prefix=prefix,
        heartbeat_ms=parse_duration_ms(settings.bridge_heartbeat),
        rebirth_interval_ms=parse_duration_ms(settings.bridge_rebirth_interval),
    )
    kafka_options = KafkaOptions(
        bootstrap=settings.kafka_bootstrap,
        client_id="iiot-bridge",
        linger_ms=settings.kafka_linger_ms,
        max_batch_bytes=settings.kafka_max_batch_bytes,
        request_timeout_ms=settings.kafka_request_timeout_ms,
    )
    filters = subscriptions(settings.bridge_share_group, settings.bridge_sparkplug_group)
    mqtt_options = settings.mqtt_options("bridge")
    host_id = settings.bridge_primary_host_id
    born_ms = int(time.time() * 1000)
    if host_id:
        mqtt_options = dataclasses.replace(mqtt_options, will=host_state(host_id, False, born_ms))
    async with KafkaSink(kafka_options) as sink, MqttClient(mqtt_options, filters) as mqtt:
        if host_id:
            online = host_state(host_id, True, born_ms)
            await mqtt.publish(online.topic, online.payload, online.qos, retain=True)
        log.info("bridge up: %s -> %s (primary host %r)", filters, settings.kafka_bootstrap, host_id)
        try:
            await BridgeService(normalizer, mqtt, sink, batch=settings.bridge_batch).run(stop)
        finally:
            if host_id:
                offline = host_state(host_id, False, born_ms)
                await mqtt.publish(offline.topic, offline.payload, offline.qos, retain=True)
        log.info("bridge stopping: %s", normalizer.stats)
