"""The demo's plan: plant, scenario timing, pacing and alert settings, derived from the models; pure.

The fault predictor sees a window of feature rows (``window_length`` steps of ``feature_step_s``
seconds of event time, four hours for the shipped model), so its first prediction needs that much
history. The demo therefore plays the plant in two phases:

* **warm-up** — the last ``history`` of the plant, simulated as fast as the machine allows (no
  camera frames), through the whole path (twin → MQTT → edge → runner → SQLite): the edge's windows
  fill, the dashboard's charts get their past;
* **live** — paced at ``speed``× wall time from then on, cameras on.

The faults of ``simulators/scenarios/demo_faults.yaml`` are replayed with their spacing and lives
stretched so that the first one (the spindle's outer-race bearing wear) lasts ``FAULT_LIFE_STEPS``
feature steps, and timed so that it starts ``LEAD_STEPS`` steps before the live phase: the spindle
is already wearing when the demo goes live, and the prediction crosses the alert threshold a few
feature steps later. Event time starts at the wall clock and runs ahead of it, as a fast twin's
does (the dashboard follows the newest event time).

Alert rules that count event time are scaled by ``speed`` so that they mean the same in wall
time: an edge node is stale after ``STALE_WALL_S`` wall seconds without data in the live phase
(the edge stamps every metric with its sample's event time and the cloud's stale rule runs on
event time, so a silent node goes stale while the other node's data moves event time on).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from simulators.plant import PlantSpec, parse_plant
from simulators.scenario import HarnessEvent, InjectFault, Scenario, ScenarioAction

SAMPLE_RATE_HZ = 1.0
"""Base sample rate of the demo plant: the fault model reads 5-minute means, 1 Hz is plenty."""
BLOCK_S = 30.0
"""Sim seconds per twin block (one MQTT batch per machine)."""
VIBRATION_PERIOD_S = 10.0
"""Sim seconds between vibration snippets (features held in between)."""
CAMERA_SIZE = 320
"""Rendered frame side in pixels (the detector's input size)."""
FRAMES_PER_WALL_S = 2.0
"""Parts inspected per second of wall time in the live phase (keeps two shared cores calm)."""
FAULT_LIFE_STEPS = 24
"""The first scripted fault lasts this many feature steps of the fault model."""
LEAD_STEPS = 4
"""The first fault starts this many feature steps before the live phase."""
MARGIN_STEPS = 2
"""Extra feature steps of warm-up, so the first window is complete when the live phase starts."""
STALE_WALL_S = 60.0
"""Wall seconds of the live phase without data before an edge node is stale (``speed`` × this in event
time, at least ``STALE_MIN_S``)."""
STALE_MIN_S = 1200.0
"""The least stale limit in event time: twice the twin's lead in the warm-up. The warm-up plays event
time as fast as it goes, the twin up to 10 sim minutes ahead of the newest sample the pipeline wrote,
so one node's data may lag the newest event time by about that much there; at 60× the limit is an
hour."""
DEFECT_INSPECTIONS = 30
"""Inspections the defect-rate window holds at the live frame rate."""


@dataclass(frozen=True, slots=True)
class ModelTiming:
    """What the fault model needs: rows per window and event seconds per row (0: raw samples)."""

    window_length: int
    step_s: float

    @property
    def history_s(self) -> float:
        """Event seconds of history before the first prediction."""
        step = self.step_s if self.step_s > 0 else 1.0 / SAMPLE_RATE_HZ
        return self.window_length * step


@dataclass(frozen=True, slots=True)
class DemoPlan:
    """Everything the demo's composition needs to know about time, the plant and the scenario."""

    plant: PlantSpec
    scenario: Scenario
    speed: float
    warmup_s: float
    epoch_ms: int
    block_s: float
    parts_per_minute: float
    first_fault_s: float | None
    processing: Mapping[str, Any] = field(default_factory=dict)

    def wall_of(self, sim_s: float) -> float:
        """Wall seconds after the live phase starts at which sim second ``sim_s`` is played."""
        return (sim_s - self.warmup_s) / self.speed


def round_up(value: float, step: float) -> float:
    """``value`` rounded up to a whole multiple of ``step``."""
    return math.ceil(value / step - 1e-9) * step


def demo_plant(base: PlantSpec, parts_per_minute: float) -> PlantSpec:
    """The plant as the demo runs it: around the clock, 1 Hz sensors, small frames, few parts."""
    data = base.model_dump(mode="json")
    sim = data["simulation"]
    sim["sample_rate_hz"] = SAMPLE_RATE_HZ
    sim["block_s"] = BLOCK_S
    sim["vibration_period_s"] = VIBRATION_PERIOD_S
    for site in data["sites"]:
        for line in site["lines"]:
            line.pop("schedule", None)  # around the clock: the demo may start at night
            for machine in line["machines"]:
                for sensor in machine["sensors"]:
                    sensor["rate_hz"] = min(float(sensor["rate_hz"]), SAMPLE_RATE_HZ)
            for camera in line.get("cameras", []):
                camera["parts_per_minute"] = parts_per_minute
                camera["width"] = camera["height"] = CAMERA_SIZE
    return parse_plant(data, f"{base.name} (demo)")


def retimed(base: Scenario, *, first_at_s: float, stretch: float) -> Scenario:
    """The machine actions of ``base``, spacing and lives × ``stretch``, the first one at ``first_at_s``.

    Harness events (broker stops, agent kills) are left out: nobody acts on them in the demo.
    """
    actions = [a for a in base.sorted_actions() if not isinstance(a, HarnessEvent)]
    if not actions:
        return base.model_copy(update={"actions": ()})
    t0 = actions[0].at_s
    moved: list[ScenarioAction] = []
    for action in actions:
        update: dict[str, Any] = {"at_s": max(0.0, first_at_s + (action.at_s - t0) * stretch)}
        if isinstance(action, InjectFault) and action.life_s is not None:
            update["life_s"] = action.life_s * stretch
        moved.append(action.model_copy(update=update))
    return Scenario(
        name=f"{base.name}-demo",
        description=f"{base.name} stretched ×{stretch:g} for the demo",
        actions=tuple(moved),
    )


def first_life_s(scenario: Scenario) -> float | None:
    """Life of the scenario's first scripted fault, if it has one."""
    for action in scenario.sorted_actions():
        if isinstance(action, InjectFault):
            return action.life_s
    return None


def node_stale_after(speed: float) -> str:
    """The stale-node limit in event time that means ``STALE_WALL_S`` of wall time at ``speed``×."""
    return f"{round(max(STALE_MIN_S, STALE_WALL_S * speed))}s"


def processing_settings(speed: float, parts_per_minute: float) -> dict[str, Any]:
    """Alert-rule settings in event time that mean the same in wall time at ``speed``×."""
    defect_window_s = round_up(DEFECT_INSPECTIONS / parts_per_minute * 60.0, 60.0)
    return {
        "node_stale_after": node_stale_after(speed),
        "alert_update_interval": f"{round(max(60.0, 10.0 * speed))}s",
        "defect_window": f"{round(defect_window_s)}s",
        "defect_min_inspections": max(5, DEFECT_INSPECTIONS * 2 // 3),
    }


def plan_demo(
    base_plant: PlantSpec,
    base_scenario: Scenario,
    *,
    speed: float,
    now_ms: int,
    timing: ModelTiming | None,
) -> DemoPlan:
    """The demo's plan for a live ``speed``; ``timing`` is None when no fault model runs."""
    if speed <= 0:
        raise ValueError(f"speed must be positive, got {speed}")
    ppm = min(600.0, FRAMES_PER_WALL_S * 60.0 / speed)
    plant = demo_plant(base_plant, ppm)
    if timing is not None:
        step = timing.step_s if timing.step_s > 0 else BLOCK_S
        warmup = round_up(timing.history_s + MARGIN_STEPS * step, BLOCK_S)
        lead = LEAD_STEPS * step
        life = first_life_s(base_scenario)
        stretch = max(1.0, FAULT_LIFE_STEPS * step / life) if life else 1.0
    else:  # no history to build: go live at once, the first fault half a minute of wall time in
        warmup, lead, stretch = 0.0, -round_up(30.0 * speed, BLOCK_S), 1.0
    first_at = max(0.0, warmup - lead)
    scenario = retimed(base_scenario, first_at_s=first_at, stretch=stretch)
    scenario.check_against(plant)
    first_fault = next((a.at_s for a in scenario.sorted_actions() if isinstance(a, InjectFault)), None)
    return DemoPlan(
        plant=plant,
        scenario=scenario,
        speed=speed,
        warmup_s=warmup,
        epoch_ms=now_ms,
        block_s=BLOCK_S,
        parts_per_minute=ppm,
        first_fault_s=first_fault,
        processing=processing_settings(speed, ppm),
    )
