"""Simulated time and pacing: the twin steps in fixed dt; a pacer sleeps so sim time runs at N× wall time."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(slots=True)
class SimClock:
    """Simulated event time: a start (Unix ms), a fixed step in ms and the number of steps taken."""

    epoch_ms: int
    dt_ms: int
    step: int = 0

    @property
    def now_ms(self) -> int:
        """Event time of the current step."""
        return self.epoch_ms + self.step * self.dt_ms

    @property
    def elapsed_s(self) -> float:
        """Simulated seconds since the start."""
        return self.step * self.dt_ms / 1000.0

    def advance(self, steps: int = 1) -> int:
        """Move forward by ``steps`` and return the new event time."""
        self.step += steps
        return self.now_ms


@dataclass(slots=True)
class Pacer:
    """Holds a run at ``speed`` × real time (``speed`` 0 means as fast as possible).

    Call ``wait(sim_elapsed_s)`` after producing the data up to that sim time: it sleeps until
    ``start + sim_elapsed_s / speed`` of wall time. A run that falls behind does not sleep; it
    reports the lag instead so the caller can log it.
    """

    speed: float
    monotonic: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep
    _start: float | None = field(default=None, init=False)

    def start(self) -> float:
        """Mark (and return) the wall time at which sim time zero is played."""
        self._start = self.monotonic()
        return self._start

    def wait(self, sim_elapsed_s: float) -> float:
        """Sleep until the wall clock catches up with ``sim_elapsed_s``; return the lag in seconds (≥ 0)."""
        if self.speed <= 0:
            return 0.0
        start = self._start if self._start is not None else self.start()
        due = start + sim_elapsed_s / self.speed
        ahead = due - self.monotonic()
        if ahead > 0:
            self.sleep(ahead)
            return 0.0
        return -ahead
