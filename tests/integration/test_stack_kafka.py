"""Kafka of the local stack: a record keeps its key, value and event-time timestamp."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import TopicPartition
from stack_settings import StackSettings

EVENT_TIME_MS = 1_700_000_000_123  # an event time far from the wall clock, as a replayed twin sends


async def test_record_keeps_key_value_and_event_time(stack: StackSettings) -> None:
    """Produce with an explicit timestamp and key to a new (auto-created) topic, consume it back."""
    topic = f"it-stack-{uuid.uuid4().hex[:12]}"
    records = [(f"machine-{i % 2}".encode(), f"sample-{i}".encode(), EVENT_TIME_MS + i) for i in range(4)]
    async with AIOKafkaProducer(bootstrap_servers=stack.kafka_bootstrap, acks="all") as producer:
        sent = [await producer.send_and_wait(topic, value=v, key=k, timestamp_ms=ts) for k, v, ts in records]
        partitions = sorted(await producer.partitions_for(topic))
    assert len(partitions) == 4  # num.partitions of the stack's broker
    by_key = {}
    for (key, _, _), meta in zip(records, sent, strict=True):
        by_key.setdefault(key, set()).add(meta.partition)
    assert all(len(parts) == 1 for parts in by_key.values())  # one machine, one partition

    consumer = AIOKafkaConsumer(
        bootstrap_servers=stack.kafka_bootstrap, enable_auto_commit=False, auto_offset_reset="earliest"
    )
    async with consumer:
        consumer.assign([TopicPartition(topic, p) for p in partitions])
        received = []
        async with asyncio.timeout(20):
            while len(received) < len(records):
                batch = await consumer.getmany(timeout_ms=1000)
                received.extend(msg for msgs in batch.values() for msg in msgs)
    got = sorted((msg.key, msg.value, msg.timestamp, msg.timestamp_type) for msg in received)
    assert got == sorted((key, value, ts, 0) for key, value, ts in records)  # 0: CreateTime
