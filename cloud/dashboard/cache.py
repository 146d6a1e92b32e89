"""Encoded JSON answers kept for the hot endpoints: one build serves every client.

* Invalidation bumps a generation, for every key or for the keys a change touches (an alert on
  machine m1 makes the alert lists, the overview and m1's detail stale, not m2's). The next
  request for an invalidated key starts its rebuild at once and, while it runs (milliseconds),
  gets the previous answer; a key never built before is awaited (one build for all waiters).
* Past its time to live an entry is still served while a single background rebuild runs
  (stale-while-revalidate), so a burst of clients never queues behind the database.
* :meth:`peek` answers from memory only (no build function needed), for the web adapter's fast path.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

Builder = Callable[[], Awaitable[bytes]]
Generation = tuple[int, int]


@dataclass(frozen=True, slots=True)
class CachedBody:
    """An encoded answer with its entity tag."""

    body: bytes
    etag: str
    generation: Generation
    built_at: float


def etag_of(body: bytes) -> str:
    """A strong entity tag for a body."""
    return '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'


class ResponseCache:
    """Key -> encoded body, invalidated by generation, refreshed after ``ttl_s``."""

    def __init__(
        self, ttl_s: float, clock: Callable[[], float] = time.monotonic, refreshers: int = 2
    ) -> None:
        self.ttl_s = ttl_s
        self.clock = clock
        self.generation = 0
        self._key_generations: dict[str, int] = {}
        self._entries: dict[str, CachedBody] = {}
        self._builders: dict[str, Builder] = {}
        self._building: dict[tuple[str, Generation], asyncio.Future[CachedBody]] = {}
        self._tasks: set[asyncio.Task[CachedBody]] = set()
        self._refreshers = asyncio.Semaphore(refreshers)  # background refreshes at once
        self.hits = 0
        self.builds = 0

    def _gen(self, key: str) -> Generation:
        return self.generation, self._key_generations.get(key, 0)

    def invalidate(self, match: Callable[[str], bool] | None = None) -> None:
        """Every entry (or those whose key ``match`` accepts) is out of date."""
        if match is None:
            self.generation += 1
            return
        for key in {*self._entries, *(k for k, _ in self._building)}:
            if match(key):
                self._key_generations[key] = self._key_generations.get(key, 0) + 1

    def put(self, key: str, body: bytes) -> CachedBody:
        """Store a freshly built body."""
        entry = CachedBody(body, etag_of(body), self._gen(key), self.clock())
        self._entries[key] = entry
        return entry

    def peek(self, key: str) -> CachedBody | None:
        """The newest entry, starting its rebuild if invalidated (urgent) or old (background)."""
        entry = self._entries.get(key)
        build = self._builders.get(key)
        if entry is None or build is None:
            return None
        generation = self._gen(key)
        if entry.generation != generation:
            if (key, generation) not in self._building:
                self._start(key, build)
        elif self.clock() - entry.built_at > self.ttl_s and (key, generation) not in self._building:
            self._start(key, build, background=True)
        self.hits += 1
        return entry

    async def get(self, key: str, build: Builder) -> CachedBody:
        """The cached body, rebuilt once if invalidated, refreshed in the background if old."""
        entry = self.peek(key)
        if entry is not None:
            return entry
        pending = self._building.get((key, self._gen(key)))
        if pending is None or pending.done():
            pending = self._start(key, build)
        return await asyncio.shield(pending)

    def _start(self, key: str, build: Builder, *, background: bool = False) -> asyncio.Future[CachedBody]:
        generation = self._gen(key)

        async def run() -> CachedBody:
            try:
                if background:  # a few at a time: serving from memory must not starve behind rebuilds
                    async with self._refreshers:
                        body = await build()
                else:
                    body = await build()
                self.builds += 1
                self._builders[key] = build
                entry = CachedBody(body, etag_of(body), generation, self.clock())
                if generation == self._gen(key):
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
