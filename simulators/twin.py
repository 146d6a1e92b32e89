"""The machine side of the digital twin: every machine's physics, faults and sensors, a block at a time.

All machines of the plant live in arrays of shape ``[n_machines]`` (per-kind behaviour is a mask or
an index subset), and a block of ``T`` steps is computed as ``[T, n_machines]`` arrays, so the cost per
sample is a few vectorized operations. Order inside a block: scenario actions, fault labels (closed
form), schedule and speed ramps, load, pump hydraulics, current and losses, temperature (exact
first-order steps), vibration features, then the sensor layer.

Vibration features come from raw snippets (see ``simulators.vibration``). Synthesizing one for every
machine at every step would cost far more than the rest of the model, so each machine gets a fresh
snippet every ``simulation.vibration_period_s`` (machines staggered in groups so the cost per block is
even), computed with the state at the end of its block; in between the features are held (as a
gateway that publishes the last analysed window does), and set to the sensor floor while the machine
stands still.

Randomness comes from one ``numpy.random.SeedSequence(seed)`` spawned into a generator per subsystem
(machine parameters, load, faults, sensors, vibration, cameras), so the same plant, seed and block
length give bit-identical blocks.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulators import electrical, hydraulics
from simulators.faults import FAULT_NAMES, FaultBook, FaultLabels, FaultTransition, FaultType
from simulators.operating import ShiftCalendar, ou_wander, periodic_load, program_level, ramp_speed
from simulators.plant import PlantSpec
from simulators.records import TwinBlock, TwinEvent
from simulators.scenario import (
    HarnessEvent,
    InjectFault,
    Maintenance,
    Scenario,
    ScenarioAction,
    SensorDrift,
    SensorStuck,
)
from simulators.sensors import CHANNELS, SensorLayer, SensorTable
from simulators.thermal import simulate_thermal, thermal_resistance
from simulators.vibration import (
    FEATURE_NAMES,
    SnippetSynth,
    VibrationSeverity,
    bearing_frequencies,
    snippet_features,
)

FloatArray = NDArray[np.float64]

COOLING_LOSS_FACTOR = 3.0
BEARING_FRICTION = 0.03
STOPPED_FEATURES = np.array([0.003, 3.0, 3.5, 1e-4, 1e-4, 1e-5, 1e-5])
SUBSYSTEMS = ("machines", "load", "faults", "sensors", "vibration", "cameras")


@dataclass(frozen=True, slots=True)
class MachineIndex:
    """Where each machine of the arrays sits in the plant."""

    ids: tuple[str, ...]
    kinds: tuple[str, ...]
    sites: tuple[str, ...]
    lines: tuple[str, ...]

    def position(self, machine_id: str) -> int:
        """Index of a machine in the state arrays."""
        try:
            return self.ids.index(machine_id)
        except ValueError as exc:
            raise KeyError(f"unknown machine {machine_id!r}") from exc


def subsystem_rngs(seed: int) -> dict[str, np.random.Generator]:
    """One generator per subsystem, spawned from ``SeedSequence(seed)``."""
    children = np.random.SeedSequence(seed).spawn(len(SUBSYSTEMS))
    return {name: np.random.default_rng(child) for name, child in zip(SUBSYSTEMS, children, strict=True)}


class Twin:
    """The plant's machines: call ``step_block`` to advance the simulation by one block."""

    def __init__(
        self,
        plant: PlantSpec,
        seed: int,
        *,
        scenario: Scenario | None = None,
        random_faults: bool = True,
        block_s: float | None = None,
        epoch_ms: int | None = None,
    ) -> None:
        sim = plant.simulation
        self.plant = plant
        self.seed = seed
        self.dt_ms = round(1000.0 / sim.sample_rate_hz)
        self.dt_s = self.dt_ms / 1000.0
        self.block_steps = max(1, round((block_s or sim.block_s) / self.dt_s))
        self.epoch_ms = int(sim.start.timestamp() * 1000) if epoch_ms is None else int(epoch_ms)
        self.step = 0
        self.rngs = subsystem_rngs(seed)
        rows = list(plant.iter_machines())
        machines = [m for _, _, m in rows]
        self.index = MachineIndex(
            ids=tuple(m.id for m in machines),
            kinds=tuple(m.kind for m in machines),
            sites=tuple(s.id for s, _, _ in rows),
            lines=tuple(line.id for _, line, _ in rows),
        )
        n = len(machines)
        self.n = n
        kinds = np.array(self.index.kinds)
        self.is_pump = kinds == "pump"
        self.pumps = np.flatnonzero(self.is_pump)
        self.is_spindle = kinds == "spindle"

        def arr(values: Sequence[float]) -> FloatArray:
            return np.asarray(values, dtype=np.float64)

        self.power_w = arr([m.rated.power_kw * 1e3 for m in machines])
        self.rated_rpm = arr([m.rated.speed_rpm for m in machines])
        self.rated_current = arr([m.rated.current_a for m in machines])
        self.efficiency = arr([m.rated.efficiency for m in machines])
        self.rated_flow = arr([m.rated.flow_m3h or 0.0 for m in machines])
        self.rated_head = arr([m.rated.head_m or 0.0 for m in machines])
        self.n_balls = arr([m.bearing.n_balls for m in machines])
        self.ball_d = arr([m.bearing.ball_diameter_mm for m in machines])
        self.pitch_d = arr([m.bearing.pitch_diameter_mm for m in machines])
        self.contact = arr([m.bearing.contact_angle_deg for m in machines])
        self.tau_s = arr([m.thermal.tau_s for m in machines])
        rated_loss = self.power_w * (1.0 / self.efficiency - 1.0)
        self.r_th = thermal_resistance(arr([m.thermal.rise_c for m in machines]), rated_loss)
        self.load_mean = arr([m.load.mean for m in machines])
        self.load_amp = arr([m.load.amplitude for m in machines])
        self.load_period = arr([m.load.period_s for m in machines])
        self.load_noise = arr([m.load.noise for m in machines])
        self.program_s = arr([m.load.program_s for m in machines])
        width = max(len(m.load.speed_programs) for m in machines)
        self.levels = np.array([(list(m.load.speed_programs) * width)[:width] for m in machines])
        self.n_levels = np.array([len(m.load.speed_programs) for m in machines], dtype=np.int64)
        self.programmed = np.flatnonzero(self.n_levels > 1)

        line_ids = list(dict.fromkeys(self.index.lines))
        self.line_of = np.array([line_ids.index(line) for line in self.index.lines])
        schedules = {line.id: line.schedule for site in plant.sites for line in site.lines}
        self.calendars = [ShiftCalendar.from_spec(schedules[line]) for line in line_ids]
        self.up_per_step = arr([self.dt_s / schedules[line].startup_s for line in self.index.lines])
        self.down_per_step = arr([self.dt_s / schedules[line].stop_s for line in self.index.lines])

        params = self.rngs["machines"]
        self.load_phase = params.uniform(0, 2 * np.pi, n)
        self.salt = params.integers(0, 2**63, n, dtype=np.uint64)
        self.resonance_hz = params.uniform(1500.0, 3200.0, n)
        self.vib_phase = params.uniform(0, 2 * np.pi, n)
        self.vib_group = params.permutation(n)

        faults = plant.faults
        self.faults = FaultBook(
            kinds=self.index.kinds,
            dt_s=self.dt_s,
            hazard_per_day=faults.hazard_per_day if random_faults else 0.0,
            mean_life_s=faults.mean_life_h * 3600.0,
            repair_s=faults.repair_h * 3600.0,
            rng=self.rngs["faults"],
            allowed=frozenset(faults.types) if faults.types is not None else None,
        )
        self.sensor_table = SensorTable.from_plant(plant)
        self.sensors = SensorLayer(
            self.sensor_table,
            self.dt_s,
            self.rngs["sensors"],
            stuck_per_day=faults.sensor_stuck_per_day if random_faults else 0.0,
            drift_per_day=faults.sensor_drift_per_day if random_faults else 0.0,
        )
        self.synth = SnippetSynth(self.rngs["vibration"])
        self.vib_period_blocks = max(1, round(sim.vibration_period_s / (self.block_steps * self.dt_s)))

        self.speed_fraction = np.zeros(n)
        self.temperature = np.full(n, sim.ambient_c)
        self.wander = np.zeros(n)
        self.features = np.tile(STOPPED_FEATURES, (n, 1))
        self._block_index = 0
        self._actions = list(scenario.sorted_actions()) if scenario else []
        if scenario is not None:
            scenario.check_against(plant)

    @property
    def t_ms(self) -> int:
        """Event time (Unix ms) of the next step."""
        return self.epoch_ms + self.step * self.dt_ms

    @property
    def sim_s(self) -> float:
        """Simulated seconds since the start of the run."""
        return self.step * self.dt_s

    def inject(self, action: ScenarioAction) -> None:
        """Queue a scenario action (the twin applies it in the block that contains its time)."""
        self._actions.append(action)
        self._actions.sort(key=lambda a: a.at_s)

    def _apply_actions(self, k0: int, k_end: int) -> list[TwinEvent]:
        events: list[TwinEvent] = []
        due = [a for a in self._actions if round(a.at_s / self.dt_s) < k_end]
        self._actions = [a for a in self._actions if round(a.at_s / self.dt_s) >= k_end]
        for action in due:
            step = max(round(action.at_s / self.dt_s), k0)
            t_ms = self.epoch_ms + step * self.dt_ms
            if isinstance(action, InjectFault):
                i = self.index.position(action.machine)
                fault = action.fault_type
                self.faults.inject(
                    i, fault, step, self.faults.life_steps(fault, action.life_s, action.progression)
                )
            elif isinstance(action, Maintenance):
                self.faults.maintain(self.index.position(action.machine), step)
            elif isinstance(action, SensorStuck | SensorDrift):
                i = self.index.position(action.machine)
                if isinstance(action, SensorStuck):
                    self.sensors.stick(i, action.sensor, step)
                else:
                    self.sensors.drift(i, action.sensor, step, action.per_hour)
                events.append(
                    TwinEvent(t_ms, action.action, action.machine, None, "scenario", None, action.sensor)
                )
            elif isinstance(action, HarnessEvent):
                events.append(TwinEvent(t_ms, action.action, None, None, "scenario", action.target))
        return events

    def _transition_event(self, transition: FaultTransition) -> TwinEvent:
        machine_id = self.index.ids[transition.machine]
        if transition.kind == "maintenance":
            self.sensors.repair(transition.machine)
        fault = transition.fault.label if transition.fault is not FaultType.NONE else None
        t_ms = self.epoch_ms + transition.step * self.dt_ms
        return TwinEvent(t_ms, transition.kind, machine_id, fault, transition.source)

    def step_block(self) -> TwinBlock:
        """Advance by one block and return its samples, labels and events."""
        k0, steps = self.step, self.block_steps
        k_end = k0 + steps
        scripted = self._apply_actions(k0, k_end)
        labels, transitions = self.faults.advance(k0, steps)
        k = k0 + np.arange(steps, dtype=np.int64)
        t_s: FloatArray = k.astype(np.float64) * self.dt_s
        clean, running = self._physics(t_s, labels)
        values = self.sensors.measure(clean, k0)
        jitter = self.sensors.jitter_ms(steps)
        t_ms = self.epoch_ms + k * self.dt_ms
        events = scripted + [self._transition_event(t) for t in transitions]
        events.sort(key=lambda e: e.t_ms)
        self.step = k_end
        self._block_index += 1
        return TwinBlock(
            step0=k0,
            dt_ms=self.dt_ms,
            t_ms=t_ms,
            sample_t_ms=t_ms[:, None] + jitter,
            machine_ids=self.index.ids,
            machine_kinds=self.index.kinds,
            channels=CHANNELS,
            present=self.sensor_table.present,
            values=values,
            health=labels.health.astype(np.float32),
            fault=labels.fault,
            fault_active=labels.active,
            failed=labels.failed,
            rul_s=labels.rul_s,
            running=running,
            events=tuple(events),
        )

    def _physics(self, t_s: FloatArray, labels: FaultLabels) -> tuple[NDArray[np.float32], NDArray[np.bool_]]:
        """Clean channel values ``[T, N, C]`` and the running mask ``[T, N]``."""
        steps = t_s.size
        sim = self.plant.simulation
        epoch_s = self.epoch_ms / 1000.0 + t_s
        line_on = np.stack([calendar.on(epoch_s) for calendar in self.calendars], axis=1)
        command = line_on[:, self.line_of] & ~labels.failed
        fraction = ramp_speed(self.speed_fraction, command, self.up_per_step, self.down_per_step)
        self.speed_fraction = fraction[-1].copy()
        running = fraction > 0.0
        starting = command & (fraction < 1.0)

        wander = ou_wander(
            self.wander, self.rngs["load"].standard_normal((steps, self.n)), self.load_noise, self.dt_s
        )
        self.wander = wander[-1].copy()
        demand = periodic_load(t_s, self.load_mean, self.load_amp, self.load_period, self.load_phase) + wander
        demand = np.clip(demand, 0.05, 1.2)
        level = np.ones((steps, self.n))
        if self.programmed.size:
            q = self.programmed
            level[:, q] = program_level(
                t_s, self.salt[q], self.program_s[q], self.levels[q], self.n_levels[q]
            )

        present = {int(f) for f in np.unique(labels.fault)}
        zeros = np.zeros((steps, self.n))
        sev = {
            f: labels.severity(f) if int(f) in present else zeros
            for f in FaultType
            if f is not FaultType.NONE
        }
        outer, inner = sev[FaultType.BEARING_OUTER], sev[FaultType.BEARING_INNER]
        misalign, imbalance = sev[FaultType.MISALIGNMENT], sev[FaultType.IMBALANCE]
        winding, cooling = sev[FaultType.WINDING_FAULT], sev[FaultType.COOLING_FAILURE]
        friction = BEARING_FRICTION * (outer + inner) + 0.05 * misalign + 0.02 * imbalance

        speed_ratio = fraction * level
        load = demand * fraction + friction * fraction
        pressure = flow = zeros
        if self.pumps.size:  # computed for all machines (cheaper than gathering columns), kept for pumps
            pump_speed = fraction * (0.6 + 0.4 * np.minimum(demand, 1.0))
            point = hydraulics.pump_operating_point(
                pump_speed, sev[FaultType.PUMP_CLOGGING], self.rated_flow, self.rated_head
            )
            speed_ratio = np.where(self.is_pump, pump_speed, speed_ratio)
            load = np.where(self.is_pump, point.power_ratio + friction * fraction, load)
            pressure, flow = point.pressure_bar, point.flow_m3h
        speed_rpm = self.rated_rpm * speed_ratio * (1.0 - 0.02 * np.minimum(load, 1.5))

        current = electrical.motor_current_a(self.rated_current, load, fraction, starting, winding)
        loss = electrical.motor_loss_w(self.power_w, self.efficiency, load, fraction, winding)
        loss = loss + self.power_w * 0.02 * (outer + inner + misalign) * fraction
        resistance = self.r_th * (1.0 + COOLING_LOSS_FACTOR * cooling)
        tau = self.tau_s * (1.0 + COOLING_LOSS_FACTOR * cooling)
        day_s = np.mod(epoch_s, 86400.0)
        ambient = sim.ambient_c + sim.ambient_swing_c * np.sin(2 * np.pi * (day_s - 9 * 3600.0) / 86400.0)
        steady = ambient[:, None] + resistance * loss
        temperature = simulate_thermal(self.temperature, steady, tau, self.dt_s)
        self.temperature = temperature[-1].copy()

        clean = np.empty((steps, self.n, len(CHANNELS)), dtype=np.float32)
        clean[:, :, 0] = temperature
        clean[:, :, 1] = current
        clean[:, :, 2] = speed_rpm
        vib = slice(3, 3 + len(FEATURE_NAMES))
        clean[:, :, vib] = self._vibration(speed_rpm[-1], labels)[None, :, :]
        stopped = ~running
        if stopped.any():
            clean[stopped, vib] = STOPPED_FEATURES
        clean[:, :, 3 + len(FEATURE_NAMES)] = pressure
        clean[:, :, 4 + len(FEATURE_NAMES)] = flow
        return clean, running

    def _vibration(self, rpm_end: FloatArray, labels: FaultLabels) -> FloatArray:
        """Vibration features ``[N, F]``: fresh snippets for this block's group, the others held."""
        group = np.flatnonzero(
            self.vib_group % self.vib_period_blocks == self._block_index % self.vib_period_blocks
        )
        if group.size:
            shaft = rpm_end[group] / 60.0
            orders = bearing_frequencies(
                shaft, self.n_balls[group], self.ball_d[group], self.pitch_d[group], self.contact[group]
            )
            fault = labels.fault[-1, group]
            damage = labels.damage[-1, group]

            def level(kind: FaultType) -> FloatArray:
                return np.where(fault == kind, damage, 0.0)

            severity = VibrationSeverity(
                outer=level(FaultType.BEARING_OUTER),
                inner=level(FaultType.BEARING_INNER),
                imbalance=level(FaultType.IMBALANCE),
                misalignment=level(FaultType.MISALIGNMENT),
                winding=level(FaultType.WINDING_FAULT),
            )
            wave, high = self.synth.synthesize(
                shaft, orders, severity, self.resonance_hz[group], self.vib_phase[group]
            )
            self.features[group] = snippet_features(wave, high, shaft, orders)
        return self.features


def fault_name(fault_id: int) -> str | None:
    """The label name of a fault id, or None for healthy."""
    return None if fault_id == 0 else FAULT_NAMES[fault_id]
