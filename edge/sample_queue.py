"""Sensor sample blocks on their way from a source's thread to the event loop: bounded, drop-oldest.

Samples matter more than frames, so the bound is generous; if the agent still falls that far
behind, the oldest blocks are dropped and counted rather than memory growing without end.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque

from edge.records import SensorSamples


class SampleQueue:
    """A SensorSink for sources: thread-safe `put_samples`, async `get`."""

    def __init__(self, maxsize: int = 10_000) -> None:
        if maxsize < 1:
            raise ValueError("maxsize must be at least 1")
        self.maxsize = maxsize
        self.dropped = 0
        self.received = 0
        self._items: deque[SensorSamples] = deque()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._event = asyncio.Event()

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """Wake `get` on this loop (call from the loop before sources start)."""
        self._loop = loop
        self._event = asyncio.Event()

    def put_samples(self, samples: SensorSamples) -> None:
        """Queue a block from any thread; the oldest goes when full."""
        with self._lock:
            if len(self._items) >= self.maxsize:
                self._items.popleft()
                self.dropped += 1
            self._items.append(samples)
            self.received += 1
        loop = self._loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._event.set)

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    async def get(self) -> SensorSamples:
        """The next block, waiting for one."""
        while True:
            with self._lock:
                if self._items:
                    return self._items.popleft()
                self._event.clear()
            await self._event.wait()
