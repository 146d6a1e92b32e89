"""Health -> defect probabilities: baseline, monotone in health, the fault's signature classes."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.camera.defects import (
    DEFECT_CLASSES,
    defect_probabilities,
    sample_defect_classes,
)

FAULTS = [
    None,
    "none",
    "bearing_outer",
    "bearing_inner",
    "imbalance",
    "misalignment",
    "cooling_failure",
    "winding_fault",
    "pump_clogging",
    "something_new",
]
KINDS = ["spindle", "conveyor", "pump", "motor", "press"]
SCRATCH, DENT, CRACK, STAIN = (DEFECT_CLASSES.index(c) for c in ("scratch", "dent", "crack", "stain"))


def any_defect(p: np.ndarray) -> float:
    return float(1.0 - np.prod(1.0 - p))


def test_classes() -> None:
    assert DEFECT_CLASSES == ("scratch", "dent", "crack", "stain", "missing_hole")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fault", FAULTS)
def test_probabilities_are_valid_and_monotone_in_health(fault: str | None, kind: str) -> None:
    healths = np.linspace(1.0, 0.0, 21)
    table = np.array([defect_probabilities(h, fault, kind) for h in healths])
    assert table.shape == (21, len(DEFECT_CLASSES))
    assert np.all((table >= 0) & (table < 1))
    assert np.all(np.diff(table, axis=0) >= 0), "falling health must never lower a class's probability"
    assert any_defect(table[-1]) > 2.5 * any_defect(table[0])


@pytest.mark.parametrize("kind", KINDS)
def test_healthy_baseline_is_a_few_percent(kind: str) -> None:
    for fault in FAULTS:
        assert 0.02 <= any_defect(defect_probabilities(1.0, fault, kind)) <= 0.05


@pytest.mark.parametrize("fault", ["bearing_outer", "bearing_inner", "imbalance"])
def test_degrading_spindle_bearing_makes_scratches(fault: str) -> None:
    healthy_fault_free = defect_probabilities(0.3, None, "spindle")
    faulty = defect_probabilities(0.3, fault, "spindle")
    assert faulty[SCRATCH] > 2 * healthy_fault_free[SCRATCH]
    assert int(np.argmax(faulty)) == SCRATCH
    assert faulty[SCRATCH] > 3 * faulty[DENT]


def test_signatures_of_other_faults() -> None:
    assert int(np.argmax(defect_probabilities(0.2, "bearing_outer", "conveyor"))) == DENT
    assert int(np.argmax(defect_probabilities(0.2, "cooling_failure", "motor"))) == CRACK
    assert int(np.argmax(defect_probabilities(0.2, "pump_clogging", "pump"))) == STAIN


def test_health_outside_range_is_clipped_and_nan_rejected() -> None:
    np.testing.assert_array_equal(
        defect_probabilities(1.7, None, "motor"), defect_probabilities(1.0, None, "motor")
    )
    np.testing.assert_array_equal(
        defect_probabilities(-3, None, "motor"), defect_probabilities(0.0, None, "motor")
    )
    with pytest.raises(ValueError, match="finite"):
        defect_probabilities(float("nan"), None, "motor")


def test_sampling_follows_the_probabilities() -> None:
    rng = np.random.default_rng(0)
    p = defect_probabilities(0.0, "bearing_inner", "spindle")
    draws = [sample_defect_classes(p, rng) for _ in range(4000)]
    rate = np.mean(["scratch" in d for d in draws])
    assert rate == pytest.approx(p[SCRATCH], abs=0.03)


def test_rig_draws_more_defects_from_a_sick_machine() -> None:
    from simulators.camera import CameraRig

    def labelled(health: float) -> int:
        rig = CameraRig("cam-h", "line-1", "spindle-1", seed=5, width=96, height=96)
        return sum(bool(rig.capture(i, health, "bearing_inner", "spindle").labels) for i in range(60))

    healthy, sick = labelled(1.0), labelled(0.0)
    assert healthy <= 8
    assert sick >= healthy + 10
