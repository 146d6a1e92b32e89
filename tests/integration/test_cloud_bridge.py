"""The bridge against real Mosquitto and Kafka: records keyed by machine with event-time timestamps,
rebirth requests on seq gaps, and malformed input on the dead-letter topic with its reason.

Fails (never skips) when a service is down: the ``stack`` fixture checks them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from stack_settings import StackSettings

from cloud.bridge.edge_feed import EdgeNodeScript
from cloud.bridge.service import run_bridge
from cloud.mqtt_client import MqttClient, MqttOptions
from cloud.processing.records import NodeEvent, TelemetryPoint
from cloud.proto_mapping import telemetry_events
from cloud.settings import BridgeSettings
from proto import kafka
from proto import messages as m
from proto.codec import decode
from proto.sparkplug import decode_payload, decode_state, state_topic

T0 = 1_700_000_000_000
Record = Any  # aiokafka.structs.ConsumerRecord


def bridge_settings(stack: StackSettings, prefix: str, group: str) -> BridgeSettings:
    user = stack.mqtt_user("bridge")
    return BridgeSettings(
        mqtt_host=stack.mqtt_host,
        mqtt_port=stack.mqtt_port,
        mqtt_username=user.username,
        mqtt_password=user.password,
        mqtt_client_id=f"bridge-test-{prefix}",
        mqtt_session_expiry_s=0,
        kafka_bootstrap=stack.kafka_bootstrap,
        kafka_topic_prefix=prefix,
        kafka_partitions=2,
        kafka_linger_ms=5,
        bridge_share_group=f"share-{prefix}",
        bridge_sparkplug_group=group,
        bridge_heartbeat="1h",
        bridge_rebirth_interval="0s",
        bridge_primary_host_id=f"host-{prefix}",
    )


def edge_options(stack: StackSettings, name: str) -> MqttOptions:
    user = stack.mqtt_user("edge")
    return MqttOptions(stack.mqtt_host, stack.mqtt_port, user.username, user.password, client_id=name)


async def collect(
    stack: StackSettings, topics: list[str], done: Callable[[list[Record]], bool], wait_s: float = 30.0
) -> list[Record]:
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=stack.kafka_bootstrap, auto_offset_reset="earliest"
    )
    await consumer.start()
    got: list[Record] = []
    try:
        async with asyncio.timeout(wait_s):
            while not done(got):
                batches = await consumer.getmany(timeout_ms=500)
                for records in batches.values():
                    got.extend(records)
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return got


@pytest.fixture
async def bridge(stack: StackSettings) -> AsyncIterator[tuple[str, str]]:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    group = f"g{prefix}"
    stop = asyncio.Event()
    task = asyncio.create_task(run_bridge(bridge_settings(stack, prefix, group), stop))
    await asyncio.sleep(1.5)  # topics created, subscribed
    if task.done():
        task.result()
    yield prefix, group
    stop.set()
    await asyncio.wait_for(task, 15)


async def test_sparkplug_to_kafka_keyed_by_machine_with_event_time(
    stack: StackSettings, bridge: tuple[str, str]
) -> None:
    prefix, group = bridge
    node = EdgeNodeScript(group, "edge1", {"press1": {"temperature": 20.0}, "pump2": {"pressure": 3.0}})
    async with MqttClient(edge_options(stack, f"edge-{prefix}")) as edge:
        for topic, payload in node.birth(T0):
            await edge.publish(topic, payload)
        for i in range(1, 6):
            await edge.publish(*node.data("press1", {"temperature": 20.0 + i}, T0 + i * 1000))
        await edge.publish(*node.detection("cam1", T0 + 500, 1, [("scratch", 0.9)], machine="press1"))
    telemetry = kafka.prefixed(kafka.TELEMETRY, prefix)
    detections = kafka.prefixed(kafka.DETECTIONS, prefix)
    records = await collect(stack, [telemetry, detections], lambda got: len(got) >= 9)
    by_topic: dict[str, list[Record]] = {}
    for r in records:
        by_topic.setdefault(r.topic, []).append(r)
    press = [r for r in by_topic[telemetry] if r.key == b"press1"]
    assert len(press) == 6  # birth + 5 data
    points = [e for r in press for e in telemetry_events(decode(m.TelemetryBatch, r.value))]
    assert [(p.ts_ms, p.value) for p in points if isinstance(p, TelemetryPoint)] == [
        (T0 + i * 1000, 20.0 + i) for i in range(6)
    ]
    assert [r.timestamp for r in press] == [T0 + i * 1000 for i in range(6)]
    assert len({r.partition for r in press}) == 1
    session = [r for r in by_topic[telemetry] if r.key == f"node/{group}/edge1".encode()]
    (birth,) = [e for r in session for e in telemetry_events(decode(m.TelemetryBatch, r.value))]
    assert birth == NodeEvent(group, "edge1", T0, "birth", 0)
    (det,) = by_topic[detections]
    assert (det.key, det.timestamp) == (b"press1", T0 + 500)


async def test_seq_gap_is_answered_with_a_rebirth_request(
    stack: StackSettings, bridge: tuple[str, str]
) -> None:
    prefix, group = bridge
    node = EdgeNodeScript(group, "edge7", {"m7": {"speed": 1500.0}})
    ncmd = f"spBv1.0/{group}/NCMD/edge7"
    async with MqttClient(edge_options(stack, f"edge7-{prefix}"), [ncmd]) as edge:
        for topic, payload in node.birth(T0):
            await edge.publish(topic, payload)
        node.skip(3)
        await edge.publish(*node.data("m7", {"speed": 1490.0}, T0 + 1000))
        command = await edge.get(wait_s=15)
        assert command is not None
        assert command.topic == ncmd
        assert decode_payload(command.payload).rebirth_requested
        edge.ack(command)


async def test_malformed_messages_reach_the_dead_letter_topic_with_the_reason(
    stack: StackSettings, bridge: tuple[str, str]
) -> None:
    prefix, group = bridge
    bad = {
        f"spBv1.0/{group}/NBIRTH/edgeX": b"\xff\x00 not a payload",
        f"iiot/v1/{group}/edgeX/cam1/detections": b"\x0a\x05garbage-after-field",
    }
    async with MqttClient(edge_options(stack, f"edgeX-{prefix}")) as edge:
        for topic, payload in bad.items():
            await edge.publish(topic, payload)
    letters = await collect(stack, [kafka.prefixed(kafka.DEAD_LETTERS, prefix)], lambda got: len(got) >= 2)
    assert len(letters) == 2
    seen = {}
    for record in letters:
        headers = dict(record.headers)
        body = decode(m.DeadLetter, record.value)
        assert headers[kafka.HEADER_REASON] == body.reason.encode()
        assert body.payload == bad[body.topic]
        assert headers[kafka.HEADER_SOURCE_TOPIC] == body.topic.encode()
        seen[body.topic] = body.reason
    assert seen == dict.fromkeys(bad, "decode")


async def retained_state(stack: StackSettings, host_id: str) -> bytes | None:
    """The retained STATE payload of a host, read by a fresh subscriber."""
    async with MqttClient(
        edge_options(stack, f"state-reader-{uuid.uuid4().hex[:6]}"), [state_topic(host_id)]
    ) as c:
        message = await c.get(wait_s=5)
        return None if message is None else message.payload


async def test_bridge_is_the_primary_host_online_while_it_runs(stack: StackSettings) -> None:
    prefix = f"t{uuid.uuid4().hex[:8]}"
    stop = asyncio.Event()
    task = asyncio.create_task(run_bridge(bridge_settings(stack, prefix, f"g{prefix}"), stop))
    await asyncio.sleep(1.5)
    online = await retained_state(stack, f"host-{prefix}")
    stop.set()
    await asyncio.wait_for(task, 15)
    offline = await retained_state(stack, f"host-{prefix}")
    assert online is not None
    assert offline is not None
    assert decode_state(online).online is True
    assert decode_state(offline).online is False
    # Sparkplug 3.0: the death (and will) carries the birth's timestamp
    assert decode_state(offline).timestamp == decode_state(online).timestamp
