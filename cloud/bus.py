"""The bus a producer writes records to: Kafka in production, an in-process queue when embedded.

One method: ``send(records)`` returns when every record is durably accepted (Kafka: acks=all).
Implementations: :class:`cloud.kafka_bus.KafkaSink` and :class:`MemoryBus` (here, for the
embedded runner and tests).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from cloud.bus_records import BusRecord


@runtime_checkable
class RecordSink(Protocol):
    """Accepts records; returns once they are stored by the bus."""

    async def send(self, records: Sequence[BusRecord]) -> None:
        """Store records in order per key."""
        ...


class MemoryBus:
    """An in-process bus: records go to an asyncio queue (unbounded) and a per-topic log."""

    def __init__(self, *, keep: bool = False) -> None:
        self.queue: asyncio.Queue[BusRecord] = asyncio.Queue()
        self.keep = keep
        self.log: dict[str, list[BusRecord]] = {}

    async def send(self, records: Sequence[BusRecord]) -> None:
        """Queue the records (and keep them per topic when ``keep``)."""
        for record in records:
            if self.keep:
                self.log.setdefault(record.topic, []).append(record)
            self.queue.put_nowait(record)
