"""Faults and degradation with ground truth: onset, progression, failure, maintenance, labels.

Each machine carries at most one fault at a time. A fault starts at an onset step with damage
``D0`` and grows exponentially, the constant-load case of a Paris-type crack growth law
(dD/dt = r D):

    D(t) = D0 exp(r (t - t_onset)),   r = ln(1 / D0) / life

so it reaches 1 (failure) exactly at ``t_fail = t_onset + life``. Times are whole steps, so the label
arithmetic is exact. Labels per sample: health = 1 - D (1 when healthy, 0 at and after failure);
remaining useful life RUL = t_fail - t in seconds, capped at ``RUL_CAP_S``; a machine with no fault
has RUL = ``RUL_CAP_S`` (its failure time is unknown; the cap is the usual piecewise-linear RUL target).
After a failure the machine is down and RUL stays 0 until corrective maintenance ``repair_h`` later;
maintenance (corrective, or scripted preventive) resets the machine to healthy.

Faults start randomly with a hazard per machine-day (from the seeded generator) or by scenario.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np
from numpy.typing import NDArray

IntArray = NDArray[np.int64]
FloatArray = NDArray[np.float64]
BoolArray = NDArray[np.bool_]

D0 = 0.02
RUL_CAP_S = 172800.0
NO_STEP = np.iinfo(np.int64).max


class FaultType(IntEnum):
    """Fault classes; the integer is the label id in datasets."""

    NONE = 0
    BEARING_OUTER = 1
    BEARING_INNER = 2
    IMBALANCE = 3
    MISALIGNMENT = 4
    COOLING_FAILURE = 5
    WINDING_FAULT = 6
    PUMP_CLOGGING = 7

    @property
    def label(self) -> str:
        """The snake-case name used in files and messages."""
        return self.name.lower()

    @classmethod
    def parse(cls, name: str) -> FaultType:
        """Look up a fault by its snake-case name."""
        try:
            return cls[name.strip().upper()]
        except KeyError as exc:
            known = ", ".join(f.label for f in cls if f is not cls.NONE)
            raise ValueError(f"unknown fault type {name!r} (known: {known})") from exc


FAULT_NAMES: tuple[str, ...] = tuple(f.label for f in FaultType)
ALL_KINDS = frozenset({"motor", "pump", "spindle", "conveyor"})
APPLICABLE: dict[FaultType, frozenset[str]] = {
    FaultType.BEARING_OUTER: ALL_KINDS,
    FaultType.BEARING_INNER: ALL_KINDS,
    FaultType.IMBALANCE: ALL_KINDS,
    FaultType.MISALIGNMENT: frozenset({"motor", "pump", "conveyor"}),
    FaultType.COOLING_FAILURE: ALL_KINDS,
    FaultType.WINDING_FAULT: ALL_KINDS,
    FaultType.PUMP_CLOGGING: frozenset({"pump"}),
}
# Relative life of each fault type (onset to failure) against the plant's mean life.
LIFE_FACTOR: dict[FaultType, float] = {
    FaultType.BEARING_OUTER: 1.5,
    FaultType.BEARING_INNER: 1.0,
    FaultType.IMBALANCE: 2.0,
    FaultType.MISALIGNMENT: 1.5,
    FaultType.COOLING_FAILURE: 0.3,
    FaultType.WINDING_FAULT: 0.6,
    FaultType.PUMP_CLOGGING: 1.0,
}


@dataclass(frozen=True, slots=True)
class FaultLabels:
    """Ground truth for a block ``[T, N]`` plus the severity driving the physics."""

    fault: NDArray[np.int8]
    active: BoolArray
    failed: BoolArray
    damage: FloatArray
    health: FloatArray
    rul_s: FloatArray

    def severity(self, fault: FaultType) -> FloatArray:
        """Damage of one fault type, zero where the machine has another or none."""
        return np.where(self.fault == fault, self.damage, 0.0)


@dataclass(frozen=True, slots=True)
class FaultTransition:
    """A fault onset, failure or maintenance at a step, for the event stream."""

    step: int
    machine: int
    kind: str
    fault: FaultType
    source: str = "hazard"


@dataclass(slots=True)
class FaultBook:
    """Per-machine fault state as arrays, advanced a block at a time."""

    kinds: tuple[str, ...]
    dt_s: float
    hazard_per_day: float
    mean_life_s: float
    repair_s: float
    rng: np.random.Generator
    allowed: frozenset[str] | None = None
    fault: NDArray[np.int8] = field(init=False)
    onset: IntArray = field(init=False)
    fail: IntArray = field(init=False)
    repair: IntArray = field(init=False)
    _pending: list[FaultTransition] = field(init=False, default_factory=list)
    _eligible: NDArray[np.float64] = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.kinds)
        self.fault = np.zeros(n, dtype=np.int8)
        self.onset = np.full(n, NO_STEP, dtype=np.int64)
        self.fail = np.full(n, NO_STEP, dtype=np.int64)
        self.repair = np.full(n, NO_STEP, dtype=np.int64)
        types = [f for f in FaultType if f is not FaultType.NONE]
        allowed = self.allowed
        self._eligible = np.array(
            [
                [kind in APPLICABLE[f] and (allowed is None or f.label in allowed) for f in types]
                for kind in self.kinds
            ],
            dtype=float,
        ).reshape(n, len(types))

    def life_steps(self, fault: FaultType, life_s: float | None = None, progression: float = 1.0) -> int:
        """Onset-to-failure life in whole steps (scripted ``life_s`` or the plant's mean life)."""
        seconds = life_s if life_s is not None else self.mean_life_s * LIFE_FACTOR[fault] / progression
        return max(1, round(seconds / self.dt_s))

    def inject(
        self, machine: int, fault: FaultType, step: int, life_steps: int, source: str = "scenario"
    ) -> None:
        """Start a fault at ``step`` (replacing any fault the machine has) that fails ``life_steps`` later."""
        self.fault[machine] = int(fault)
        self.onset[machine] = step
        self.fail[machine] = step + life_steps
        self.repair[machine] = step + life_steps + max(1, round(self.repair_s / self.dt_s))
        self._pending.append(FaultTransition(step, machine, "fault_onset", fault, source))

    def maintain(self, machine: int, step: int) -> None:
        """Schedule maintenance at ``step``: the machine is reset to healthy there."""
        self.repair[machine] = min(int(self.repair[machine]), step)

    def _draw_hazards(self, k0: int, steps: int) -> None:
        """Start random faults in healthy machines with the plant's hazard rate."""
        n = len(self.kinds)
        p = self.hazard_per_day / 86400.0 * self.dt_s
        hits = self.rng.random((steps, n)) < p
        choice = self.rng.random(n)
        life_noise = self.rng.lognormal(0.0, 0.35, n)
        if not hits.any():
            return
        healthy = (self.fault == FaultType.NONE) & (self.repair == NO_STEP)
        first = np.argmax(hits, axis=0)
        for machine in np.flatnonzero(hits.any(axis=0) & healthy):
            weights = self._eligible[machine]
            if weights.sum() == 0:
                continue
            fault = FaultType(1 + int(np.searchsorted(np.cumsum(weights) / weights.sum(), choice[machine])))
            life = self.life_steps(fault, self.mean_life_s * LIFE_FACTOR[fault] * life_noise[machine])
            self.inject(int(machine), fault, k0 + int(first[machine]), life, source="hazard")

    def advance(self, k0: int, steps: int) -> tuple[FaultLabels, list[FaultTransition]]:
        """Labels for steps ``k0 .. k0+steps-1`` and the onsets, failures and maintenance inside them."""
        self._draw_hazards(k0, steps)
        k = (k0 + np.arange(steps, dtype=np.int64))[:, None]
        onset, fail, repair = self.onset[None, :], self.fail[None, :], self.repair[None, :]
        has_fault = (self.fault != FaultType.NONE)[None, :]
        active = has_fault & (k >= onset) & (k < repair)
        failed = active & (k >= fail)
        life = np.maximum(fail - onset, 1).astype(np.float64)
        rate = np.log(1.0 / D0) / life
        elapsed = np.clip(k - onset, 0, None).astype(np.float64)
        damage = np.where(active, np.minimum(D0 * np.exp(rate * elapsed), 1.0), 0.0)
        damage = np.where(failed, 1.0, damage)
        rul = np.where(active, np.clip(fail - k, 0, None).astype(np.float64) * self.dt_s, RUL_CAP_S)
        labels = FaultLabels(
            fault=np.where(active, self.fault[None, :], 0).astype(np.int8),
            active=active,
            failed=failed,
            damage=damage,
            health=1.0 - damage,
            rul_s=np.minimum(rul, RUL_CAP_S),
        )
        k_end = k0 + steps
        transitions = [t for t in self._pending if t.step < k_end]
        self._pending = [t for t in self._pending if t.step >= k_end]
        for machine in np.flatnonzero(
            has_fault[0] & (self.fail >= k0) & (self.fail < k_end) & (self.fail < self.repair)
        ):
            transitions.append(
                FaultTransition(
                    int(self.fail[machine]), int(machine), "failure", FaultType(self.fault[machine])
                )
            )
        for machine in np.flatnonzero((self.repair >= k0) & (self.repair < k_end)):
            transitions.append(
                FaultTransition(
                    int(self.repair[machine]), int(machine), "maintenance", FaultType(self.fault[machine])
                )
            )
            self.fault[machine] = int(FaultType.NONE)
            self.onset[machine] = NO_STEP
            self.fail[machine] = NO_STEP
            self.repair[machine] = NO_STEP
        transitions.sort(key=lambda t: (t.step, t.machine))
        return labels, transitions
