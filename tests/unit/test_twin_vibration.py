"""Bearing defect frequencies and the vibration features they drive."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from simulators.plant import load_plant
from simulators.scenario import Scenario
from simulators.sensors import CHANNEL_INDEX
from simulators.twin import Twin
from simulators.vibration import (
    FEATURE_NAMES,
    SnippetSynth,
    VibrationSeverity,
    bearing_frequencies,
    snippet_features,
)

BPFO = FEATURE_NAMES.index("vib_bpfo_env")
BPFI = FEATURE_NAMES.index("vib_bpfi_env")


@pytest.mark.parametrize(
    ("rpm", "geometry", "bpfo", "bpfi"),
    [
        (1797.0, (9, 7.94, 39.04, 0.0), 107.36, 162.19),  # SKF 6205 drive-end bearing of the CWRU rig
        (1800.0, (8, 15.08, 65.0, 0.0), 92.04, 147.96),
    ],
)
def test_bearing_frequencies_follow_the_standard_formulas(
    rpm: float, geometry: tuple[float, float, float, float], bpfo: float, bpfi: float
) -> None:
    orders = bearing_frequencies(rpm / 60.0, *geometry)
    assert float(orders.bpfo) == pytest.approx(bpfo, rel=2e-3)
    assert float(orders.bpfi) == pytest.approx(bpfi, rel=2e-3)
    assert float(orders.bpfo + orders.bpfi) == pytest.approx(geometry[0] * rpm / 60.0)


def features_at(severity: float, which: str, n: int = 64) -> np.ndarray:
    """Mean features of n machines at one severity of one bearing fault."""
    shaft = np.full(n, 1480.0 / 60.0)
    orders = bearing_frequencies(shaft, 9, 7.94, 39.04, 0.0)
    zeros = np.zeros(n)
    levels = {"outer": zeros, "inner": zeros, "imbalance": zeros, "misalignment": zeros, "winding": zeros}
    levels = levels | {which: np.full(n, severity)}
    rng = np.random.default_rng(4)
    wave, high = SnippetSynth(rng).synthesize(
        shaft, orders, VibrationSeverity(**levels), rng.uniform(1500, 3000, n), rng.uniform(0, 6.28, n)
    )
    return snippet_features(wave, high, shaft, orders).mean(axis=0)


@pytest.mark.parametrize(("which", "band", "other"), [("outer", BPFO, BPFI), ("inner", BPFI, BPFO)])
def test_bearing_fault_energy_grows_in_its_defect_band(which: str, band: int, other: int) -> None:
    levels = [features_at(s, which) for s in (0.0, 0.1, 0.3, 0.6, 1.0)]
    in_band = [f[band] for f in levels]
    assert all(b > a for a, b in itertools.pairwise(in_band))
    assert in_band[-1] > 20 * in_band[0]
    assert levels[-1][band] > 3 * levels[-1][other]
    assert levels[-1][FEATURE_NAMES.index("vib_kurtosis")] > levels[0][FEATURE_NAMES.index("vib_kurtosis")]


def test_imbalance_raises_1x_and_misalignment_2x() -> None:
    healthy = features_at(0.0, "outer")
    assert (
        features_at(0.8, "imbalance")[FEATURE_NAMES.index("vib_1x_g")]
        > 5 * healthy[FEATURE_NAMES.index("vib_1x_g")]
    )
    assert (
        features_at(0.8, "misalignment")[FEATURE_NAMES.index("vib_2x_g")]
        > 5 * healthy[FEATURE_NAMES.index("vib_2x_g")]
    )


def test_outer_race_fault_in_the_twin_raises_bpfo_level_as_it_progresses() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "o",
            "actions": [
                {
                    "at_s": 10,
                    "action": "inject_fault",
                    "machine": "motor-1",
                    "fault": "bearing_outer",
                    "life_s": 120,
                }
            ],
        }
    )
    twin = Twin(load_plant("demo"), 2, scenario=scenario, random_faults=False)
    machine = twin.index.position("motor-1")
    levels, health = [], []
    for _ in range(128):
        block = twin.step_block()
        levels.append(np.nanmean(block.values[:, machine, CHANNEL_INDEX["vib_bpfo_env"]]))
        health.append(float(block.health[-1, machine]))
    early, middle, late = np.mean(levels[12:30]), np.mean(levels[70:90]), np.mean(levels[115:129])
    assert early < middle < late
    assert late > 10 * early
    assert 0.0 < health[-1] < 0.1 < health[20]
