"""Operating regimes: shift schedules, start-up and stop ramps, load and speed profiles.

A line runs during its shifts on its working days (no shifts: around the clock). When a machine is
commanded on, its speed fraction ramps linearly from 0 to 1 over the start-up time; when commanded
off (end of shift, failure, repair) it coasts down over the stop time. Load is a slow sinusoid around
the machine's mean (phase per machine) plus an Ornstein-Uhlenbeck wander; spindles additionally step
through speed programs (a level chosen per program slot by a hash of machine and slot, so it does not
depend on how the run is cut into blocks).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulators.plant import WEEKDAYS, ScheduleSpec

FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

LOAD_WANDER_TAU_S = 120.0


@dataclass(frozen=True, slots=True)
class ShiftCalendar:
    """A schedule in arrays: shift windows in seconds of the day and the working weekdays."""

    windows: tuple[tuple[float, float], ...]
    weekdays: frozenset[int]

    @classmethod
    def from_spec(cls, spec: ScheduleSpec) -> ShiftCalendar:
        """Build from the validated YAML schedule."""
        return cls(tuple(s.window_s() for s in spec.shifts), frozenset(WEEKDAYS.index(d) for d in spec.days))

    def on(self, epoch_s: FloatArray) -> BoolArray:
        """Whether the line is scheduled to run at each Unix time (seconds)."""
        if not self.windows:
            return np.ones(epoch_s.shape, dtype=bool)
        on = np.zeros(epoch_s.shape, dtype=bool)
        days = np.floor(epoch_s / 86400.0)
        for start, end in self.windows:
            for offset in (0.0, 1.0):  # a shift that crosses midnight started the day before
                day = days - offset
                since = epoch_s - day * 86400.0
                weekday = (day.astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
                working = np.isin(weekday, list(self.weekdays))
                on |= working & (since >= start) & (since < end)
        return on


def ramp_speed(
    fraction0: FloatArray, command: BoolArray, up_per_step: FloatArray, down_per_step: FloatArray
) -> FloatArray:
    """Speed fractions ``[T, N]``: linear ramps toward 1 when commanded on and toward 0 when off."""
    out = np.empty(command.shape, dtype=np.float64)
    fraction = fraction0.astype(np.float64, copy=True)
    for k in range(command.shape[0]):
        fraction = np.where(
            command[k], np.minimum(fraction + up_per_step, 1.0), np.maximum(fraction - down_per_step, 0.0)
        )
        out[k] = fraction
    return out


def ou_wander(state: FloatArray, noise: FloatArray, sigma: FloatArray, dt_s: float) -> FloatArray:
    """Ornstein-Uhlenbeck path ``[T, N]`` from ``state`` ``[N]`` driven by standard normals ``[T, N]``."""
    a = np.exp(-dt_s / LOAD_WANDER_TAU_S)
    b = np.sqrt(1.0 - a * a) * sigma
    out = np.empty(noise.shape, dtype=np.float64)
    x = state.astype(np.float64, copy=True)
    for k in range(noise.shape[0]):
        x = a * x + b * noise[k]
        out[k] = x
    return out


def periodic_load(
    t_s: FloatArray, mean: FloatArray, amplitude: FloatArray, period_s: FloatArray, phase: FloatArray
) -> FloatArray:
    """The slow part of the load ``[T, N]`` at sim times ``t_s`` ``[T]``."""
    return mean + amplitude * np.sin(2.0 * np.pi * t_s[:, None] / period_s + phase)


def program_level(
    t_s: FloatArray,
    machine_salt: NDArray[np.uint64],
    program_s: FloatArray,
    levels: FloatArray,
    n_levels: NDArray[np.int64],
) -> FloatArray:
    """Speed-program level ``[T, N]``: a hashed choice among each machine's levels per program slot."""
    slot = np.floor(t_s[:, None] / program_s).astype(np.uint64)
    mixed = (slot * np.uint64(0x9E3779B97F4A7C15)) ^ machine_salt
    mixed ^= mixed >> np.uint64(31)
    mixed *= np.uint64(0xBF58476D1CE4E5B9)
    mixed ^= mixed >> np.uint64(29)
    choice = (mixed % n_levels.astype(np.uint64)).astype(np.int64)
    return np.take_along_axis(levels, choice.T, axis=1).T
