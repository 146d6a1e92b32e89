"""How the plant is split among edge agents, and each agent's edge.yaml; pure, no I/O.

The twin source of an agent filters by line (``twin/v1/{site}/{line}/...``) and by camera, so the
unit of the split is a line for sensors and a camera for frames. A count of agents deals the
lines round-robin and sends each camera with its line; a list names them. Every agent publishes
every sample that changed (deadband 0, no periodic repeats) and an event for every frame, so the
harness knows exactly which identities must reach storage.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from iiot.harness.errors import ScenarioFileError
from iiot.harness.scenario import AgentSpec, EdgeSection
from simulators.plant import PlantSpec


@dataclass(frozen=True, slots=True)
class LinePlace:
    """A line of the plant with its machines and cameras."""

    site_id: str
    line_id: str
    machines: tuple[str, ...]
    cameras: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class AgentPlan:
    """What one agent reads: sensor lines (site, line) and cameras (site, line, camera)."""

    agent_id: str
    sensor_lines: tuple[tuple[str, str], ...]
    cameras: tuple[tuple[str, str, str], ...]
    machines: tuple[str, ...]

    @property
    def camera_ids(self) -> tuple[str, ...]:
        """The ids of its cameras."""
        return tuple(c for _, _, c in self.cameras)


@dataclass(frozen=True, slots=True)
class BrokerAccess:
    """Where and as whom an agent connects (the password travels in the environment, not the file)."""

    host: str
    port: int
    username: str


def plant_lines(plant: PlantSpec) -> tuple[LinePlace, ...]:
    """Every line in plant order."""
    return tuple(
        LinePlace(site.id, line.id, tuple(m.id for m in line.machines), tuple(c.id for c in line.cameras))
        for site in plant.sites
        for line in site.lines
    )


def plan_agents(edge: EdgeSection, plant: PlantSpec) -> tuple[AgentPlan, ...]:
    """The agents of a scenario over a plant; ScenarioFileError when the split cannot be made."""
    lines = plant_lines(plant)
    if isinstance(edge.agents, int):
        n = edge.agents
        if n > len(lines):
            raise ScenarioFileError(
                f"edge.agents: {n} agents but the plant has {len(lines)} line(s); the split is per line"
            )
        specs = tuple(
            AgentSpec(
                id=f"edge-{k + 1}",
                lines=tuple(f"{p.site_id}/{p.line_id}" for p in lines[k::n]),
                cameras=tuple(c for p in lines[k::n] for c in p.cameras),
            )
            for k in range(n)
        )
    else:
        specs = edge.agents
    return tuple(_plan(spec, lines) for spec in specs)


def _plan(spec: AgentSpec, lines: Sequence[LinePlace]) -> AgentPlan:
    chosen = [_find_line(name, lines, spec.id) for name in spec.lines] if spec.sensors else []
    cameras = []
    for camera in spec.cameras:
        place = next((p for p in lines if camera in p.cameras), None)
        if place is None:
            raise ScenarioFileError(f"edge.agents {spec.id}: unknown camera {camera!r}")
        cameras.append((place.site_id, place.line_id, camera))
    return AgentPlan(
        spec.id,
        tuple((p.site_id, p.line_id) for p in chosen),
        tuple(cameras),
        tuple(m for p in chosen for m in p.machines),
    )


def _find_line(name: str, lines: Sequence[LinePlace], agent: str) -> LinePlace:
    site, _, line = name.rpartition("/")
    matches = [p for p in lines if p.line_id == line and (not site or p.site_id == site)]
    if not matches:
        raise ScenarioFileError(f"edge.agents {agent}: unknown line {name!r}")
    if len(matches) > 1:
        sites = ", ".join(p.site_id for p in matches)
        raise ScenarioFileError(
            f"edge.agents {agent}: line {name!r} is on several sites ({sites}); use site/line"
        )
    return matches[0]


def _sources(plan: AgentPlan, frames: bool) -> list[dict[str, Any]]:
    sources: list[dict[str, Any]] = []
    for site in dict.fromkeys(s for s, _ in plan.sensor_lines):
        sources.append(
            {
                "kind": "twin",
                "site_id": site,
                "line_ids": [line for s, line in plan.sensor_lines if s == site],
                "sensors": True,
                "frames": False,
            }
        )
    for site in dict.fromkeys(s for s, _, _ in plan.cameras) if frames else ():
        here = [(line, cam) for s, line, cam in plan.cameras if s == site]
        sources.append(
            {
                "kind": "twin",
                "site_id": site,
                "line_ids": list(dict.fromkeys(line for line, _ in here)),
                "sensors": False,
                "frames": True,
                "cameras": [cam for _, cam in here],
            }
        )
    return sources


def deep_merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in, mappings recursively, everything else replaced."""
    out = copy.deepcopy(dict(base))
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def agent_config(
    plan: AgentPlan,
    *,
    group_id: str,
    broker: BrokerAccess,
    state_dir: Path,
    detector: Path | None = None,
    fault: Path | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The edge.yaml of one agent as plain data; frames are read only when a detector runs."""
    config: dict[str, Any] = {
        "group_id": group_id,
        "edge_node_id": plan.agent_id,
        "mqtt": {"host": broker.host, "port": broker.port, "username": broker.username},
        "sources": _sources(plan, frames=detector is not None),
        "telemetry": {"enabled": True, "deadband": 0.0, "deadbands": {}, "period_s": 0.0},
        "outbox": {"path": str(state_dir / "outbox.sqlite")},
        "health": {"enabled": False},
    }
    if detector is not None and plan.cameras:
        config["detector"] = {"manifest": str(detector), "publish_empty": True, "crop": False}
    if fault is not None and plan.machines:
        config["fault"] = {"manifest": str(fault)}
    return deep_merge(config, extra or {})
