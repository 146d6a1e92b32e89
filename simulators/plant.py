"""The plant description: sites, lines, machines, sensors, cameras and schedules, validated from YAML."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from simulators.errors import PlantConfigError

MachineKind = Literal["motor", "pump", "spindle", "conveyor"]
SensorType = Literal["temperature", "current", "speed", "vibration", "pressure", "flow"]
MACHINE_KINDS: tuple[str, ...] = ("motor", "pump", "spindle", "conveyor")
PUMP_ONLY_SENSORS = frozenset({"pressure", "flow"})
Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PLANTS_DIR = Path(__file__).parent / "plants"

PositiveFloat = Annotated[float, Field(gt=0)]
Fraction = Annotated[float, Field(ge=0, le=1)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class BearingSpec(_Model):
    """Rolling-element bearing geometry, used for the defect frequencies."""

    n_balls: int = Field(default=9, ge=3, le=40)
    ball_diameter_mm: PositiveFloat = 7.94
    pitch_diameter_mm: PositiveFloat = 39.04
    contact_angle_deg: float = Field(default=0.0, ge=0, le=45)

    @model_validator(mode="after")
    def _ball_fits(self) -> BearingSpec:
        if self.ball_diameter_mm >= self.pitch_diameter_mm:
            raise ValueError("ball_diameter_mm must be smaller than pitch_diameter_mm")
        return self


class RatedSpec(_Model):
    """Nameplate values of the machine's drive (and pump, for pumps)."""

    power_kw: PositiveFloat
    speed_rpm: Annotated[float, Field(ge=300, le=30000)]
    voltage_v: PositiveFloat = 400.0
    efficiency: Annotated[float, Field(ge=0.5, le=0.99)] = 0.9
    power_factor: Annotated[float, Field(ge=0.5, le=1.0)] = 0.85
    flow_m3h: PositiveFloat | None = None
    head_m: PositiveFloat | None = None

    @property
    def current_a(self) -> float:
        """Rated line current of a three-phase motor from power, voltage, efficiency and power factor."""
        return self.power_kw * 1e3 / (3**0.5 * self.voltage_v * self.efficiency * self.power_factor)


class ThermalSpec(_Model):
    """First-order thermal model: time constant and temperature rise over ambient at rated load."""

    tau_s: PositiveFloat = 1200.0
    rise_c: PositiveFloat = 40.0


class LoadSpec(_Model):
    """Load profile: mean, a slow periodic swing, random wander, and for spindles speed programs."""

    mean: Annotated[float, Field(gt=0, le=1.2)] = 0.7
    amplitude: Annotated[float, Field(ge=0, le=0.6)] = 0.15
    period_s: PositiveFloat = 1800.0
    noise: Annotated[float, Field(ge=0, le=0.5)] = 0.03
    speed_programs: tuple[Annotated[float, Field(gt=0, le=1.2)], ...] = (1.0,)
    program_s: PositiveFloat = 300.0


class SensorSpec(_Model):
    """One sensor on a machine: its type, sampling rate and imperfections."""

    type: SensorType
    rate_hz: PositiveFloat = 1.0
    noise_scale: Annotated[float, Field(ge=0, le=20)] = 1.0
    quantization: Annotated[float, Field(ge=0)] | None = None
    dropout: Annotated[float, Field(ge=0, lt=1)] = 0.002
    jitter_ms: Annotated[float, Field(ge=0)] = 5.0


class MachineSpec(_Model):
    """A machine: kind, nameplate, bearing, thermal behaviour, load profile and sensors."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    kind: MachineKind
    rated: RatedSpec
    bearing: BearingSpec = Field(default_factory=BearingSpec)
    thermal: ThermalSpec = Field(default_factory=ThermalSpec)
    load: LoadSpec = Field(default_factory=LoadSpec)
    sensors: tuple[SensorSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _kind_consistent(self) -> MachineSpec:
        types = [s.type for s in self.sensors]
        duplicates = sorted({t for t in types if types.count(t) > 1})
        if duplicates:
            raise ValueError(f"machine {self.id}: sensor types listed twice: {', '.join(duplicates)}")
        if self.kind == "pump":
            if self.rated.flow_m3h is None or self.rated.head_m is None:
                raise ValueError(f"pump {self.id}: rated.flow_m3h and rated.head_m are required for pumps")
        else:
            wrong = sorted(PUMP_ONLY_SENSORS & set(types))
            if wrong:
                raise ValueError(
                    f"machine {self.id} is a {self.kind}: {', '.join(wrong)} sensors need a pump"
                )
        return self


class ShiftSpec(_Model):
    """A working shift, "HH:MM" to "HH:MM" (an end before the start crosses midnight)."""

    start: str
    end: str

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", value):
            raise ValueError(f"time of day must be HH:MM (00:00..23:59), got {value!r}")
        return value

    def window_s(self) -> tuple[float, float]:
        """Start and end in seconds after midnight; the end exceeds 86400 when the shift crosses midnight."""
        start = _seconds_of_day(self.start)
        end = _seconds_of_day(self.end)
        return float(start), float(end if end > start else end + 86400)


class ScheduleSpec(_Model):
    """When a line runs: shifts on working days (none listed means around the clock), ramp times."""

    shifts: tuple[ShiftSpec, ...] = ()
    days: tuple[Weekday, ...] = WEEKDAYS
    startup_s: PositiveFloat = 30.0
    stop_s: PositiveFloat = 20.0


class CameraSpec(_Model):
    """A camera over a line, inspecting the parts that one machine produces."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    machine: str
    parts_per_minute: Annotated[float, Field(gt=0, le=600)] = 30.0
    width: Annotated[int, Field(ge=64, le=4096)] = 640
    height: Annotated[int, Field(ge=64, le=4096)] = 640
    materials: tuple[str, ...] | None = None


