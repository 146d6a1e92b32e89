"""The fault alarm used for event-level scoring: tables, and agreement with the edge's state machine."""

from __future__ import annotations

import numpy as np
import pytest

from edge.hysteresis import AlarmStatus, HysteresisConfig, step
from models.fault.hysteresis import AlarmPolicy, alarm_episodes, alarm_states


@pytest.mark.parametrize(
    ("probs", "enter", "exit_", "dwell_s", "expected"),
    [
        ([0.1, 0.9, 0.7, 0.5, 0.9], 0.8, 0.6, 0, [0, 1, 1, 0, 1]),  # holds between exit and enter
        ([0.1, 0.7, 0.7, 0.7], 0.8, 0.6, 0, [0, 0, 0, 0]),  # never reaches enter
        ([0.9, 0.9, 0.9, 0.1], 0.8, 0.6, 10, [0, 1, 1, 0]),  # dwell 10 s at 10 s steps: raised at the 2nd
        ([0.9, 0.5, 0.9, 0.9, 0.9], 0.8, 0.6, 20, [0, 0, 0, 0, 1]),  # a dip restarts the dwell
        ([0.9, 0.6, 0.59], 0.8, 0.6, 0, [1, 1, 0]),  # exit is strict: below exit clears
        ([0.8, 0.8], 0.8, 0.8, 0, [1, 1]),  # enter is inclusive
    ],
)
def test_alarm_states(
    probs: list[float], enter: float, exit_: float, dwell_s: float, expected: list[int]
) -> None:
    t = np.arange(len(probs)) * 10.0
    got = alarm_states(np.array(probs), t, AlarmPolicy(enter, exit_, dwell_s))
    assert got.astype(int).tolist() == expected


@pytest.mark.parametrize(("enter", "exit_"), [(0.5, 0.6), (1.2, 0.5), (0.5, -0.1)])
def test_policy_refuses_bad_thresholds(enter: float, exit_: float) -> None:
    with pytest.raises(ValueError, match="exit"):
        AlarmPolicy(enter, exit_)


@pytest.mark.parametrize(
    ("on", "episodes"),
    [
        ([0, 1, 1, 0, 1], [(1, 2), (4, 4)]),
        ([1, 1, 1], [(0, 2)]),
        ([0, 0], []),
    ],
)
def test_alarm_episodes(on: list[int], episodes: list[tuple[int, int]]) -> None:
    assert alarm_episodes(np.array(on, dtype=bool)) == episodes


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize(
    ("enter", "exit_", "dwell_ms"), [(0.7, 0.5, 0), (0.6, 0.6, 600_000), (0.9, 0.3, 300_000)]
)
def test_agrees_with_the_edge_state_machine(seed: int, enter: float, exit_: float, dwell_ms: int) -> None:
    rng = np.random.default_rng(seed)
    probs = np.clip(0.5 + 0.5 * np.sin(np.cumsum(rng.uniform(0, 0.6, 300))) + rng.normal(0, 0.1, 300), 0, 1)
    t_ms = np.arange(300) * 300_000
    config = HysteresisConfig(enter, exit_, dwell_ms, 0)
    status, edge = AlarmStatus(), []
    for p, t in zip(probs.tolist(), t_ms.tolist(), strict=True):
        status, _ = step(config, status, p, t)
        edge.append(status.active)
    ours = alarm_states(probs, t_ms / 1000.0, AlarmPolicy(enter, exit_, dwell_ms / 1000.0))
    assert ours.tolist() == edge
    assert 0 < sum(edge) < len(edge)
