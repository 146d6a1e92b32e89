"""Harness scenario files: which plant, how the pipeline is laid out, what happens when, what must hold.

    name: smoke
    plant: {name: demo, around_the_clock: true}       # or {generate: 1000, seed: 0} or {inline: {...}}
    twin: {seed: 1, speed: 2, duration_s: 300, actions: [...inject_fault / maintenance...]}
    edge: {agents: 1, fault: models/artifacts/fault/manifest.json}
    cloud: {bridges: 1, workers: 1}
    events:
      - {at_s: 120, action: broker_stop}
      - {at_s: 180, action: broker_start}
      - {at_s: 200, action: agent_kill, target: edge-1}
    expectations:
      faults: {min_flagged_share: 0.5, min_median_lead_s: 60, max_false_alerts_per_machine_day: 2}
      completeness: {max_lost: 0, max_duplicated: 0}
      latency: {telemetry: {p99_s: 10}}

Validated by pydantic (``extra="forbid"``: a misspelt key is an error); every problem is reported
with its place in the file. Checks that need the plant (machine and line names, targets of the
events) run in ``check_against``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from iiot.harness.errors import ScenarioFileError
from simulators.errors import SimulatorError
from simulators.plant import PlantSpec, generate_plant, load_plant, parse_plant
from simulators.scenario import (
    SCENARIOS_DIR,
    InjectFault,
    Maintenance,
    Scenario,
    SensorDrift,
    SensorStuck,
    load_scenario,
)

PROCESS_ACTIONS = {
    "agent_kill": "agent",
    "agent_start": "agent",
    "worker_kill": "worker",
    "worker_start": "worker",
    "bridge_kill": "bridge",
    "bridge_start": "bridge",
}
HarnessAction = Literal[
    "broker_stop",
    "broker_start",
    "agent_kill",
    "agent_start",
    "worker_kill",
    "worker_start",
    "bridge_kill",
    "bridge_start",
]
TwinAction = Annotated[InjectFault | Maintenance | SensorStuck | SensorDrift, Field(discriminator="action")]
Fraction = Annotated[float, Field(ge=0, le=1)]
Seconds = Annotated[float, Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PlantRef(_Model):
    """The plant: a shipped name or YAML path, a generated size, or an inline description."""

    name: str | None = Field(default=None, description="Shipped plant name (demo, bearing_wear) or a path.")
    generate: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="Machines of a generated plant."
    )
    seed: int = Field(default=0, description="Seed of the generated plant.")
    inline: dict[str, Any] | None = Field(
        default=None, description="A plant description, as in a plant file."
    )
    around_the_clock: bool = Field(
        default=True, description="Drop shift schedules, so results do not depend on the wall-clock day."
    )
    max_rate_hz: Annotated[float, Field(gt=0)] | None = Field(
        default=None,
        description="Cap the base sample rate and every sensor's rate (fit a plant to a small host).",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> PlantRef:
        given = [k for k in ("name", "generate", "inline") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(f"give exactly one of name, generate, inline (got {given or 'none'})")
        return self


class TwinSection(_Model):
    """The twin: seed, pacing, duration, its fault script."""

    seed: int = Field(default=0, description="Twin seed.")
    speed: Annotated[float, Field(gt=0, le=1000)] = Field(
        default=1.0, description="Sim seconds per wall second."
    )
    duration_s: Annotated[float, Field(gt=0)] = Field(description="Sim seconds to run.")
    block_s: Annotated[float, Field(gt=0)] | None = Field(
        default=None, description="Sim seconds per published batch (none: the plant's block)."
    )
    cameras: bool = Field(default=True, description="Render camera frames.")
    random_faults: bool = Field(default=False, description="Also draw random faults from the plant's rates.")
    scenario: str | None = Field(default=None, description="A twin scenario file or shipped name.")
    actions: tuple[TwinAction, ...] = Field(default=(), description="Twin actions, added to the scenario's.")


class AgentSpec(_Model):
    """One edge agent: the lines whose sensors it reads and the cameras whose frames it inspects."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    lines: tuple[str, ...] = Field(default=(), description="Line ids ('site/line' when ambiguous).")
    sensors: bool = Field(default=True, description="Read the lines' sensor batches.")
    cameras: tuple[str, ...] = Field(default=(), description="Camera ids whose frames it inspects.")


class EdgeSection(_Model):
    """Edge agents, how the plant is split among them, and their models."""

    agents: Annotated[int, Field(ge=1)] | tuple[AgentSpec, ...] = Field(
        default=1, description="A count (lines dealt round-robin, cameras with their line) or a list."
    )
    detector: Path | None = Field(default=None, description="Detector manifest (none: vision off).")
    fault: Path | None = Field(
        default=None, description="Fault predictor manifest (none: fault pipeline off)."
    )
    settings: dict[str, Any] = Field(
        default_factory=dict, description="Merged into every agent's edge.yaml (e.g. fault: {tick_s: 2})."
    )


