"""Watches storage while the run goes on, to time arrivals: the pipeline stamps no arrival time.

InfluxDB points carry event time only (the bridge's ``received_ms`` stays in Kafka), so the
harness measures arrival itself: every ``poll_interval_s`` it asks for the stored samples of a few
probe machines, from the oldest sample still missing (giving up on samples emitted more than
``give_up_s`` of wall time ago, so one that never arrives does not make every query longer), and
stamps every identity seen for the first time with the wall time the answer came back; it also
reads the alerts and stamps new ones the same way. An arrival is therefore known to within one poll
interval (plus the query time), an upper bound; the report states the interval.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from iiot.harness.errors import ObservationError
from iiot.harness.influx_probe import InfluxProbe
from iiot.harness.recorder import TwinRecorder
from iiot.harness.records import AlertSpan
from iiot.harness.scoring import SeriesKey

log = logging.getLogger(__name__)


def oldest_missing(expected: dict[SeriesKey, np.ndarray], seen: dict[SeriesKey, set[int]]) -> int | None:
    """The oldest expected sample time not seen yet (None when everything was seen)."""
    oldest: int | None = None
    for key, times in expected.items():
        got = seen.get(key)
        if got:
            times = times[~np.isin(times, np.fromiter(got, dtype=np.int64, count=len(got)))]
        if times.size:
            first = int(times.min())
            oldest = first if oldest is None else min(oldest, first)
    return oldest


def given_up_before(timeline: Sequence[tuple[int, float]], cutoff_wall: float) -> int | None:
    """Newest sample time of the blocks emitted before ``cutoff_wall`` (None: none that old)."""
    older = [t for t, wall in timeline if wall < cutoff_wall]
    return older[-1] if older else None


class StorageWatch:
    """A thread that polls the run's bucket for probe samples and alerts, stamping first sightings."""

    def __init__(
        self,
        probe: InfluxProbe,
        recorder: TwinRecorder,
        probe_machines: Sequence[str],
        channels: Sequence[str],
        *,
        interval_s: float,
        give_up_s: float = 600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.probe = probe
        self.recorder = recorder
        self.machines = list(probe_machines)
        self.channels = list(channels)
        self.interval_s = interval_s
        self.give_up_s = give_up_s
        self.clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="harness-storage-watch", daemon=True)
        self._lock = threading.Lock()
        self._seen: dict[SeriesKey, set[int]] = {}
        self.sample_arrivals: list[tuple[str, int, float]] = []
        self.alert_seen: dict[str, tuple[AlertSpan, float]] = {}
        self.polls = 0
        self.failures: list[str] = []

    def start(self) -> None:
        """Start polling."""
        self._thread.start()

    def stop(self) -> None:
        """Stop polling, wait for the thread, and poll once more (what arrived since the last poll)."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=60)
        try:
            self.poll_once()
        except ObservationError as exc:
            self.failures.append(str(exc))

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            try:
                self.poll_once()
            except ObservationError as exc:
                self.failures.append(str(exc))
                log.warning("storage poll failed: %s", exc)

    def poll_once(self) -> None:
        """One poll of probe samples and alerts."""
        self.polls += 1
        if self.machines:
            keys = [k for m in self.machines for k in self.recorder.series_of(m)]
            expected = self.recorder.expected(keys)
            with self._lock:
                start = oldest_missing(expected, self._seen)
            floor = given_up_before(self.recorder.timeline(), self.clock() - self.give_up_s)
            if start is not None and floor is not None:
                start = max(start, floor + 1)
            if start is not None:
                stored = self.probe.telemetry(self.machines, self.channels, start_ms=start)
                now = self.clock()
                with self._lock:
                    for key, times in stored.items():
                        got = self._seen.setdefault(key, set())
                        for t in times.tolist():
                            if t not in got:
                                got.add(t)
                                self.sample_arrivals.append((key[0], int(t), now))
        alerts = self.probe.alerts()
        now = self.clock()
        with self._lock:
            for alert in alerts:
                self.alert_seen.setdefault(alert.alert_id, (alert, now))

    def probe_expected(self) -> int:
        """How many samples of the probe machines the twin sent to be forwarded."""
        keys = [k for m in self.machines for k in self.recorder.series_of(m)]
        return sum(int(t.size) for t in self.recorder.expected(keys).values())

    def arrivals(self) -> list[tuple[str, int, float]]:
        """(machine, sample time, first seen wall) of probe samples."""
        with self._lock:
            return list(self.sample_arrivals)

    def alert_arrivals(self) -> dict[str, float]:
        """Alert id -> wall time it was first seen in storage."""
        with self._lock:
            return {aid: wall for aid, (_, wall) in self.alert_seen.items()}
