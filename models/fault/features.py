"""Feature rows of the fault predictor: what one feature step of one machine looks like to the model.

The twin export (and an edge gateway) reports a NaN-aware mean of each sensor channel per period
(10 s by default). The model sees coarser steps of ``feature_s`` (5 min by default), one row per
step with a fixed channel order that is the union over machine kinds:

* one value per sensor channel: the mean of the period means in the step, forward-filled through
  dropouts; magnitudes that scale with machine size (current, speed, vibration, pressure, flow) are
  ``log10(max(x, 0) + floor)`` so a bigger machine is an offset, not a different scale;
* one presence flag per sensor (1: the sensor delivered a sample in the step, 0: dropout or absent);
* a one-hot of the machine kind.

Normalization (per-channel mean and std from the training split) follows; a channel the machine
does not have, or has not reported yet, is NaN before normalization and 0 after it. The edge
implements the same recipe from the manifest's channel names (``log10:<channel>``,
``present:<sensor>``, ``kind:<kind>``, plain ``<channel>``); this module is the reference.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from models.fault.errors import DatasetError

FloatArray = NDArray[np.float32]

# (channel, sensor, log floor or None for a linear channel). Order is the model's input order.
VALUE_CHANNELS: tuple[tuple[str, str, float | None], ...] = (
    ("temperature_c", "temperature", None),
    ("current_a", "current", 0.01),
    ("speed_rpm", "speed", 1.0),
    ("vib_rms_g", "vibration", 1e-4),
    ("vib_kurtosis", "vibration", 0.01),
    ("vib_crest", "vibration", 0.01),
    ("vib_1x_g", "vibration", 1e-4),
    ("vib_2x_g", "vibration", 1e-4),
    ("vib_bpfo_env", "vibration", 1e-5),
    ("vib_bpfi_env", "vibration", 1e-5),
    ("pressure_bar", "pressure", 0.01),
    ("flow_m3h", "flow", 0.1),
)
SENSORS: tuple[str, ...] = tuple(dict.fromkeys(sensor for _, sensor, _ in VALUE_CHANNELS))
KINDS: tuple[str, ...] = ("motor", "pump", "spindle", "conveyor")


def _value_name(channel: str, floor: float | None) -> str:
    return channel if floor is None else f"log10:{channel}"


FEATURE_NAMES: tuple[str, ...] = (
    *(_value_name(c, f) for c, _, f in VALUE_CHANNELS),
    *(f"present:{s}" for s in SENSORS),
    *(f"kind:{k}" for k in KINDS),
)
N_VALUES = len(VALUE_CHANNELS)
N_FEATURES = len(FEATURE_NAMES)
# Flags and one-hots stay 0/1: normalization leaves them alone (mean 0, std 1).
BINARY_FEATURES = np.arange(N_VALUES, N_FEATURES)
_LOG_FLOORS = np.array([np.nan if f is None else f for _, _, f in VALUE_CHANNELS], dtype=np.float64)
_SENSOR_OF = np.array([SENSORS.index(s) for _, s, _ in VALUE_CHANNELS])


@dataclass(frozen=True, slots=True)
class Normalization:
    """Per-feature mean and std (training split), applied as ``(x - mean) / std`` with NaN → 0."""

    mean: FloatArray
    std: FloatArray

    def apply(self, features: NDArray[np.floating]) -> FloatArray:
        """Normalized copy of ``[..., F]`` features; NaN (absent, not yet reported) becomes 0."""
        out = (np.asarray(features, dtype=np.float32) - self.mean) / self.std
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False)


def forward_fill(values: NDArray[np.floating]) -> NDArray[np.floating]:
    """Replace each NaN of ``[T, C]`` by the last finite value above it (leading NaNs stay NaN)."""
    finite = np.isfinite(values)
    rows = np.where(finite, np.arange(values.shape[0])[:, None], 0)
    np.maximum.accumulate(rows, axis=0, out=rows)
    filled = np.take_along_axis(values, rows, axis=0)
    seen = np.maximum.accumulate(finite, axis=0)
    return np.where(seen, filled, np.nan)


def aggregate(values: NDArray[np.floating], factor: int) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """NaN-aware mean over consecutive groups of ``factor`` rows, and whether a group had any sample."""
    if factor < 1:
        raise DatasetError(f"aggregation factor must be at least 1, got {factor}")
    steps = values.shape[0] // factor
    grouped = np.asarray(values[: steps * factor], dtype=np.float64).reshape(steps, factor, -1)
    measured = np.isfinite(grouped).any(axis=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN groups are NaN on purpose
        means: NDArray[np.float64] = np.nanmean(grouped, axis=1)
    return means, np.asarray(measured, dtype=bool)


def transform(values: NDArray[np.floating]) -> NDArray[np.float64]:
    """Apply the per-channel transform (log10 with a floor, or identity) to ``[T, N_VALUES]``."""
    out = np.asarray(values, dtype=np.float64).copy()
    logs = np.isfinite(_LOG_FLOORS)
    out[:, logs] = np.log10(np.maximum(out[:, logs], 0.0) + _LOG_FLOORS[logs])
    return out


def machine_features(
    values: NDArray[np.floating], channels: tuple[str, ...], kind: str, factor: int
) -> FloatArray:
    """Feature rows ``[T // factor, N_FEATURES]`` of one machine from its period means ``[T, C]``."""
    if kind not in KINDS:
        raise DatasetError(f"unknown machine kind {kind!r} (known: {', '.join(KINDS)})")
    names = [c for c, _, _ in VALUE_CHANNELS]
    unknown = sorted(set(channels) - set(names))
    if unknown:
        raise DatasetError(f"channels {unknown} are not in the model's channel list")
    full = np.full((values.shape[0], N_VALUES), np.nan)
    for j, channel in enumerate(channels):
        full[:, names.index(channel)] = values[:, j]
    means, measured = aggregate(full, factor)
    sensor_present = np.zeros((means.shape[0], len(SENSORS)), dtype=bool)
    for s in range(len(SENSORS)):
        sensor_present[:, s] = measured[:, s == _SENSOR_OF].any(axis=1)
    kind_onehot = np.zeros((means.shape[0], len(KINDS)))
    kind_onehot[:, KINDS.index(kind)] = 1.0
    rows = np.concatenate([transform(forward_fill(means)), sensor_present, kind_onehot], axis=1)
    return rows.astype(np.float32)


def fit_normalization(features: NDArray[np.floating]) -> Normalization:
    """Mean and std per feature over the rows ``[N, F]`` (NaNs ignored; flags keep mean 0, std 1)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(features, axis=0)
        std = np.nanstd(features, axis=0)
    mean = np.nan_to_num(mean, nan=0.0)
    std = np.where(np.isfinite(std) & (std > 1e-3), std, 1.0)
    mean[BINARY_FEATURES] = 0.0
    std[BINARY_FEATURES] = 1.0
    return Normalization(mean.astype(np.float32), std.astype(np.float32))
