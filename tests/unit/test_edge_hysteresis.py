"""Alarm hysteresis as tables: enter/exit thresholds and minimum durations in event time."""

from __future__ import annotations

import pytest

from edge.hysteresis import AlarmStatus, HysteresisConfig, Phase, Transition, step
from proto.messages import AlarmState

R, C = Transition.RAISE, Transition.CLEAR


def run(config: HysteresisConfig, series: list[tuple[int, float]]) -> list[tuple[Phase, Transition | None]]:
    status, out = AlarmStatus(), []
    for t, p in series:
        status, transition = step(config, status, p, t)
        out.append((status.phase, transition))
    return out


N, P, A, CL = Phase.NORMAL, Phase.PENDING, Phase.ALARM, Phase.CLEARING


@pytest.mark.parametrize(
    ("config", "series", "expected"),
    [
        # no durations: raise at enter, hold between thresholds, clear below exit
        (
            HysteresisConfig(0.8, 0.5),
            [(0, 0.2), (1, 0.85), (2, 0.6), (3, 0.79), (4, 0.49), (5, 0.7)],
            [(N, None), (A, R), (A, None), (A, None), (N, C), (N, None)],
        ),
        # exactly at the thresholds: enter is inclusive, exit is strict
        (HysteresisConfig(0.8, 0.5), [(0, 0.8), (1, 0.5), (2, 0.4999)], [(A, R), (A, None), (N, C)]),
        # minimum duration: pending until above enter for 10 ms of event time
        (
            HysteresisConfig(0.8, 0.5, min_duration_ms=10),
            [(0, 0.9), (5, 0.95), (10, 0.9), (11, 0.9)],
            [(P, None), (P, None), (A, R), (A, None)],
        ),
        # a dip below enter resets the pending timer
        (
            HysteresisConfig(0.8, 0.5, min_duration_ms=10),
            [(0, 0.9), (5, 0.7), (6, 0.9), (15, 0.9), (16, 0.9)],
            [(P, None), (N, None), (P, None), (P, None), (A, R)],
        ),
        # clear duration: below exit for 5 ms before clearing, back above exit keeps the alarm
        (
            HysteresisConfig(0.8, 0.5, clear_duration_ms=5),
            [(0, 0.9), (1, 0.1), (3, 0.6), (4, 0.1), (8, 0.1), (9, 0.1)],
            [(A, R), (CL, None), (A, None), (CL, None), (CL, None), (N, C)],
        ),
    ],
)
def test_hysteresis_table(
    config: HysteresisConfig, series: list[tuple[int, float]], expected: list[tuple[Phase, Transition | None]]
) -> None:
    assert run(config, series) == expected


@pytest.mark.parametrize(
    ("phase", "state", "active"),
    [
        (Phase.NORMAL, AlarmState.ALARM_STATE_NORMAL, False),
        (Phase.PENDING, AlarmState.ALARM_STATE_WARNING, False),
        (Phase.ALARM, AlarmState.ALARM_STATE_ALARM, True),
        (Phase.CLEARING, AlarmState.ALARM_STATE_ALARM, True),
    ],
)
def test_outside_view(phase: Phase, state: int, active: bool) -> None:
    status = AlarmStatus(phase, 0)
    assert status.state == state
    assert status.active is active


@pytest.mark.parametrize(("enter", "exit_"), [(0.5, 0.8), (1.2, 0.5), (0.5, -0.1)])
def test_bad_thresholds(enter: float, exit_: float) -> None:
    with pytest.raises(ValueError, match="exit"):
        HysteresisConfig(enter, exit_)
