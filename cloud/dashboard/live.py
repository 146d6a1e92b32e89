"""The live side: one internal subscription to the pipeline (:class:`LiveFeed`), fanned out to every page.

Why: a dashboard on every screen of a plant must not become N consumers of Kafka or N pollers of
the database. The service owns exactly one feed; :class:`LiveHub` copies each event, already
encoded once, into a bounded queue per open page. A page too slow to drain its queue is dropped
(its EventSource reconnects and resynchronizes), so one stuck browser never holds the others back.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from cloud.dashboard.frames import DefectFrame
from cloud.processing.records import Alert

LiveEvent = Alert | DefectFrame


@runtime_checkable
class LiveFeed(Protocol):
    """What the pipeline emits, as one async stream: alert revisions and inspected frames.

    Implementations: Kafka (alerts + detections topics), in-process memory (embedded runner),
    a storage watcher (read-only deployments). ``events`` is iterated by one task only.
    """

    def events(self) -> AsyncIterator[LiveEvent]:
        """Alert revisions and frames, as they arrive; ends when the feed is closed."""
        ...


@dataclass(frozen=True, slots=True)
class Message:
    """One server-sent event: an id, an event name and its JSON text."""

    id: int
    event: str
    data: str


@dataclass(eq=False, slots=True)
class Subscriber:
    """One open page's queue; ``None`` in it ends the stream (fell behind, or the server stops)."""

    queue: asyncio.Queue[Message | None]
    dropped: bool = False

    def end(self) -> None:
        """Discard what is queued and end the stream."""
        self.dropped = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


class LiveHub:
    """Fan-out of encoded events to subscribers with bounded queues."""

    def __init__(self, queue_size: int = 256) -> None:
        self.queue_size = queue_size
        self.instance = secrets.token_hex(6)  # changes on restart: pages resynchronize
        self._ids = itertools.count(1)
        self._subscribers: set[Subscriber] = set()
        self.last_id = 0

    @property
    def subscribers(self) -> int:
        """How many pages are listening."""
        return len(self._subscribers)

    def subscribe(self) -> Subscriber:
        """A new page."""
        sub = Subscriber(asyncio.Queue(self.queue_size))
        self._subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        """A page went away."""
        self._subscribers.discard(sub)

    def publish(self, event: str, data: str) -> Message:
        """Queue one event for every page; pages whose queue is full are dropped."""
        self.last_id = next(self._ids)
        message = Message(self.last_id, event, data)
        for sub in list(self._subscribers):
            try:
                sub.queue.put_nowait(message)
            except asyncio.QueueFull:
                sub.end()
                self._subscribers.discard(sub)
        return message

    def close(self) -> None:
        """End every stream (the pages reconnect to whoever serves next)."""
        for sub in list(self._subscribers):
            sub.end()
        self._subscribers.clear()
