"""Plant YAML validation and the generators."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from simulators.errors import PlantConfigError, ScenarioError
from simulators.plant import PLANTS_DIR, generate_plant, load_plant, parse_plant, subset_plant
from simulators.scenario import SCENARIOS_DIR, load_scenario


def demo_data() -> dict[str, Any]:
    """The demo plant as plain data, for mutating."""
    data = yaml.safe_load((PLANTS_DIR / "demo.yaml").read_text())
    assert isinstance(data, dict)
    return data


def first_line(data: dict[str, Any]) -> dict[str, Any]:
    line = data["sites"][0]["lines"][0]
    assert isinstance(line, dict)
    return line


@pytest.mark.parametrize("path", sorted(PLANTS_DIR.glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_plants_validate(path: Path) -> None:
    plant = load_plant(path)
    assert plant.machine_ids()


TWIN_SCENARIOS = sorted(p for p in SCENARIOS_DIR.glob("*.yaml") if not p.stem.startswith("harness_"))


def test_harness_scenarios_are_told_apart() -> None:
    # harness_*.yaml are the harness's own format (tests/unit/test_harness_*); the rest are twin scenarios.
    assert TWIN_SCENARIOS
    assert len(TWIN_SCENARIOS) < len(list(SCENARIOS_DIR.glob("*.yaml")))


@pytest.mark.parametrize("path", TWIN_SCENARIOS, ids=lambda p: p.stem)
def test_shipped_scenarios_fit_the_demo_plant(path: Path) -> None:
    load_scenario(path).check_against(load_plant("demo"))


def test_demo_has_every_kind_and_a_camera() -> None:
    plant = load_plant("demo")
    kinds = {m.kind for _, _, m in plant.iter_machines()}
    assert kinds == {"motor", "pump", "spindle", "conveyor"}
    assert [c.machine for c in plant.cameras()] == ["spindle-1"]


def _break_kind(d: dict[str, Any]) -> None:
    first_line(d)["machines"][0]["kind"] = "robot"


def _pump_without_curve(d: dict[str, Any]) -> None:
    del d["sites"][0]["lines"][1]["machines"][0]["rated"]["flow_m3h"]


def _camera_elsewhere(d: dict[str, Any]) -> None:
    first_line(d)["cameras"][0]["machine"] = "pump-1"


def _bad_rate(d: dict[str, Any]) -> None:
    first_line(d)["machines"][0]["sensors"][0]["rate_hz"] = 3


def _duplicate(d: dict[str, Any]) -> None:
    first_line(d)["machines"][1]["id"] = "spindle-1"


def _bad_shift(d: dict[str, Any]) -> None:
    first_line(d)["schedule"]["shifts"][0]["start"] = "25:00"


def _flow_on_motor(d: dict[str, Any]) -> None:
    first_line(d)["machines"][1]["sensors"].append({"type": "flow", "rate_hz": 1})


def _bearing(d: dict[str, Any]) -> None:
    first_line(d)["machines"][1]["bearing"]["ball_diameter_mm"] = 50


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            _break_kind,
            "sites.0.lines.0.machines.0.kind: Input should be 'motor', 'pump', 'spindle' or 'conveyor'",
        ),
        (_pump_without_curve, "pump pump-1: rated.flow_m3h and rated.head_m are required"),
        (_camera_elsewhere, "camera cam-1 inspects machine 'pump-1', which is not on line line-1"),
        (_bad_rate, "sensor temperature rate_hz=3.0 must divide simulation.sample_rate_hz=10.0"),
        (_duplicate, "machine id 'spindle-1' is used twice"),
        (_bad_shift, "time of day must be HH:MM"),
        (_flow_on_motor, "machine motor-1 is a motor: flow sensors need a pump"),
        (_bearing, "ball_diameter_mm must be smaller than pitch_diameter_mm"),
    ],
)
def test_invalid_plants_fail_with_a_clear_message(mutate: Any, expected: str) -> None:
    data = demo_data()
    mutate(data)
    with pytest.raises(PlantConfigError) as caught:
        parse_plant(data, "demo.yaml")
    assert expected in str(caught.value)
    assert str(caught.value).startswith("demo.yaml: ")


def test_missing_file_and_bad_yaml(tmp_path: Path) -> None:
    with pytest.raises(PlantConfigError, match="cannot read plant file"):
        load_plant(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("sites: [unclosed")
    with pytest.raises(PlantConfigError, match="not valid YAML"):
        load_plant(bad)


def test_scenario_with_unknown_machine_or_fault(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: x\nactions:\n  - {at_s: 1, action: inject_fault, machine: ghost, fault: bearing_outer}\n"
    )
    with pytest.raises(ScenarioError, match="unknown machine 'ghost'"):
        load_scenario(path).check_against(load_plant("demo"))
    path.write_text(
        "name: x\nactions:\n  - {at_s: 1, action: inject_fault, machine: motor-1, fault: pump_clogging}\n"
    )
    with pytest.raises(ScenarioError, match="a motor cannot have fault pump_clogging"):
        load_scenario(path).check_against(load_plant("demo"))
    path.write_text("name: x\nactions:\n  - {at_s: 1, action: inject_fault, machine: motor-1, fault: rust}\n")
    with pytest.raises(ScenarioError, match="unknown fault type 'rust'"):
        load_scenario(path)


def test_generated_plants_scale_and_shift() -> None:
    plant = generate_plant(1000, 3)
    assert len(plant.machine_ids()) == 1000 == len(set(plant.machine_ids()))
    shifted = generate_plant(40, 3, shifted=True)
    normal = generate_plant(40, 3)
    assert not set(shifted.machine_ids()) & set(normal.machine_ids())
    power = [m.rated.power_kw for _, _, m in normal.iter_machines() if m.kind == "motor"]
    shifted_power = [m.rated.power_kw for _, _, m in shifted.iter_machines() if m.kind == "motor"]
    assert min(shifted_power) > max(power)


def test_subset_keeps_only_the_requested_machines() -> None:
    plant = subset_plant(load_plant("demo"), frozenset({"pump-2", "motor-1"}))
    assert plant.machine_ids() == ("motor-1", "pump-2")
    assert plant.cameras() == []
