"""The alarm the edge raises from a machine's fault probabilities: enter/exit hysteresis with a dwell.

Same rule as ``cloud.processing.alert_rules.Hysteresis`` with a zero clear duration: the alarm
*enters* once the probability has been at or above ``enter`` at every evaluation for at least
``min_duration_s`` (0: at the first one), and *clears* at the first evaluation below ``exit``.
Evaluation times are the window ends, one every manifest ``stride`` feature steps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray


@dataclass(frozen=True, slots=True)
class AlarmPolicy:
    """Enter at ``enter`` held for ``min_duration_s``; exit below ``exit``."""

    enter: float
    exit: float
    min_duration_s: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.exit <= self.enter <= 1.0:
            raise ValueError(f"need 0 <= exit <= enter <= 1, got enter={self.enter} exit={self.exit}")
        if self.min_duration_s < 0:
            raise ValueError(f"min_duration_s must not be negative, got {self.min_duration_s}")


def alarm_states(
    prob: NDArray[np.floating], t_s: NDArray[np.floating], policy: AlarmPolicy
) -> NDArray[np.bool_]:
    """Whether the alarm is on after each evaluation of one machine (times ascending)."""
    on = np.zeros(prob.shape[0], dtype=bool)
    active = False
    pending_since: float | None = None
    for i, (p, t) in enumerate(zip(prob.tolist(), t_s.tolist(), strict=True)):
        if active:
            active = p >= policy.exit
        elif p >= policy.enter:
            pending_since = t if pending_since is None else pending_since
            active = t - pending_since >= policy.min_duration_s
        else:
            pending_since = None
        if active:
            pending_since = None
        on[i] = active
    return on


def alarm_episodes(on: NDArray[np.bool_]) -> list[tuple[int, int]]:
    """Maximal runs of ``on`` as ``(first, last)`` indices, inclusive."""
    padded = np.concatenate([[False], on, [False]]).astype(np.int8)
    edges = np.diff(padded)
    starts = np.flatnonzero(edges == 1)
    stops = np.flatnonzero(edges == -1) - 1
    return list(zip(starts.tolist(), stops.tolist(), strict=True))
