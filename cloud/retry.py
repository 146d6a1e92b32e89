"""Retry with exponential backoff for calls that raise retriable :class:`CloudError`s."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from cloud.errors import CloudError

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry: ``initial_s * factor**n``, capped, with optional jitter."""

    attempts: int = 6
    initial_s: float = 0.2
    factor: float = 2.0
    max_delay_s: float = 10.0
    jitter: float = 0.1

    def delays(self, rng: random.Random | None = None) -> Iterator[float]:
        """The waits between attempts (``attempts - 1`` of them)."""
        delay = self.initial_s
        for _ in range(max(self.attempts - 1, 0)):
            capped = min(delay, self.max_delay_s)
            spread = capped * self.jitter
            yield max(0.0, capped + (rng.uniform(-spread, spread) if rng and spread else 0.0))
            delay *= self.factor


def retry_call(
    fn: Callable[[], T],
    policy: RetryPolicy,
    *,
    what: str = "call",
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> T:
    """Call ``fn`` until it succeeds, re-raising a non-retriable error or the last retriable one."""
    delays = policy.delays(rng or random.Random())
    while True:
        try:
            return fn()
        except CloudError as exc:
            if not exc.retriable:
                raise
            delay = next(delays, None)
            if delay is None:
                raise
            log.warning("%s failed (%s); retrying in %.2f s", what, exc, delay)
            sleep(delay)


async def retry_async(
    fn: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    what: str = "call",
    rng: random.Random | None = None,
) -> T:
    """Await ``fn()`` until it succeeds, like :func:`retry_call`."""
    delays = policy.delays(rng or random.Random())
    while True:
        try:
            return await fn()
        except CloudError as exc:
            if not exc.retriable:
                raise
            delay = next(delays, None)
            if delay is None:
                raise
            log.warning("%s failed (%s); retrying in %.2f s", what, exc, delay)
            await asyncio.sleep(delay)
