"""How often parts come out defective, given the health of the machine that made them.

Per class, the expected number of defects of that class on one part is

    rate = BASELINE[c] * KIND_WEIGHT[kind][c] * (1 + severity * (GENERIC_GAIN[c] + FAULT_GAIN[fault][c]))

with severity = (1 - health) ** 1.5, and the probability that the part carries the class is
1 - exp(-rate). A healthy machine (health 1) gives the baseline, about 3 % of parts with any
defect; as health falls to 0 the rate climbs, fastest for the classes the active fault causes:
a worn spindle bearing or an unbalanced spindle chatters and scratches, a conveyor fault knocks
parts into dents, a cooling failure cracks them, a clogged pump or a leak stains them, a worn or
broken tool leaves holes undrilled. Fault names are the twin's (simulators.faults: bearing_outer,
bearing_inner, imbalance, misalignment, cooling_failure, winding_fault, pump_clogging), matched by
keyword so other names work too; "none"/"normal" mean no fault. The table is in docs/CAMERA.md.
"""

from __future__ import annotations

import numpy as np

DEFECT_CLASSES: tuple[str, ...] = ("scratch", "dent", "crack", "stain", "missing_hole")
CLASS_INDEX: dict[str, int] = {name: i for i, name in enumerate(DEFECT_CLASSES)}
SEVERITY_EXPONENT = 1.5

# Expected defects per part of a healthy machine: 0.0335 in all, i.e. ~3.3 % of parts.
BASELINE = np.array([0.012, 0.006, 0.003, 0.008, 0.0045])
# Any degradation, whatever its cause, at health 0 (added to 1).
GENERIC_GAIN = np.array([4.0, 3.0, 3.0, 3.0, 2.0])
# Extra gain at health 0 for the active fault; fault names are matched by keyword, first match wins.
FAULT_GAIN: tuple[tuple[str, np.ndarray], ...] = (
    ("bearing", np.array([22.0, 1.0, 3.0, 1.0, 0.0])),
    ("imbalance", np.array([16.0, 0.0, 4.0, 0.0, 0.0])),
    ("unbalance", np.array([16.0, 0.0, 4.0, 0.0, 0.0])),
    ("misalign", np.array([9.0, 3.0, 2.0, 0.0, 1.0])),
    ("loose", np.array([7.0, 5.0, 3.0, 0.0, 1.0])),
    ("chatter", np.array([20.0, 0.0, 2.0, 0.0, 0.0])),
    ("lubric", np.array([6.0, 0.0, 1.0, 18.0, 0.0])),
    ("leak", np.array([1.0, 0.0, 0.0, 24.0, 0.0])),
    ("seal", np.array([1.0, 0.0, 0.0, 20.0, 0.0])),
    ("cavitation", np.array([0.0, 0.0, 2.0, 12.0, 0.0])),
    ("cooling", np.array([0.0, 0.0, 40.0, 8.0, 0.0])),
    ("clog", np.array([4.0, 0.0, 1.0, 16.0, 0.0])),
    ("overheat", np.array([0.0, 0.0, 40.0, 8.0, 0.0])),
    ("thermal", np.array([0.0, 0.0, 40.0, 8.0, 0.0])),
    ("winding", np.array([2.0, 0.0, 6.0, 3.0, 2.0])),
    ("belt", np.array([5.0, 18.0, 1.0, 2.0, 0.0])),
    ("jam", np.array([4.0, 24.0, 3.0, 0.0, 0.0])),
    ("roller", np.array([6.0, 14.0, 0.0, 3.0, 0.0])),
    ("tool", np.array([6.0, 0.0, 5.0, 0.0, 22.0])),
    ("drill", np.array([2.0, 0.0, 3.0, 0.0, 26.0])),
    ("punch", np.array([0.0, 2.0, 6.0, 0.0, 26.0])),
)
UNKNOWN_FAULT_GAIN = np.array([2.0, 2.0, 2.0, 2.0, 2.0])
CONVEYOR_SCRATCH_TO_DENT = 0.7
NO_FAULT_NAMES = frozenset({"", "none", "normal", "healthy"})
# What the machine kind leans toward even when healthy (multiplies the whole rate).
KIND_WEIGHT: dict[str, np.ndarray] = {
    "spindle": np.array([1.5, 0.7, 1.0, 0.8, 1.4]),
    "conveyor": np.array([1.0, 1.8, 0.8, 0.8, 0.6]),
    "pump": np.array([0.7, 0.7, 0.8, 1.8, 0.8]),
    "motor": np.array([1.0, 1.0, 1.0, 1.0, 1.0]),
}


def fault_gain(fault_type: str | None) -> np.ndarray:
    """Extra per-class gain at health 0 for ``fault_type`` (keyword match), zero when there is none."""
    name = (fault_type or "").strip().lower()
    if name in NO_FAULT_NAMES:
        return np.zeros(len(DEFECT_CLASSES))
    for keyword, gain in FAULT_GAIN:
        if keyword in name:
            return gain
    return UNKNOWN_FAULT_GAIN


def kind_fault_gain(fault_type: str | None, machine_kind: str) -> np.ndarray:
    """The fault's gain as it shows on the parts of this kind of machine.

    A mechanical fault in a conveyor (bearing, imbalance, misalignment, looseness) makes the belt
    jerk and knock parts together, so most of what would be scratches on a spindle become dents.
    """
    gain = fault_gain(fault_type).copy()
    if machine_kind == "conveyor":
        moved = CONVEYOR_SCRATCH_TO_DENT * gain[CLASS_INDEX["scratch"]]
        gain[CLASS_INDEX["scratch"]] -= moved
        gain[CLASS_INDEX["dent"]] += moved
    return gain


def defect_rates(health: float, fault_type: str | None, machine_kind: str) -> np.ndarray:
    """Expected defects per part, per class of DEFECT_CLASSES."""
    if not np.isfinite(health):
        raise ValueError(f"health must be a finite number, got {health}")
    severity = (1.0 - min(max(float(health), 0.0), 1.0)) ** SEVERITY_EXPONENT
    weight = KIND_WEIGHT.get(machine_kind, KIND_WEIGHT["motor"])
    return BASELINE * weight * (1.0 + severity * (GENERIC_GAIN + kind_fault_gain(fault_type, machine_kind)))


def defect_probabilities(health: float, fault_type: str | None, machine_kind: str) -> np.ndarray:
    """Per-class probability that one part carries a defect of that class (Poisson: 1 - exp(-rate))."""
    return -np.expm1(-defect_rates(health, fault_type, machine_kind))


def sample_defect_classes(probabilities: np.ndarray, rng: np.random.Generator) -> tuple[str, ...]:
    """Draw which classes one part carries, independently per class."""
    hits = rng.random(len(DEFECT_CLASSES)) < probabilities
    return tuple(name for name, hit in zip(DEFECT_CLASSES, hits, strict=True) if hit)
