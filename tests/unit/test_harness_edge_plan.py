"""How the harness splits a plant among edge agents, and the edge.yaml it writes for each."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from edge.settings import AgentSettings, TwinSourceSettings
from iiot.harness.edge_plan import AgentPlan, BrokerAccess, agent_config, deep_merge, plan_agents, plant_lines
from iiot.harness.errors import ScenarioFileError
from iiot.harness.scenario import EdgeSection
from simulators.plant import PlantSpec, generate_plant, load_plant

BROKER = BrokerAccess("127.0.0.1", 1883, "edge")


@pytest.fixture(scope="module")
def demo() -> PlantSpec:
    return load_plant("demo")


def edge(**data: Any) -> EdgeSection:
    return EdgeSection.model_validate(data)


def test_plant_lines(demo: PlantSpec) -> None:
    lines = plant_lines(demo)
    assert [(p.site_id, p.line_id, len(p.machines), p.cameras) for p in lines] == [
        ("site-a", "line-1", 3, ("cam-1",)),
        ("site-a", "line-2", 2, ()),
    ]


@pytest.mark.parametrize(
    ("agents", "expected"),
    [
        (1, [["line-000", "line-001", "line-002", "line-003"]]),
        (2, [["line-000", "line-002"], ["line-001", "line-003"]]),
        (4, [["line-000"], ["line-001"], ["line-002"], ["line-003"]]),
    ],
)
def test_a_count_deals_lines_round_robin(agents: int, expected: list[list[str]]) -> None:
    plant = generate_plant(100, 0)  # 4 lines of 25
    plans = plan_agents(edge(agents=agents), plant)
    assert [[line for _, line in p.sensor_lines] for p in plans] == expected
    assert sum(len(p.machines) for p in plans) == 100
    assert [p.agent_id for p in plans] == [f"edge-{k}" for k in range(1, agents + 1)]


def test_cameras_go_with_their_line(demo: PlantSpec) -> None:
    first, second = plan_agents(edge(agents=2), demo)
    assert first.cameras == (("site-a", "line-1", "cam-1"),)
    assert second.cameras == ()
    assert first.machines == ("spindle-1", "motor-1", "conveyor-1")


def test_more_agents_than_lines_is_refused(demo: PlantSpec) -> None:
    with pytest.raises(ScenarioFileError, match="3 agents but the plant has 2 line"):
        plan_agents(edge(agents=3), demo)


def test_an_explicit_list_can_make_a_camera_only_agent(demo: PlantSpec) -> None:
    plans = plan_agents(
        edge(
            agents=[
                {"id": "sensors", "lines": ["line-1", "site-a/line-2"]},
                {"id": "vision", "sensors": False, "lines": ["line-1"], "cameras": ["cam-1"]},
            ]
        ),
        demo,
    )
    assert plans[0].sensor_lines == (("site-a", "line-1"), ("site-a", "line-2"))
    assert plans[0].cameras == ()
    assert plans[1].sensor_lines == ()
    assert plans[1].machines == ()
    assert plans[1].camera_ids == ("cam-1",)


@pytest.mark.parametrize(
    ("agents", "fragment"),
    [
        ([{"id": "a", "lines": ["line-9"]}], "unknown line 'line-9'"),
        ([{"id": "a", "cameras": ["cam-9"]}], "unknown camera 'cam-9'"),
        ([{"id": "a", "lines": ["site-b/line-1"]}], "unknown line 'site-b/line-1'"),
    ],
)
def test_explicit_lists_name_what_exists(
    demo: PlantSpec, agents: list[dict[str, Any]], fragment: str
) -> None:
    with pytest.raises(ScenarioFileError, match=fragment):
        plan_agents(edge(agents=agents), demo)


def test_a_line_on_two_sites_needs_its_site() -> None:
    plant = generate_plant(300, 0)  # line-008.. on site-01: ids stay unique, so make a duplicate by hand
    data = plant.model_dump(mode="json")
    data["sites"][1]["lines"][0]["id"] = "line-000"
    for m in data["sites"][1]["lines"][0]["machines"]:
        m["id"] = "dup-" + m["id"]
    twice = PlantSpec.model_validate(data)
    with pytest.raises(ScenarioFileError, match="on several sites"):
        plan_agents(edge(agents=[{"id": "a", "lines": ["line-000"]}]), twice)
    (plan,) = plan_agents(edge(agents=[{"id": "a", "lines": ["site-01/line-000"]}]), twice)
    assert plan.sensor_lines == (("site-01", "line-000"),)


def test_agent_config_validates_as_edge_settings(tmp_path: Path, demo: PlantSpec) -> None:
    plan = plan_agents(edge(agents=1), demo)[0]
    config = agent_config(
        plan,
        group_id="h-abc",
        broker=BROKER,
        state_dir=tmp_path,
        detector=Path("det.manifest.json"),
        fault=Path("fault.manifest.json"),
        extra={"fault": {"tick_s": 2.0}, "node_metrics_period_s": 5.0},
    )
    settings = AgentSettings(**config)
    assert (settings.group_id, settings.edge_node_id) == ("h-abc", "edge-1")
    assert settings.telemetry.deadband == 0.0
    assert settings.telemetry.period_s == 0.0
    assert settings.detector is not None
    assert settings.detector.publish_empty
    assert settings.fault is not None
    assert settings.fault.tick_s == 2.0
    assert settings.fault.manifest == Path("fault.manifest.json")
    assert settings.outbox.path == tmp_path / "outbox.sqlite"
    assert settings.node_metrics_period_s == 5.0
    sources = [s for s in settings.sources if isinstance(s, TwinSourceSettings)]
    assert [(s.line_ids, s.sensors, s.frames, s.cameras) for s in sources] == [
        (("line-1", "line-2"), True, False, ()),
        (("line-1",), False, True, ("cam-1",)),
    ]
    assert "password" not in str(config)


def test_without_a_detector_no_frames_are_read(tmp_path: Path, demo: PlantSpec) -> None:
    plan = plan_agents(edge(agents=1), demo)[0]
    config = agent_config(plan, group_id="g", broker=BROKER, state_dir=tmp_path)
    assert "detector" not in config
    assert "fault" not in config
    assert all(not s["frames"] for s in config["sources"])


def test_no_pipelines_for_an_agent_without_machines_or_cameras(tmp_path: Path) -> None:
    plan = AgentPlan("idle", (), (), ())
    config = agent_config(
        plan, group_id="g", broker=BROKER, state_dir=tmp_path, detector=Path("d"), fault=Path("f")
    )
    assert ("detector" in config, "fault" in config, config["sources"]) == (False, False, [])


@pytest.mark.parametrize(
    ("base", "extra", "expected"),
    [
        ({"a": 1}, {"b": 2}, {"a": 1, "b": 2}),
        ({"a": {"x": 1, "y": 2}}, {"a": {"y": 3}}, {"a": {"x": 1, "y": 3}}),
        ({"a": {"x": 1}}, {"a": 5}, {"a": 5}),
        ({"a": [1, 2]}, {"a": [3]}, {"a": [3]}),
    ],
)
def test_deep_merge(base: dict[str, Any], extra: dict[str, Any], expected: dict[str, Any]) -> None:
    before = copy.deepcopy(base)
    assert deep_merge(base, extra) == expected
    assert base == before  # the input is not changed