class LineSpec(_Model):
    """A production line: its schedule, machines and cameras."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    schedule: ScheduleSpec = Field(default_factory=ScheduleSpec)
    machines: tuple[MachineSpec, ...] = Field(min_length=1)
    cameras: tuple[CameraSpec, ...] = ()

    @model_validator(mode="after")
    def _cameras_watch_own_machines(self) -> LineSpec:
        ids = {m.id for m in self.machines}
        for camera in self.cameras:
            if camera.machine not in ids:
                raise ValueError(
                    f"camera {camera.id} inspects machine {camera.machine!r}, which is not on line {self.id} "
                    f"(machines: {', '.join(sorted(ids))})"
                )
        return self


class SiteSpec(_Model):
    """A site (factory) with its lines."""

    id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")]
    lines: tuple[LineSpec, ...] = Field(min_length=1)


class FaultRatesSpec(_Model):
    """Random faults: hazard per machine-day, mean onset-to-failure life, repair time, allowed types."""

    hazard_per_day: Annotated[float, Field(ge=0)] = 0.02
    mean_life_h: PositiveFloat = 24.0
    repair_h: PositiveFloat = 4.0
    sensor_stuck_per_day: Annotated[float, Field(ge=0)] = 0.002
    sensor_drift_per_day: Annotated[float, Field(ge=0)] = 0.002
    types: tuple[str, ...] | None = None

    @field_validator("types")
    @classmethod
    def _known_types(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        known = (
            "bearing_outer",
            "bearing_inner",
            "imbalance",
            "misalignment",
            "cooling_failure",
            "winding_fault",
            "pump_clogging",
        )
        unknown = [v for v in value or () if v not in known]
        if unknown:
            raise ValueError(f"unknown fault types {unknown} (known: {', '.join(known)})")
        return value


class SimulationSpec(_Model):
    """Global simulation settings: base sample rate, block length, ambient and start time."""

    sample_rate_hz: Annotated[float, Field(gt=0, le=1000)] = 10.0
    block_s: PositiveFloat = 1.0
    vibration_period_s: PositiveFloat = 10.0
    ambient_c: float = 22.0
    ambient_swing_c: Annotated[float, Field(ge=0)] = 3.0
    start: datetime = datetime(2024, 1, 1, tzinfo=UTC)

    @field_validator("start")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    @model_validator(mode="after")
    def _block_multiple(self) -> SimulationSpec:
        dt_ms = 1000.0 / self.sample_rate_hz
        if abs(dt_ms - round(dt_ms)) > 1e-9:
            raise ValueError(f"1000 / sample_rate_hz must be a whole number of ms, got {dt_ms:.4g} ms")
        steps = self.block_s * self.sample_rate_hz
        if abs(steps - round(steps)) > 1e-9 or round(steps) < 1:
            raise ValueError(
                f"block_s ({self.block_s}) times sample_rate_hz ({self.sample_rate_hz}) "
                "must be a whole number"
            )
        return self


class PlantSpec(_Model):
    """The whole plant: simulation settings, fault rates and sites."""

    name: str
    group: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")] = "plant"
    simulation: SimulationSpec = Field(default_factory=SimulationSpec)
    faults: FaultRatesSpec = Field(default_factory=FaultRatesSpec)
    sites: tuple[SiteSpec, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_and_rates(self) -> PlantSpec:
        seen: dict[str, str] = {}
        for site, line, machine in self.iter_machines():
            where = f"{site.id}/{line.id}"
            if machine.id in seen:
                raise ValueError(f"machine id {machine.id!r} is used twice ({seen[machine.id]} and {where})")
            seen[machine.id] = where
            for sensor in machine.sensors:
                ratio = self.simulation.sample_rate_hz / sensor.rate_hz
                if abs(ratio - round(ratio)) > 1e-9 or round(ratio) < 1:
                    raise ValueError(
                        f"machine {machine.id}: sensor {sensor.type} rate_hz={sensor.rate_hz} must divide "
                        f"simulation.sample_rate_hz={self.simulation.sample_rate_hz}"
                    )
        cameras = [c.id for c in self.cameras()]
        duplicates = sorted({c for c in cameras if cameras.count(c) > 1})
        if duplicates:
            raise ValueError(f"camera ids used twice: {', '.join(duplicates)}")
        return self

    def iter_machines(self) -> Iterator[tuple[SiteSpec, LineSpec, MachineSpec]]:
        """Every machine with its site and line, in file order."""
        for site in self.sites:
            for line in site.lines:
                for machine in line.machines:
                    yield site, line, machine

    def cameras(self) -> list[CameraSpec]:
        """Every camera of the plant, in file order."""
        return [camera for site in self.sites for line in site.lines for camera in line.cameras]

    def machine_ids(self) -> tuple[str, ...]:
        """Machine ids in the order the twin's state arrays use."""
        return tuple(machine.id for _, _, machine in self.iter_machines())