class CloudSection(_Model):
    """Bridges and Faust workers, and extra environment for them (processing thresholds)."""

    bridges: Annotated[int, Field(ge=1, le=16)] = 1
    workers: Annotated[int, Field(ge=1, le=16)] = 1
    env: dict[str, str] = Field(default_factory=dict, description="Extra IIOT_* variables for both.")


class HarnessEventSpec(_Model):
    """Something the harness does at a sim time."""

    at_s: Seconds
    action: HarnessAction
    target: str | None = Field(default=None, description="agent id, worker-N or bridge-N.")


class ObserveSection(_Model):
    """How the harness watches the run."""

    poll_interval_s: Annotated[float, Field(gt=0)] = Field(
        default=2.0, description="Wall seconds between storage polls (latency resolution)."
    )
    probe_machines: Annotated[int, Field(ge=0)] = Field(
        default=2, description="Machines whose stored samples are polled for latency."
    )
    ready_timeout_s: Annotated[float, Field(gt=0)] = Field(
        default=180.0, description="Wall seconds for every agent's birth to reach storage."
    )
    drain_s: Annotated[float, Field(gt=0)] = Field(
        default=120.0, description="Longest wall wait after the twin for storage to catch up."
    )
    settle_s: Annotated[float, Field(gt=0)] = Field(
        default=20.0, description="Stop draining after this long without new points."
    )


class FaultExpectations(_Model):
    """Faults flagged before failure and false alerts."""

    min_flagged_share: Fraction | None = None
    min_median_lead_s: Seconds | None = None
    max_false_alerts_per_machine_day: Seconds | None = None
    alert_kinds: tuple[str, ...] = Field(
        default=("prediction",), description="Alert kinds that count (wildcards allowed, e.g. range.*)."
    )
    pre_onset_s: Seconds = Field(default=0.0, description="Alerts this long before onset still flag.")
    post_fault_s: Seconds = Field(
        default=300.0, description="Alerts this long after maintenance are explained."
    )


class DetectionExpectations(_Model):
    """Precision and recall per class (one bound for all classes, or per class)."""

    iou: Annotated[float, Field(gt=0, le=1)] = 0.5
    min_precision: Fraction | dict[str, Fraction] | None = None
    min_recall: Fraction | dict[str, Fraction] | None = None


class CompletenessExpectations(_Model):
    """Loss and duplicates by identity."""

    max_lost: Annotated[int, Field(ge=0)] | None = Field(
        default=0, description="Lost identities no outage explains."
    )
    max_lost_excused_share: Fraction | None = Field(
        default=None, description="Share of expected identities lost inside outages."
    )
    max_duplicated: Annotated[int, Field(ge=0)] | None = 0
    outage_margin_s: Seconds = Field(
        default=30.0, description="Sim seconds added after an outage ends (reconnects, restarts)."
    )


class Percentiles(_Model):
    """Upper bounds of latency percentiles, in seconds."""

    p50_s: Seconds | None = None
    p95_s: Seconds | None = None
    p99_s: Seconds | None = None


class LatencyExpectations(_Model):
    """Latency bounds from the twin's emission to storage, to an alert, to a detection event."""

    telemetry: Percentiles = Field(default_factory=Percentiles)
    telemetry_outside_outages: Percentiles = Field(
        default_factory=Percentiles, description="Telemetry whose sample time no outage covers."
    )
    alert: Percentiles = Field(default_factory=Percentiles)
    detection: Percentiles = Field(default_factory=Percentiles)


class Expectations(_Model):
    """What must hold for the run to pass."""

    faults: FaultExpectations = Field(default_factory=FaultExpectations)
    detection: DetectionExpectations = Field(default_factory=DetectionExpectations)
    completeness: CompletenessExpectations = Field(default_factory=CompletenessExpectations)
    latency: LatencyExpectations = Field(default_factory=LatencyExpectations)


