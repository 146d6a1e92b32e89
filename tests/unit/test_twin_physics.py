"""Thermal time constant, pump clogging and motor current."""

from __future__ import annotations

import numpy as np
import pytest

from simulators import electrical, hydraulics
from simulators.plant import load_plant, subset_plant
from simulators.scenario import Scenario
from simulators.sensors import CHANNEL_INDEX
from simulators.thermal import simulate_thermal, thermal_step
from simulators.twin import Twin


@pytest.mark.parametrize(("tau", "dt"), [(600.0, 0.1), (1200.0, 1.0), (90.0, 0.5)])
def test_step_in_heat_reaches_63_percent_after_one_time_constant(tau: float, dt: float) -> None:
    steps = round(2 * tau / dt)
    steady = np.full((steps, 1), 80.0)
    temps = simulate_thermal(np.array([20.0]), steady, np.full((steps, 1), tau), dt)
    at_tau = temps[round(tau / dt) - 1, 0]
    assert (at_tau - 20.0) / 60.0 == pytest.approx(1 - np.exp(-1), abs=1e-9)


def test_exact_discretization_does_not_depend_on_step_size() -> None:
    one = thermal_step(np.array([20.0]), np.array([80.0]), np.array([300.0]), 10.0)
    temps = simulate_thermal(np.array([20.0]), np.full((100, 1), 80.0), np.full((100, 1), 300.0), 0.1)
    assert temps[-1, 0] == pytest.approx(one[0], rel=1e-12)


def test_cooling_failure_overheats_the_machine() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "c",
            "actions": [
                {
                    "at_s": 0,
                    "action": "inject_fault",
                    "machine": "motor-1",
                    "fault": "cooling_failure",
                    "life_s": 3600,
                }
            ],
        }
    )
    plant = subset_plant(load_plant("demo"), frozenset({"motor-1"}))
    hot = Twin(plant, 3, scenario=scenario, random_faults=False, block_s=60)
    cool = Twin(plant, 3, random_faults=False, block_s=60)
    machine = hot.index.position("motor-1")
    for _ in range(58):
        hot_block, cool_block = hot.step_block(), cool.step_block()
    col = CHANNEL_INDEX["temperature_c"]
    assert np.nanmean(hot_block.values[:, machine, col]) > np.nanmean(cool_block.values[:, machine, col]) + 10


@pytest.mark.parametrize("speed", [0.8, 1.0])
def test_clogging_lowers_flow_raises_head_and_shaft_power(speed: float) -> None:
    clog = np.linspace(0.0, 1.0, 11)
    point = hydraulics.pump_operating_point(np.full(11, speed), clog, 90.0, 40.0)
    assert np.all(np.diff(point.flow_m3h) < 0)
    assert np.all(np.diff(point.pressure_bar) > 0)
    assert np.all(np.diff(point.power_ratio) > 0)


def test_rated_pump_runs_at_its_rated_point() -> None:
    point = hydraulics.pump_operating_point(np.array([1.0]), np.array([0.0]), 90.0, 40.0)
    assert point.flow_m3h[0] == pytest.approx(90.0)
    assert point.head_m[0] == pytest.approx(40.0)
    assert point.power_ratio[0] == pytest.approx(1.0)


def test_clogged_pump_in_the_twin_flow_falls_current_rises() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "p",
            "actions": [
                {
                    "at_s": 0,
                    "action": "inject_fault",
                    "machine": "pump-1",
                    "fault": "pump_clogging",
                    "life_s": 600,
                }
            ],
        }
    )
    twin = Twin(load_plant("demo"), 5, scenario=scenario, random_faults=False, block_s=10)
    machine = twin.index.position("pump-1")
    blocks = [twin.step_block() for _ in range(60)]

    def mean(channel: str, chosen: list[int]) -> float:
        return float(np.nanmean([blocks[b].values[:, machine, CHANNEL_INDEX[channel]] for b in chosen]))

    early, late = [3, 4, 5], [55, 56, 57, 58]
    assert mean("flow_m3h", late) < 0.8 * mean("flow_m3h", early)
    assert mean("current_a", late) > 1.1 * mean("current_a", early)
    assert mean("pressure_bar", late) > mean("pressure_bar", early)


def test_winding_fault_raises_current_and_loss() -> None:
    args = (np.array([30.0]), np.array([0.7]), np.array([1.0]), np.array([0.0]))
    assert (
        electrical.motor_current_a(*args, np.array([1.0]))[0]
        > electrical.motor_current_a(*args, np.array([0.0]))[0]
    )
    loss = (np.array([15e3]), np.array([0.9]), np.array([0.7]), np.array([1.0]))
    assert (
        electrical.motor_loss_w(*loss, np.array([1.0]))[0]
        > electrical.motor_loss_w(*loss, np.array([0.0]))[0]
    )


def test_stopped_motor_draws_no_current() -> None:
    current = electrical.motor_current_a(
        np.array([30.0]), np.array([0.7]), np.array([0.0]), np.array([0.0]), np.array([0.0])
    )
    assert current[0] == 0.0
