"""Encoded JSON answers kept for the hot endpoints: one build serves every client.

* A generation number, bumped on every alert change, makes all entries stale at once: the next
  request rebuilds (concurrent requests for the same key wait for that one build).
* Past its time to live an entry is still served while a single background rebuild runs
  (stale-while-revalidate), so a burst of clients never queues behind the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CachedBody:
    """An encoded answer with its entity tag."""

    body: bytes
    etag: str
    generation: int
    built_at: float


def etag_of(body: bytes) -> str:
    """A strong entity tag for a body."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


class ResponseCache:
    """Key -> encoded body, invalidated by generation, refreshed after ``ttl_s``."""

    def __init__(self, ttl_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self.generation = 0
        self._entries: dict[str, CachedBody] = {}
        self._building: dict[tuple[str, int], asyncio.Future[CachedBody]] = {}
        self._tasks: set[asyncio.Task[CachedBody]] = set()
        self.hits = 0
        self.builds = 0

    def invalidate(self) -> None:
        """Every entry is out of date (an alert changed)."""
        self.generation += 1

    def put(self, key: str, body: bytes) -> CachedBody:
        """Store a freshly built body."""
        entry = CachedBody(body, etag_of(body), self.generation, self.clock())
        self._entries[key] = entry
        return entry

    async def get(self, key: str, build: Callable[[], Awaitable[bytes]]) -> CachedBody:
        """The cached body, rebuilt once if invalidated, refreshed in the background if old."""
        entry = self._entries.get(key)
        if entry is not None and entry.generation == self.generation:
            self.hits += 1
            if self.clock() - entry.built_at > self.ttl_s and (key, self.generation) not in self._building:
                self._start(key, build)
            return entry
        pending = self._building.get((key, self.generation))
        if pending is None or pending.done():
            pending = self._start(key, build)
        return await asyncio.shield(pending)

    def _start(self, key: str, build: Callable[[], Awaitable[bytes]]) -> asyncio.Future[CachedBody]:
        generation = self.generation

        async def run() -> CachedBody:
            try:
                body = await build()
                self.builds += 1
                entry = CachedBody(body, etag_of(body), generation, self.clock())
                if generation == self.generation:
                    self._entries[key] = entry
                return entry
            finally:
                self._building.pop((key, generation), None)

        task = asyncio.ensure_future(run())
        self._building[(key, generation)] = task
        self._tasks.add(task)
        task.add_done_callback(self._finished)
        return task

    def _finished(self, task: asyncio.Task[CachedBody]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()  # a failed background refresh is retried by the next request
