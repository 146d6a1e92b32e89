"""Scenario files: scripted fault injections, maintenance, sensor faults and harness events at given times.

    name: bearing-then-broker
    actions:
      - {at_s: 60,  action: inject_fault, machine: spindle-1, fault: bearing_outer, life_s: 600}
      - {at_s: 90,  action: inject_fault, machine: pump-1, fault: pump_clogging, progression: 20}
      - {at_s: 700, action: maintenance, machine: spindle-1}
      - {at_s: 120, action: sensor_stuck, machine: pump-1, sensor: temperature}
      - {at_s: 130, action: sensor_drift, machine: motor-1, sensor: current, per_hour: 0.05}
      - {at_s: 300, action: broker_stop}
      - {at_s: 360, action: broker_start}
      - {at_s: 400, action: agent_kill, target: edge-1}

Times are seconds of simulated time from the start of the run. The twin applies the machine actions
itself; harness events (broker_stop, broker_start, agent_kill, agent_start, network_cut,
network_restore) are only passed on as timed events for whoever drives the run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from simulators.errors import ScenarioError
from simulators.faults import APPLICABLE, FaultType
from simulators.plant import PlantSpec, format_validation_error

SCENARIOS_DIR = Path(__file__).parent / "scenarios"
HARNESS_EVENTS = (
    "broker_stop",
    "broker_start",
    "agent_kill",
    "agent_start",
    "network_cut",
    "network_restore",
)
SensorName = Literal["temperature", "current", "speed", "vibration", "pressure", "flow"]


class _Action(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    at_s: Annotated[float, Field(ge=0)]


class InjectFault(_Action):
    """Start a fault on a machine; it fails after ``life_s`` or after the mean life / ``progression``."""

    action: Literal["inject_fault"]
    machine: str
    fault: str
    life_s: Annotated[float, Field(gt=0)] | None = None
    progression: Annotated[float, Field(gt=0)] = 1.0

    @field_validator("fault")
    @classmethod
    def _known_fault(cls, value: str) -> str:
        if FaultType.parse(value) is FaultType.NONE:
            raise ValueError("fault 'none' cannot be injected")
        return value

    @property
    def fault_type(self) -> FaultType:
        """The parsed fault type."""
        return FaultType.parse(self.fault)


class Maintenance(_Action):
    """Maintain a machine: reset its fault and recalibrate its sensors."""

    action: Literal["maintenance"]
    machine: str


class SensorStuck(_Action):
    """A sensor keeps repeating its last value."""

    action: Literal["sensor_stuck"]
    machine: str
    sensor: SensorName


class SensorDrift(_Action):
    """A sensor drifts by ``per_hour`` times its channel's typical value per hour."""

    action: Literal["sensor_drift"]
    machine: str
    sensor: SensorName
    per_hour: float = 0.05


class HarnessEvent(_Action):
    """An event for the harness (broker or agent stop/start); the twin only reports it."""

    action: Literal[
        "broker_stop", "broker_start", "agent_kill", "agent_start", "network_cut", "network_restore"
    ]
    target: str | None = None


ScenarioAction = Annotated[
    InjectFault | Maintenance | SensorStuck | SensorDrift | HarnessEvent, Field(discriminator="action")
]


class Scenario(BaseModel):
    """A named list of timed actions."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    description: str = ""
    actions: tuple[ScenarioAction, ...] = ()

    def sorted_actions(self) -> list[ScenarioAction]:
        """Actions in time order (stable for equal times)."""
        return sorted(self.actions, key=lambda a: a.at_s)

    def check_against(self, plant: PlantSpec) -> None:
        """Raise ScenarioError if an action names an unknown machine or a fault its kind cannot have."""
        kinds = {m.id: m.kind for _, _, m in plant.iter_machines()}
        problems: list[str] = []
        for i, action in enumerate(self.actions):
            machine = getattr(action, "machine", None)
            if machine is None:
                continue
            if machine not in kinds:
                problems.append(f"actions.{i}: unknown machine {machine!r}")
            elif isinstance(action, InjectFault) and kinds[machine] not in APPLICABLE[action.fault_type]:
                problems.append(f"actions.{i}: a {kinds[machine]} cannot have fault {action.fault}")
        if problems:
            raise ScenarioError(
                f"scenario {self.name!r} does not fit plant {plant.name!r}:\n  - " + "\n  - ".join(problems)
            )


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario YAML file; a bare name means a shipped scenario."""
    candidate = Path(path)
    if not candidate.exists() and not candidate.suffix:
        candidate = SCENARIOS_DIR / f"{candidate.name}.yaml"
    try:
        data = yaml.safe_load(candidate.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario file {candidate}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{candidate}: not valid YAML: {exc}") from exc
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(
            format_validation_error(exc, str(candidate)).replace("plant description", "scenario")
        ) from exc