class HarnessScenario(_Model):
    """A whole harness run."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    description: str = ""
    plant: PlantRef
    twin: TwinSection
    edge: EdgeSection = Field(default_factory=EdgeSection)
    cloud: CloudSection = Field(default_factory=CloudSection)
    events: tuple[HarnessEventSpec, ...] = ()
    observe: ObserveSection = Field(default_factory=ObserveSection)
    expectations: Expectations = Field(default_factory=Expectations)

    @model_validator(mode="after")
    def _events_fit(self) -> HarnessScenario:
        problems = []
        for i, event in enumerate(self.events):
            if event.at_s > self.twin.duration_s:
                problems.append(
                    f"events.{i}: at_s {event.at_s:g} is after the run ends ({self.twin.duration_s:g})"
                )
            kind = PROCESS_ACTIONS.get(event.action)
            if kind is None:
                if event.target is not None:
                    problems.append(f"events.{i}: {event.action} takes no target")
                continue
            if event.target is None:
                problems.append(f"events.{i}: {event.action} needs a target ({kind} id)")
            elif kind != "agent":
                count = self.cloud.workers if kind == "worker" else self.cloud.bridges
                names = [f"{kind}-{n}" for n in range(1, count + 1)]
                if event.target not in names:
                    problems.append(f"events.{i}: unknown {kind} {event.target!r} (have {', '.join(names)})")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def agent_ids(self) -> tuple[str, ...]:
        """The edge agents' ids, in order."""
        if isinstance(self.edge.agents, int):
            return tuple(f"edge-{n}" for n in range(1, self.edge.agents + 1))
        return tuple(a.id for a in self.edge.agents)

    def sorted_events(self) -> list[HarnessEventSpec]:
        """Events in time order (stable for equal times)."""
        return sorted(self.events, key=lambda e: e.at_s)

    def check_against(self, plant: PlantSpec) -> None:
        """Raise ScenarioFileError when the events or twin actions name what the plant lacks."""
        problems: list[str] = []
        agents = set(self.agent_ids())
        if len(agents) != len(self.agent_ids()):
            problems.append(f"edge.agents: ids must be unique, got {list(self.agent_ids())}")
        for i, event in enumerate(self.events):
            if PROCESS_ACTIONS.get(event.action) == "agent" and event.target not in agents:
                problems.append(
                    f"events.{i}: unknown agent {event.target!r} (have {', '.join(sorted(agents))})"
                )
        try:
            self.twin_scenario().check_against(plant)
        except SimulatorError as exc:
            problems.append(str(exc))
        if problems:
            raise ScenarioFileError(f"harness scenario {self.name!r}:\n  - " + "\n  - ".join(problems))

    def twin_scenario(self) -> Scenario:
        """The twin's scenario: the referenced file's actions plus the inline ones."""
        base = load_scenario(self.twin.scenario) if self.twin.scenario else None
        actions = (*(base.actions if base else ()), *self.twin.actions)
        return Scenario(name=f"harness-{self.name}", description=self.description, actions=actions)


def format_problems(exc: ValidationError, source: str) -> str:
    """One line per problem: where in the file, and what is wrong."""
    lines = [f"{source}: {exc.error_count()} problem(s) in the harness scenario"]
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  - {location}: {str(error['msg']).removeprefix('Value error, ')}")
    return "\n".join(lines)


def parse_harness_scenario(data: Any, source: str = "<scenario>") -> HarnessScenario:
    """Validate a harness scenario already read from YAML."""
    if not isinstance(data, dict):
        raise ScenarioFileError(f"{source}: a harness scenario must be a mapping, got {type(data).__name__}")
    try:
        return HarnessScenario.model_validate(data)
    except ValidationError as exc:
        raise ScenarioFileError(format_problems(exc, source)) from exc


def scenario_path(name_or_path: str | Path) -> Path:
    """A path as given, or a shipped scenario: ``smoke`` -> simulators/scenarios/harness_smoke.yaml."""
    candidate = Path(name_or_path)
    if candidate.exists() or candidate.suffix:
        return candidate
    for name in (f"harness_{candidate.name}.yaml", f"{candidate.name}.yaml"):
        if (SCENARIOS_DIR / name).exists():
            return SCENARIOS_DIR / name
    return candidate


def load_harness_scenario(name_or_path: str | Path) -> HarnessScenario:
    """Read and validate a harness scenario file (a bare name means a shipped one)."""
    path = scenario_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ScenarioFileError(f"cannot read harness scenario {path}: {exc.strerror or exc}") from exc
    except yaml.YAMLError as exc:
        raise ScenarioFileError(f"{path}: not valid YAML: {exc}") from exc
    return parse_harness_scenario(data, str(path))


def resolve_plant(ref: PlantRef, *, site_suffix: str = "") -> PlantSpec:
    """The plant a scenario names: rates capped and around the clock if asked, sites suffixed."""
    try:
        if ref.generate is not None:
            plant = generate_plant(ref.generate, ref.seed)
        elif ref.inline is not None:
            plant = parse_plant(ref.inline, "plant.inline")
        else:
            plant = load_plant(str(ref.name))
    except SimulatorError as exc:
        raise ScenarioFileError(str(exc)) from exc
    if not ref.around_the_clock and not site_suffix and ref.max_rate_hz is None:
        return plant
    data = plant.model_dump(mode="json")
    cap = ref.max_rate_hz
    if cap is not None:
        data["simulation"]["sample_rate_hz"] = min(data["simulation"]["sample_rate_hz"], cap)
    for site in data["sites"]:
        site["id"] = f"{site['id']}{site_suffix}"[:64]
        for line in site["lines"]:
            if ref.around_the_clock:
                line.pop("schedule", None)
            for machine in line["machines"] if cap is not None else ():
                for sensor in machine["sensors"]:
                    sensor["rate_hz"] = min(sensor["rate_hz"], cap)
    try:
        return parse_plant(data, f"{plant.name} (harness)")
    except SimulatorError as exc:
        raise ScenarioFileError(str(exc)) from exc
