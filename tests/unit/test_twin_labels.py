"""Ground truth: RUL, health, failure, maintenance and scripted injection times."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.faults import D0, RUL_CAP_S, FaultBook, FaultType
from simulators.plant import load_plant
from simulators.scenario import Scenario
from simulators.twin import Twin

DT = 0.1


def book(hazard: float = 0.0) -> FaultBook:
    """A fault book of three motors with no random faults."""
    return FaultBook(("motor", "motor", "pump"), DT, hazard, 3600.0, 60.0, np.random.default_rng(0))


def test_rul_falls_one_second_per_second_and_is_zero_exactly_at_failure() -> None:
    faults = book()
    faults.inject(1, FaultType.BEARING_INNER, step=50, life_steps=1200)
    labels, transitions = faults.advance(0, 1800)
    rul = labels.rul_s[:, 1]
    active = labels.active[:, 1]
    assert not active[:50].any()
    assert active[50:].all()
    assert np.all(rul[:50] == RUL_CAP_S)
    assert np.allclose(np.diff(rul[50:1250]), -DT)
    assert rul[1250] == 0.0
    assert rul[1249] == pytest.approx(DT)
    assert np.all(rul[1250:] == 0.0)
    failure = [t for t in transitions if t.kind == "failure"]
    assert [(t.step, t.machine, t.fault) for t in failure] == [(1250, 1, FaultType.BEARING_INNER)]


def test_health_starts_near_one_and_crosses_zero_at_failure() -> None:
    faults = book()
    faults.inject(0, FaultType.IMBALANCE, step=0, life_steps=1000)
    labels, _ = faults.advance(0, 1200)
    health = labels.health[:, 0]
    assert health[0] == pytest.approx(1 - D0)
    assert np.all(np.diff(health[:1000]) < 0)
    assert health[999] > 0.0
    assert health[1000] == 0.0
    assert labels.failed[1000:, 0].all()
    assert not labels.failed[:1000, 0].any()
    assert np.all(labels.health[:, 1] == 1.0)


def test_corrective_maintenance_resets_after_repair_time() -> None:
    faults = book()
    faults.inject(2, FaultType.PUMP_CLOGGING, step=10, life_steps=100)
    labels, transitions = faults.advance(0, 1000)
    repair_step = 110 + int(60.0 / DT)
    assert [t.kind for t in transitions] == ["fault_onset", "failure", "maintenance"]
    assert transitions[-1].step == repair_step
    assert labels.health[repair_step - 1, 2] == 0.0
    assert labels.health[repair_step, 2] == 1.0
    assert labels.fault[repair_step - 1, 2] == FaultType.PUMP_CLOGGING
    assert labels.fault[repair_step, 2] == 0
    assert labels.rul_s[repair_step, 2] == RUL_CAP_S
    later, _ = faults.advance(1000, 10)
    assert not later.active.any()


def test_preventive_maintenance_prevents_the_failure() -> None:
    faults = book()
    faults.inject(0, FaultType.WINDING_FAULT, step=0, life_steps=500)
    faults.maintain(0, 300)
    labels, transitions = faults.advance(0, 600)
    assert [t.kind for t in transitions] == ["fault_onset", "maintenance"]
    assert not labels.failed.any()
    assert labels.health[299, 0] < 1.0
    assert labels.health[300, 0] == 1.0


def test_hazard_injects_faults_only_of_applicable_types() -> None:
    faults = FaultBook(("motor",) * 50 + ("pump",) * 50, 1.0, 500.0, 3600.0, 600.0, np.random.default_rng(1))
    _labels, transitions = faults.advance(0, 600)
    onsets = [t for t in transitions if t.kind == "fault_onset"]
    assert len(onsets) > 50
    assert all(t.fault is not FaultType.PUMP_CLOGGING for t in onsets if t.machine < 50)
    assert all(t.source == "hazard" for t in onsets)


def test_scenario_injection_happens_at_the_scripted_time() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "s",
            "actions": [
                {
                    "at_s": 12.3,
                    "action": "inject_fault",
                    "machine": "conveyor-1",
                    "fault": "misalignment",
                    "life_s": 30,
                },
                {"at_s": 7.0, "action": "broker_stop"},
            ],
        }
    )
    twin = Twin(load_plant("demo"), 1, scenario=scenario, random_faults=False)
    machine = twin.index.position("conveyor-1")
    blocks = [twin.step_block() for _ in range(50)]
    active = np.concatenate([b.fault_active[:, machine] for b in blocks])
    t_ms = np.concatenate([b.t_ms for b in blocks])
    onset = int(np.argmax(active))
    assert t_ms[onset] - twin.epoch_ms == 12300
    assert not active[:onset].any()
    rul = np.concatenate([b.rul_s[:, machine] for b in blocks])
    failed_at = int(np.argmax(rul[onset:] == 0.0)) + onset
    assert t_ms[failed_at] - twin.epoch_ms == 42300
    events = [e for b in blocks for e in b.events]
    kinds = [(e.kind, e.t_ms - twin.epoch_ms) for e in events]
    assert ("broker_stop", 7000) in kinds
    assert ("fault_onset", 12300) in kinds
    assert ("failure", 42300) in kinds


def test_failed_machine_stops_and_restarts_after_repair() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "f",
            "actions": [
                {
                    "at_s": 30,
                    "action": "inject_fault",
                    "machine": "motor-1",
                    "fault": "imbalance",
                    "life_s": 30,
                }
            ],
        }
    )
    plant = load_plant("demo")
    twin = Twin(plant, 1, scenario=scenario, random_faults=False, block_s=10)
    machine = twin.index.position("motor-1")
    blocks = [twin.step_block() for _ in range(int(plant.faults.repair_h * 360) + 12)]
    running = np.concatenate([b.running[:, machine] for b in blocks])
    failed = np.concatenate([b.failed[:, machine] for b in blocks])
    assert running[590]
    assert not running[900]
    assert failed[900]
    assert not failed[-1]
    assert running[-1]
