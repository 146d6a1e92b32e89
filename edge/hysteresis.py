"""Alarm hysteresis on a fault probability, in event time: enter and exit thresholds, minimum durations.

    NORMAL ──p ≥ enter──▶ PENDING ──held ≥ min_duration──▶ ALARM ──p < exit──▶ CLEARING
      ▲                     │ p < enter                      ▲                    │ held ≥ clear_duration
      └─────────────────────┘                                └── p ≥ exit ────────┘──▶ NORMAL

A probability between exit and enter keeps whatever state the machine is in. PENDING shows as
WARNING to the outside, CLEARING still as ALARM. Pure: one step per prediction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from proto.messages import AlarmState


@dataclass(frozen=True, slots=True)
class HysteresisConfig:
    """Raise at `enter` held for `min_duration_ms`; clear below `exit` held for `clear_duration_ms`."""

    enter: float
    exit: float
    min_duration_ms: int = 0
    clear_duration_ms: int = 0

    def __post_init__(self) -> None:
        if not 0.0 <= self.exit <= self.enter <= 1.0:
            raise ValueError(f"need 0 <= exit <= enter <= 1, got enter={self.enter} exit={self.exit}")
        if self.min_duration_ms < 0 or self.clear_duration_ms < 0:
            raise ValueError("durations must not be negative")


class Phase(StrEnum):
    """Where one machine's alarm stands."""

    NORMAL = "normal"
    PENDING = "pending"
    ALARM = "alarm"
    CLEARING = "clearing"


class Transition(StrEnum):
    """An alarm edge worth telling the world about."""

    RAISE = "raise"
    CLEAR = "clear"


@dataclass(frozen=True, slots=True)
class AlarmStatus:
    """The phase and since when (event time, ms) its condition has held."""

    phase: Phase = Phase.NORMAL
    since_ms: int = 0

    @property
    def state(self) -> int:
        """The AlarmState the outside sees (iiot.v1)."""
        if self.phase is Phase.PENDING:
            return AlarmState.ALARM_STATE_WARNING
        if self.phase in (Phase.ALARM, Phase.CLEARING):
            return AlarmState.ALARM_STATE_ALARM
        return AlarmState.ALARM_STATE_NORMAL

    @property
    def active(self) -> bool:
        """True while the alarm is raised."""
        return self.phase in (Phase.ALARM, Phase.CLEARING)


def step(
    config: HysteresisConfig, status: AlarmStatus, probability: float, t_ms: int
) -> tuple[AlarmStatus, Transition | None]:
    """The next status after a probability at event time t_ms, and the edge it crossed, if any."""
    high, low = probability >= config.enter, probability < config.exit
    phase = status.phase
    if phase is Phase.NORMAL:
        if not high:
            return status, None
        return _pending_or_raise(config, t_ms, t_ms)
    if phase is Phase.PENDING:
        if not high:
            return AlarmStatus(Phase.NORMAL, t_ms), None
        return _pending_or_raise(config, status.since_ms, t_ms)
    if phase is Phase.ALARM:
        if not low:
            return status, None
        return _clearing_or_clear(config, t_ms, t_ms)
    if not low:  # CLEARING, back above exit
        return AlarmStatus(Phase.ALARM, t_ms), None
    return _clearing_or_clear(config, status.since_ms, t_ms)


def _pending_or_raise(
    config: HysteresisConfig, since: int, t_ms: int
) -> tuple[AlarmStatus, Transition | None]:
    if t_ms - since >= config.min_duration_ms:
        return AlarmStatus(Phase.ALARM, t_ms), Transition.RAISE
    return AlarmStatus(Phase.PENDING, since), None


def _clearing_or_clear(
    config: HysteresisConfig, since: int, t_ms: int
) -> tuple[AlarmStatus, Transition | None]:
    if t_ms - since >= config.clear_duration_ms:
        return AlarmStatus(Phase.NORMAL, t_ms), Transition.CLEAR
    return AlarmStatus(Phase.CLEARING, since), None
