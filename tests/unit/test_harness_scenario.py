"""Harness scenario files: the shipped ones load and fit their plants; bad files fail with clear errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from iiot.harness.cli import group
from iiot.harness.errors import ScenarioFileError
from iiot.harness.scenario import (
    HarnessScenario,
    load_harness_scenario,
    parse_harness_scenario,
    resolve_plant,
    scenario_path,
)
from simulators.scenario import SCENARIOS_DIR, InjectFault

SHIPPED = sorted(p.stem.removeprefix("harness_") for p in SCENARIOS_DIR.glob("harness_*.yaml"))


def minimal(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {"name": "t", "plant": {"name": "demo"}, "twin": {"duration_s": 600}}
    data.update(changes)
    return data


def test_the_four_scenarios_ship() -> None:
    assert {"smoke", "bearing_wear", "outage", "scale"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_scenarios_load_and_fit_their_plants(name: str) -> None:
    scenario = load_harness_scenario(name)
    plant = resolve_plant(scenario.plant)
    scenario.check_against(plant)
    for path in (scenario.edge.fault, scenario.edge.detector):
        assert path is None or path.suffix == ".json"


def test_smoke_is_one_line_five_machines_one_camera_two_faults() -> None:
    scenario = load_harness_scenario("smoke")
    plant = resolve_plant(scenario.plant)
    assert [len(line.machines) for site in plant.sites for line in site.lines] == [5]
    assert len(plant.cameras()) == 1
    faults = [a for a in scenario.twin_scenario().actions if isinstance(a, InjectFault)]
    assert len(faults) == 2
    assert all(f.at_s + (f.life_s or 0) < scenario.twin.duration_s for f in faults)
    assert scenario.twin.duration_s / scenario.twin.speed <= 600  # a few minutes of wall time


def test_outage_scenario_stops_the_broker_sixty_seconds_and_kills_an_agent() -> None:
    scenario = load_harness_scenario("outage")
    at = {e.action: e.at_s for e in scenario.events}
    assert at["broker_start"] - at["broker_stop"] == pytest.approx(60 * scenario.twin.speed)
    assert "agent_kill" in at
    assert "agent_start" in at


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (minimal(twin={}), "twin.duration_s: Field required"),
        (minimal(plant={"name": "demo", "generate": 5}), "exactly one of name, generate, inline"),
        (minimal(plant={}), "exactly one of name, generate, inline"),
        (minimal(colour="blue"), "colour: Extra inputs are not permitted"),
        (minimal(twin={"duration_s": 60, "speed": 0}), "twin.speed"),
        (minimal(events=[{"at_s": 700, "action": "broker_stop"}]), "after the run ends"),
        (minimal(events=[{"at_s": 10, "action": "agent_kill"}]), "needs a target"),
        (minimal(events=[{"at_s": 10, "action": "broker_stop", "target": "x"}]), "takes no target"),
        (minimal(events=[{"at_s": 10, "action": "worker_kill", "target": "worker-2"}]), "unknown worker"),
        (minimal(events=[{"at_s": 10, "action": "explode"}]), "events.0.action"),
        (minimal(expectations={"faults": {"min_flagged_share": 1.5}}), "min_flagged_share"),
        (minimal(expectations={"latency": {"telemetry": {"p99": 5}}}), "p99: Extra inputs"),
    ],
)
def test_invalid_scenarios_say_where_and_what(data: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ScenarioFileError) as info:
        parse_harness_scenario(data, "s.yaml")
    assert str(info.value).startswith("s.yaml: ")
    assert fragment in str(info.value)


def test_a_scenario_must_be_a_mapping() -> None:
    with pytest.raises(ScenarioFileError, match="must be a mapping"):
        parse_harness_scenario(["a"], "s.yaml")


def test_unreadable_and_invalid_yaml(tmp_path: Path) -> None:
    with pytest.raises(ScenarioFileError, match="cannot read"):
        load_harness_scenario(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioFileError, match="not valid YAML"):
        load_harness_scenario(bad)


def test_checks_against_the_plant_name_unknown_agents_and_machines() -> None:
    scenario = parse_harness_scenario(
        minimal(
            events=[{"at_s": 10, "action": "agent_kill", "target": "edge-9"}],
            twin={
                "duration_s": 600,
                "actions": [{"at_s": 5, "action": "inject_fault", "machine": "nope-1", "fault": "imbalance"}],
            },
        )
    )
    with pytest.raises(ScenarioFileError) as info:
        scenario.check_against(resolve_plant(scenario.plant))
    assert "unknown agent 'edge-9'" in str(info.value)
    assert "unknown machine 'nope-1'" in str(info.value)


def test_agent_ids_from_a_count_or_a_list() -> None:
    assert parse_harness_scenario(minimal(edge={"agents": 3})).agent_ids() == ("edge-1", "edge-2", "edge-3")
    listed = parse_harness_scenario(minimal(edge={"agents": [{"id": "a", "lines": ["line-1"]}]}))
    assert listed.agent_ids() == ("a",)


def test_twin_scenario_adds_inline_actions_to_the_referenced_file() -> None:
    scenario = parse_harness_scenario(
        minimal(
            twin={
                "duration_s": 600,
                "scenario": "spindle_bearing",
                "actions": [{"at_s": 5, "action": "maintenance", "machine": "pump-1"}],
            }
        )
    )
    actions = scenario.twin_scenario().actions
    assert actions[-1].action == "maintenance"
    assert len(actions) > 1


def test_events_are_sorted() -> None:
    scenario = parse_harness_scenario(
        minimal(events=[{"at_s": 50, "action": "broker_start"}, {"at_s": 10, "action": "broker_stop"}])
    )
    assert [e.action for e in scenario.sorted_events()] == ["broker_stop", "broker_start"]


def test_scenario_path_finds_shipped_names(tmp_path: Path) -> None:
    assert scenario_path("smoke") == SCENARIOS_DIR / "harness_smoke.yaml"
    assert scenario_path(tmp_path / "x.yaml") == tmp_path / "x.yaml"


def test_resolve_plant_runs_around_the_clock_and_renames_sites() -> None:
    scenario = parse_harness_scenario(minimal())
    plant = resolve_plant(scenario.plant, site_suffix="-abc")
    assert [s.id for s in plant.sites] == ["site-a-abc"]
    assert all(not line.schedule.shifts for site in plant.sites for line in site.lines)
    kept = resolve_plant(
        parse_harness_scenario(minimal(plant={"name": "demo", "around_the_clock": False})).plant
    )
    assert kept.sites[0].lines[0].schedule.shifts


def test_resolve_plant_generated_and_bad_inline() -> None:
    generated = resolve_plant(parse_harness_scenario(minimal(plant={"generate": 30, "seed": 1})).plant)
    assert len(generated.machine_ids()) == 30
    bad = parse_harness_scenario(minimal(plant={"inline": {"name": "x", "sites": []}}))
    with pytest.raises(ScenarioFileError, match="sites"):
        resolve_plant(bad.plant)


def test_round_trip_through_yaml(tmp_path: Path) -> None:
    scenario = load_harness_scenario("smoke")
    path = tmp_path / "copy.yaml"
    path.write_text(yaml.safe_dump(scenario.model_dump(mode="json")))
    assert load_harness_scenario(path) == scenario
    assert isinstance(scenario, HarnessScenario)


def test_check_command_prints_the_split() -> None:
    result = CliRunner().invoke(group, ["check", "smoke"])
    assert result.exit_code == 0, result.output
    assert "edge-1: lines smoke/line-1; 5 machines; cameras cam-1" in result.output


def test_check_command_exits_2_on_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\n")
    result = CliRunner().invoke(group, ["check", str(bad)])
    assert result.exit_code == 2
    assert "problem(s) in the harness scenario" in result.output
