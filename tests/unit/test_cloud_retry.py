"""Exponential backoff: the delays, and which errors are retried."""

from __future__ import annotations

import random

import pytest

from cloud.errors import StorageRejected, StorageUnavailable
from cloud.retry import RetryPolicy, retry_async, retry_call


@pytest.mark.parametrize(
    ("policy", "delays"),
    [
        (
            RetryPolicy(attempts=5, initial_s=0.1, factor=2.0, max_delay_s=0.5, jitter=0.0),
            [0.1, 0.2, 0.4, 0.5],
        ),
        (RetryPolicy(attempts=1), []),
        (RetryPolicy(attempts=3, initial_s=1.0, factor=3.0, max_delay_s=100.0, jitter=0.0), [1.0, 3.0]),
    ],
)
def test_delays(policy: RetryPolicy, delays: list[float]) -> None:
    assert list(policy.delays()) == pytest.approx(delays)


def test_jitter_stays_within_bounds() -> None:
    policy = RetryPolicy(attempts=50, initial_s=1.0, factor=1.0, jitter=0.2)
    assert all(0.8 <= d <= 1.2 for d in policy.delays(random.Random(1)))


def flaky(failures: list[Exception]) -> tuple[list[int], object]:
    calls: list[int] = []

    def fn() -> str:
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "ok"

    return calls, fn


def test_retries_retriable_errors_then_succeeds() -> None:
    slept: list[float] = []
    calls, fn = flaky([StorageUnavailable("down"), StorageUnavailable("down")])
    policy = RetryPolicy(attempts=3, initial_s=0.1, jitter=0.0)
    assert retry_call(fn, policy, sleep=slept.append) == "ok"  # type: ignore[arg-type]
    assert (len(calls), slept) == (3, [0.1, 0.2])


def test_gives_up_after_the_last_attempt() -> None:
    calls, fn = flaky([StorageUnavailable(str(i)) for i in range(5)])
    with pytest.raises(StorageUnavailable, match="2"):
        retry_call(fn, RetryPolicy(attempts=3, jitter=0.0), sleep=lambda _: None)  # type: ignore[arg-type]
    assert len(calls) == 3


def test_does_not_retry_a_rejection() -> None:
    calls, fn = flaky([StorageRejected("bad field type")])
    with pytest.raises(StorageRejected):
        retry_call(fn, RetryPolicy(), sleep=lambda _: None)  # type: ignore[arg-type]
    assert len(calls) == 1


async def test_async_retry() -> None:
    failures = [StorageUnavailable("down")]

    async def fn() -> int:
        if failures:
            raise failures.pop()
        return 7

    assert await retry_async(fn, RetryPolicy(attempts=2, initial_s=0.0, jitter=0.0)) == 7
