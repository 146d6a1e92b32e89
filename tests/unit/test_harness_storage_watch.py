"""The storage watch: stamps first sightings, queries from the oldest missing sample, gives up."""

from __future__ import annotations

from typing import Any

import numpy as np

from iiot.harness.recorder import TwinRecorder
from iiot.harness.records import AlertSpan
from iiot.harness.storage_watch import StorageWatch, given_up_before, oldest_missing
from simulators.records import MachineBatch


def batch(t0: int, values: list[float]) -> MachineBatch:
    n = len(values)
    return MachineBatch(
        "m1",
        "motor",
        "s",
        "l",
        np.arange(t0, t0 + n * 1000, 1000, dtype=np.int64),
        ("a",),
        np.array(values, dtype=np.float32)[:, None],
        np.ones(n, np.float32),
        np.zeros(n, np.int8),
        np.zeros(n, bool),
        np.ones(n),
        np.ones(n, bool),
    )


class FakeProbe:
    """Answers with what is 'stored' so far and records the queries."""

    def __init__(self) -> None:
        self.stored: list[int] = []
        self.alert_list: list[AlertSpan] = []
        self.queries: list[tuple[Any, ...]] = []

    def telemetry(
        self, machines: list[str], channels: list[str], start_ms: int | None = None
    ) -> dict[Any, Any]:
        self.queries.append((tuple(machines), start_ms))
        return {
            ("m1", "a"): np.array([t for t in self.stored if start_ms is None or t >= start_ms], np.int64)
        }

    def alerts(self) -> list[AlertSpan]:
        return self.alert_list


def test_oldest_missing_and_given_up_before() -> None:
    expected = {("m", "a"): np.array([1, 2, 3]), ("m", "b"): np.array([5])}
    assert oldest_missing(expected, {}) == 1
    assert oldest_missing(expected, {("m", "a"): {1, 2}}) == 3
    assert oldest_missing(expected, {("m", "a"): {1, 2, 3}, ("m", "b"): {5}}) is None
    timeline = [(999, 10.0), (1999, 11.0), (2999, 12.0)]
    assert given_up_before(timeline, 9.0) is None
    assert given_up_before(timeline, 11.5) == 1999


def test_watch_stamps_each_identity_once_when_first_seen() -> None:
    now = [100.0]
    recorder = TwinRecorder(["m1"], clock=lambda: now[0])
    recorder.sensors(batch(0, [1, 2, 3, 4]))
    probe = FakeProbe()
    watch = StorageWatch(probe, recorder, ["m1"], ["a"], interval_s=1, clock=lambda: now[0])  # type: ignore[arg-type]
    probe.stored = [0, 1000]
    now[0] = 101.0
    watch.poll_once()
    probe.stored = [0, 1000, 2000, 3000]
    probe.alert_list = [AlertSpan("x", "m1", "prediction", 0)]
    now[0] = 103.0
    watch.poll_once()
    assert [a[1:] for a in watch.arrivals()] == [(0, 101.0), (1000, 101.0), (2000, 103.0), (3000, 103.0)]
    assert {a[0] for a in watch.arrivals()} == {"m1"}
    assert [q[1] for q in probe.queries] == [0, 2000]  # from the oldest missing sample
    assert watch.alert_arrivals() == {"x": 103.0}
    assert watch.probe_expected() == 4
    now[0] = 104.0
    watch.poll_once()
    assert len(probe.queries) == 2  # nothing missing: no query
    assert watch.polls == 3


def test_watch_gives_up_on_samples_emitted_long_ago() -> None:
    now = [0.0]
    recorder = TwinRecorder(["m1"], clock=lambda: now[0])
    recorder.sensors(batch(0, [1, 2]))
    now[0] = 50.0
    recorder.sensors(batch(2000, [3, 4]))
    probe = FakeProbe()
    watch = StorageWatch(probe, recorder, ["m1"], ["a"], interval_s=1, give_up_s=30, clock=lambda: now[0])  # type: ignore[arg-type]
    now[0] = 60.0
    watch.poll_once()
    assert probe.queries == [(("m1",), 1001)]  # the first block (newest sample 1000) is given up
