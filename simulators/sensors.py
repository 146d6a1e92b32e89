"""Channels and sensor realism: noise, drift, stuck sensors, quantization, sample rates and dropouts.

The physics produces clean values ``[T, N, C]`` at the base rate for every channel. The sensor layer
turns them into what a PLC gateway would read: each present sensor samples every ``base/rate`` steps,
adds noise (absolute plus relative to the value, times the sensor's ``noise_scale``), drifts or sticks
once a sensor fault starts, rounds to its quantization step, and drops a sample now and then. A value
that was not sampled or was dropped is NaN. Timestamps get a per-sample jitter (clipped to ±dt/2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulators.plant import PlantSpec

FloatArray = NDArray[np.float64]
NO_STEP = np.iinfo(np.int64).max


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """One measured channel: name, unit, the sensor that measures it and its imperfections."""

    name: str
    unit: str
    sensor: str
    noise: float
    rel_noise: float
    quantization: float
    scale: float


CHANNEL_INFO: tuple[ChannelInfo, ...] = (
    ChannelInfo("temperature_c", "degC", "temperature", 0.15, 0.0, 0.1, 60.0),
    ChannelInfo("current_a", "A", "current", 0.05, 0.01, 0.01, 30.0),
    ChannelInfo("speed_rpm", "rpm", "speed", 2.0, 0.0, 1.0, 1500.0),
    ChannelInfo("vib_rms_g", "g", "vibration", 0.0, 0.05, 1e-4, 0.1),
    ChannelInfo("vib_kurtosis", "1", "vibration", 0.0, 0.05, 0.01, 3.0),
    ChannelInfo("vib_crest", "1", "vibration", 0.0, 0.04, 0.01, 3.0),
    ChannelInfo("vib_1x_g", "g", "vibration", 0.0, 0.05, 1e-4, 0.05),
    ChannelInfo("vib_2x_g", "g", "vibration", 0.0, 0.05, 1e-4, 0.02),
    ChannelInfo("vib_bpfo_env", "g2", "vibration", 0.0, 0.05, 1e-5, 0.01),
    ChannelInfo("vib_bpfi_env", "g2", "vibration", 0.0, 0.05, 1e-5, 0.01),
    ChannelInfo("pressure_bar", "bar", "pressure", 0.02, 0.0, 0.01, 4.0),
    ChannelInfo("flow_m3h", "m3/h", "flow", 0.0, 0.01, 0.1, 100.0),
)
CHANNELS: tuple[str, ...] = tuple(c.name for c in CHANNEL_INFO)
CHANNEL_INDEX: dict[str, int] = {name: i for i, name in enumerate(CHANNELS)}
SENSOR_CHANNELS: dict[str, tuple[int, ...]] = {
    sensor: tuple(i for i, c in enumerate(CHANNEL_INFO) if c.sensor == sensor)
    for sensor in dict.fromkeys(c.sensor for c in CHANNEL_INFO)
}


@dataclass(frozen=True, slots=True)
class SensorTable:
    """Per machine and channel ``[N, C]``: presence, decimation, noise, quantum, dropout; jitter ``[N]``."""

    present: NDArray[np.bool_]
    every: NDArray[np.int64]
    noise: FloatArray
    rel_noise: FloatArray
    quantization: FloatArray
    dropout: FloatArray
    jitter_ms: FloatArray

    @classmethod
    def from_plant(cls, plant: PlantSpec) -> SensorTable:
        """Expand each machine's sensor list into channel arrays."""
        machines = [m for _, _, m in plant.iter_machines()]
        n, c = len(machines), len(CHANNELS)
        base = plant.simulation.sample_rate_hz
        present = np.zeros((n, c), dtype=bool)
        every = np.ones((n, c), dtype=np.int64)
        scale = np.ones((n, c))
        quant = np.array([[info.quantization for info in CHANNEL_INFO]] * n)
        dropout = np.zeros((n, c))
        jitter = np.zeros(n)
        for i, machine in enumerate(machines):
            for sensor in machine.sensors:
                cols = list(SENSOR_CHANNELS[sensor.type])
                present[i, cols] = True
                every[i, cols] = round(base / sensor.rate_hz)
                scale[i, cols] = sensor.noise_scale
                dropout[i, cols] = sensor.dropout
                if sensor.quantization is not None:
                    quant[i, cols] = sensor.quantization
                jitter[i] = max(jitter[i], sensor.jitter_ms)
        noise = np.array([info.noise for info in CHANNEL_INFO])[None, :] * scale
        rel = np.array([info.rel_noise for info in CHANNEL_INFO])[None, :] * scale
        return cls(present, every, noise, rel, quant, dropout, jitter)


class RandomBank:
    """Pre-drawn standard normals and uniforms; each draw is a contiguous slice at a random offset.

    Drawing fresh variates for every sample of 1,000 machines would dominate the run time; a long
    bank read at random offsets gives the same marginal statistics at the cost of a slice.
    """

    def __init__(self, rng: np.random.Generator, size: int = 1 << 22) -> None:
        self.rng = rng
        self.size = size
        self._normal = rng.standard_normal(size, dtype=np.float32)
        self._uniform = rng.random(size, dtype=np.float32)

    def _slice(self, bank: NDArray[np.float32], shape: tuple[int, ...]) -> NDArray[np.float32]:
        count = int(np.prod(shape))
        if count > self.size // 2:
            fresh = self.rng.standard_normal(shape, dtype=np.float32) if bank is self._normal else None
            return fresh if fresh is not None else self.rng.random(shape, dtype=np.float32)
        offset = int(self.rng.integers(0, self.size - count))
        return bank[offset : offset + count].reshape(shape)

    def normal(self, shape: tuple[int, ...]) -> NDArray[np.float32]:
        """Standard normals of ``shape`` (a read-only view into the bank)."""
        return self._slice(self._normal, shape)

    def uniform(self, shape: tuple[int, ...]) -> NDArray[np.float32]:
        """Uniforms in [0, 1) of ``shape`` (a read-only view into the bank)."""
        return self._slice(self._uniform, shape)