@dataclass(frozen=True, slots=True)
class CameraPlacement:
    """A camera with the site, line and kind of the machine whose parts it inspects."""

    camera: CameraSpec
    site_id: str
    line_id: str
    machine_index: int
    machine_kind: str


def camera_placements(plant: PlantSpec) -> list[CameraPlacement]:
    """Resolve each camera to the index of its machine in the twin's arrays."""
    index = {mid: i for i, mid in enumerate(plant.machine_ids())}
    kinds = {m.id: m.kind for _, _, m in plant.iter_machines()}
    return [
        CameraPlacement(camera, site.id, line.id, index[camera.machine], kinds[camera.machine])
        for site in plant.sites
        for line in site.lines
        for camera in line.cameras
    ]


def _seconds_of_day(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def format_validation_error(exc: ValidationError, source: str) -> str:
    """One line per problem: where in the file, and what is wrong."""
    lines = [f"{source}: {exc.error_count()} problem(s) in the plant description"]
    for error in exc.errors():
        location = ".".join(str(part) for part in error["loc"]) or "(top level)"
        message = str(error["msg"]).removeprefix("Value error, ")
        lines.append(f"  - {location}: {message}")
    return "\n".join(lines)


def parse_plant(data: Any, source: str = "<plant>") -> PlantSpec:
    """Validate a plant description already read from YAML or built in code."""
    if not isinstance(data, dict):
        raise PlantConfigError(
            f"{source}: the plant description must be a mapping, got {type(data).__name__}"
        )
    try:
        return PlantSpec.model_validate(data)
    except ValidationError as exc:
        raise PlantConfigError(format_validation_error(exc, source)) from exc


def load_plant(path: str | Path) -> PlantSpec:
    """Read and validate a plant YAML file; a bare name like ``demo`` means a shipped plant."""
    candidate = Path(path)
    if not candidate.exists() and not candidate.suffix:
        candidate = PLANTS_DIR / f"{candidate.name}.yaml"
    try:
        text = candidate.read_text(encoding="utf-8")
    except OSError as exc:
        raise PlantConfigError(f"cannot read plant file {candidate}: {exc.strerror or exc}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PlantConfigError(f"{candidate}: not valid YAML: {exc}") from exc
    return parse_plant(data, str(candidate))


_SIZES = {
    # kind: (power kW range, speed rpm choices)
    "motor": ((5.5, 45.0), (1480.0, 2960.0, 985.0)),
    "pump": ((4.0, 30.0), (1475.0, 2950.0)),
    "spindle": ((7.5, 22.0), (6000.0, 8000.0, 12000.0)),
    "conveyor": ((1.5, 7.5), (1450.0, 960.0)),
}
_SHIFTED_SIZES = {
    "motor": ((55.0, 160.0), (740.0, 1490.0)),
    "pump": ((37.0, 90.0), (1480.0, 990.0)),
    "spindle": ((3.0, 5.5), (15000.0, 18000.0)),
    "conveyor": ((0.55, 1.1), (2850.0,)),
}
_BEARINGS = (  # n balls, ball mm, pitch mm, contact angle deg (6205, 6308, 7010 angular, 6312)
    (9, 7.94, 39.04, 0.0),
    (8, 15.08, 65.0, 0.0),
    (18, 7.5, 62.5, 15.0),
    (8, 22.2, 95.0, 0.0),
)


def _machine_dict(kind: str, mid: str, rng: np.random.Generator, shifted: bool) -> dict[str, Any]:
    """A random, valid machine description of one kind (values rounded to readable digits)."""

    def uniform(lo: float, hi: float) -> float:
        return round(float(rng.uniform(lo, hi)), 3)

    (p_lo, p_hi), speeds = (_SHIFTED_SIZES if shifted else _SIZES)[kind]
    power = float(np.round(np.exp(uniform(np.log(p_lo), np.log(p_hi))), 2))
    bearing = _BEARINGS[int(rng.integers(len(_BEARINGS)))]
    noise = uniform(2.0, 4.0) if shifted else uniform(0.7, 1.3)
    sensors: list[dict[str, Any]] = [
        {"type": "temperature", "rate_hz": 1.0, "noise_scale": noise},
        {"type": "current", "rate_hz": 10.0, "noise_scale": noise},
        {"type": "speed", "rate_hz": 10.0, "noise_scale": noise},
        {"type": "vibration", "rate_hz": 10.0, "noise_scale": noise},
    ]
    rated: dict[str, Any] = {"power_kw": power, "speed_rpm": float(rng.choice(speeds))}
    if kind == "pump":
        rated |= {"flow_m3h": round(power * uniform(6, 10), 1), "head_m": uniform(20, 60)}
        sensors += [
            {"type": "pressure", "rate_hz": 10.0, "noise_scale": noise},
            {"type": "flow", "rate_hz": 10.0},
        ]
    load: dict[str, Any] = {
        "mean": uniform(0.75, 1.0) if shifted else uniform(0.45, 0.8),
        "amplitude": uniform(0.2, 0.3) if shifted else uniform(0.05, 0.2),
        "period_s": uniform(300, 900) if shifted else uniform(1200, 7200),
        "noise": uniform(0.05, 0.1) if shifted else uniform(0.01, 0.04),
    }
    if kind == "spindle":
        load |= {"speed_programs": [0.5, 0.75, 1.0], "program_s": uniform(60, 600)}
    tau = round(float(np.clip(600.0 * power**0.35, 300.0, 4800.0)), 1)
    return {
        "id": mid,
        "kind": kind,
        "rated": rated,
        "bearing": dict(
            zip(
                ("n_balls", "ball_diameter_mm", "pitch_diameter_mm", "contact_angle_deg"),
                bearing,
                strict=True,
            )
        ),
        "thermal": {"tau_s": tau, "rise_c": uniform(30, 55)},
        "load": load,
        "sensors": sensors,
    }


def generate_plant(
    n_machines: int,
    seed: int,
    *,
    shifted: bool = False,
    machines_per_line: int = 25,
    lines_per_site: int = 8,
    name: str | None = None,
    hazard_per_day: float = 0.05,
    mean_life_h: float = 24.0,
    vibration_period_s: float = 30.0,
) -> PlantSpec:
    """A plant of ``n_machines`` random machines (``shifted``: other sizes, noise and load profiles)."""
    if n_machines < 1:
        raise PlantConfigError("n_machines must be at least 1")
    rng = np.random.default_rng(np.random.SeedSequence([seed, 0x9147, int(shifted)]))
    prefix = "x" if shifted else "m"
    kinds = rng.choice(np.array(MACHINE_KINDS), size=n_machines, p=[0.35, 0.3, 0.2, 0.15])
    machines = [_machine_dict(str(k), f"{prefix}{seed}-{i:05d}", rng, shifted) for i, k in enumerate(kinds)]
    lines = [
        {"id": f"line-{j // machines_per_line:03d}", "machines": machines[j : j + machines_per_line]}
        for j in range(0, n_machines, machines_per_line)
    ]
    sites = [
        {"id": f"site-{j // lines_per_site:02d}", "lines": lines[j : j + lines_per_site]}
        for j in range(0, len(lines), lines_per_site)
    ]
    data = {
        "simulation": {"block_s": 10.0, "vibration_period_s": vibration_period_s},
        "name": name or f"generated-{n_machines}-seed{seed}{'-shifted' if shifted else ''}",
        "faults": {"hazard_per_day": hazard_per_day, "mean_life_h": mean_life_h, "repair_h": 4.0},
        "sites": sites,
    }
    return parse_plant(data, f"generate_plant({n_machines}, seed={seed})")


def subset_plant(
    plant: PlantSpec, machine_ids: set[str] | frozenset[str], name: str | None = None
) -> PlantSpec:
    """The same plant with only the given machines (lines and sites left empty are dropped, cameras too)."""
    data = plant.model_dump(mode="json")
    sites = []
    for site in data["sites"]:
        lines = []
        for line in site["lines"]:
            machines = [m for m in line["machines"] if m["id"] in machine_ids]
            if machines:
                lines.append(line | {"machines": machines, "cameras": []})
        if lines:
            sites.append(site | {"lines": lines})
    if not sites:
        raise PlantConfigError(
            f"none of the {len(machine_ids)} requested machines is in plant {plant.name!r}"
        )
    return parse_plant(data | {"sites": sites, "name": name or plant.name}, f"subset of {plant.name}")