class SensorLayer:
    """Applies sensor realism to clean channel values and keeps the sensor-fault state."""

    def __init__(
        self,
        table: SensorTable,
        dt_s: float,
        rng: np.random.Generator,
        stuck_per_day: float,
        drift_per_day: float,
    ) -> None:
        self.table = table
        self.dt_s = dt_s
        self.rng = rng
        self.stuck_per_day = stuck_per_day
        self.drift_per_day = drift_per_day
        shape = table.present.shape
        self.stuck_from = np.full(shape, NO_STEP, dtype=np.int64)
        self.stuck_value = np.full(shape, np.nan)
        self.drift_from = np.full(shape, NO_STEP, dtype=np.int64)
        self.drift_per_h = np.zeros(shape)
        self._scales = np.array([info.scale for info in CHANNEL_INFO])
        quantum = np.where(table.quantization > 0, table.quantization, 1e-6)
        self._quantum = quantum.astype(np.float32)[None]
        self._inv_quantum = (1.0 / quantum).astype(np.float32)[None]
        self._noise = table.noise.astype(np.float32)[None]
        self._rel_noise = table.rel_noise.astype(np.float32)[None]
        self._dropout = table.dropout.astype(np.float32)[None]
        self._present = table.present[None]
        self.bank = RandomBank(rng)

    def stick(self, machine: int, sensor: str, step: int) -> None:
        """Make a sensor's channels repeat the value they read at ``step``."""
        cols = list(SENSOR_CHANNELS[sensor])
        self.stuck_from[machine, cols] = step
        self.stuck_value[machine, cols] = np.nan

    def drift(self, machine: int, sensor: str, step: int, per_hour: float) -> None:
        """Make a sensor drift by ``per_hour`` times its channel's typical value per hour from ``step``."""
        cols = list(SENSOR_CHANNELS[sensor])
        self.drift_from[machine, cols] = step
        self.drift_per_h[machine, cols] = per_hour * self._scales[cols]

    def repair(self, machine: int) -> None:
        """Recalibrate and unstick every sensor of a machine (part of maintenance)."""
        self.stuck_from[machine] = NO_STEP
        self.stuck_value[machine] = np.nan
        self.drift_from[machine] = NO_STEP
        self.drift_per_h[machine] = 0.0

    def _draw_sensor_faults(self, k0: int, steps: int) -> None:
        n = self.table.present.shape[0]
        block_days = steps * self.dt_s / 86400.0
        sensors = list(SENSOR_CHANNELS)
        for rate, start in ((self.stuck_per_day, self.stick), (self.drift_per_day, None)):
            hit = self.rng.random((n, len(sensors))) < rate * block_days
            signs = self.rng.choice(np.array([-1.0, 1.0]), size=(n, len(sensors)))
            for machine, s in zip(*np.nonzero(hit), strict=True):
                cols = list(SENSOR_CHANNELS[sensors[s]])
                if not self.table.present[machine, cols].any():
                    continue
                if start is not None:
                    start(int(machine), sensors[s], k0)
                else:
                    self.drift(int(machine), sensors[s], k0, 0.02 * signs[machine, s])

    def measure(self, clean: NDArray[np.floating], k0: int) -> NDArray[np.float32]:
        """Measured values ``[T, N, C]`` (float32, NaN = no sample) from clean values at steps from ``k0``."""
        steps = clean.shape[0]
        self._draw_sensor_faults(k0, steps)
        t = self.table
        k = k0 + np.arange(steps, dtype=np.int64)
        values = clean.astype(np.float32, copy=True)
        spread = np.abs(values)
        spread *= self._rel_noise
        spread += self._noise
        spread *= self.bank.normal(clean.shape)
        values += spread
        drifting = self.drift_from < NO_STEP
        if drifting.any():
            hours = np.clip(k[:, None, None] - self.drift_from[None], 0, None) * (self.dt_s / 3600.0)
            values += np.where(drifting[None], hours * self.drift_per_h[None], 0.0).astype(np.float32)
        stuck = self.stuck_from < NO_STEP
        if stuck.any():
            for machine, col in zip(*np.nonzero(stuck), strict=True):
                start = int(self.stuck_from[machine, col])
                if np.isnan(self.stuck_value[machine, col]) and start < k0 + steps:
                    first = max(start - k0, 0)
                    self.stuck_value[machine, col] = values[first, machine, col]
                at = k >= start
                values[at, machine, col] = self.stuck_value[machine, col]
        values *= self._inv_quantum
        np.round(values, out=values)
        values *= self._quantum
        sampled = self.bank.uniform(clean.shape) >= self._dropout
        sampled &= self._present
        sampled &= (k[:, None, None] % t.every[None]) == 0
        values[~sampled] = np.nan
        return values

    def jitter_ms(self, steps: int) -> NDArray[np.int64]:
        """Timestamp jitter per machine sample ``[T, N]`` in whole ms, clipped to ±dt/2."""
        limit = self.dt_s * 500.0
        raw = self.bank.normal((steps, self.table.jitter_ms.size)) * self.table.jitter_ms
        return np.round(np.clip(raw, -limit, limit)).astype(np.int64)
