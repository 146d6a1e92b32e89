"""Feature rows of the fault predictor: what one feature step of one machine looks like to the model.

The twin export (and an edge gateway) reports a NaN-aware mean of each sensor channel per period
(10 s by default). The model sees coarser steps of ``feature_s`` (5 min by default): one row per
step holding, for every sensor channel of the union over machine kinds (fixed order, the twin's
channel names), the NaN-aware mean of the samples in the step, forward-filled through dropouts.

The edge does exactly this and nothing more: aggregate, forward-fill, standardize with the
manifest's per-channel mean and std, and set a channel the machine lacks (or has not reported yet)
to 0. Everything else the model needs — log magnitudes for channels that scale with machine size,
the absent-channel pattern that tells a pump from a motor — happens inside the ONNX graph
(``models.fault.model.InputTransform``), so training and the edge cannot drift apart.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from models.fault.errors import DatasetError

FloatArray = NDArray[np.float32]

# (channel, floor of its log10 inside the model, or None for a linear channel). Order = input order.
CHANNELS: tuple[tuple[str, float | None], ...] = (
    ("temperature_c", None),
    ("current_a", 0.01),
    ("speed_rpm", 1.0),
    ("vib_rms_g", 1e-4),
    ("vib_kurtosis", 0.01),
    ("vib_crest", 0.01),
    ("vib_1x_g", 1e-4),
    ("vib_2x_g", 1e-4),
    ("vib_bpfo_env", 1e-5),
    ("vib_bpfi_env", 1e-5),
    ("pressure_bar", 0.01),
    ("flow_m3h", 0.1),
)
FEATURE_NAMES: tuple[str, ...] = tuple(name for name, _ in CHANNELS)
N_FEATURES = len(FEATURE_NAMES)
# 0 marks a linear channel; the model applies log10(max(x, 0) + floor) to the others.
LOG_FLOORS = np.array([0.0 if floor is None else floor for _, floor in CHANNELS], dtype=np.float32)


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


def machine_features(values: NDArray[np.floating], channels: tuple[str, ...], factor: int) -> FloatArray:
    """Feature rows ``[T // factor, N_FEATURES]`` of one machine from its period means ``[T, C]``."""
    unknown = sorted(set(channels) - set(FEATURE_NAMES))
    if unknown:
        raise DatasetError(f"channels {unknown} are not in the model's channel list")
    full = np.full((values.shape[0], N_FEATURES), np.nan)
    for j, channel in enumerate(channels):
        full[:, FEATURE_NAMES.index(channel)] = values[:, j]
    means, _ = aggregate(full, factor)
    return forward_fill(means).astype(np.float32)


def log_features(raw: NDArray[np.floating]) -> NDArray[np.float64]:
    """The model's internal view of raw rows ``[..., F]``: log10 with a floor where the channel has one."""
    out = np.asarray(raw, dtype=np.float64).copy()
    logs = LOG_FLOORS > 0
    out[..., logs] = np.log10(np.maximum(out[..., logs], 0.0) + LOG_FLOORS[logs])
    return out


def fit_normalization(rows: NDArray[np.floating]) -> Normalization:
    """Mean and std per channel over rows ``[N, F]`` (NaNs ignored; std floored, 1 for empty channels)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        mean = np.nanmean(rows, axis=0)
        std = np.nanstd(rows, axis=0)
    mean = np.nan_to_num(mean, nan=0.0)
    std = np.where(np.isfinite(std) & (std > 1e-6 * np.maximum(np.abs(mean), 1.0)), std, 1.0)
    return Normalization(mean.astype(np.float32), std.astype(np.float32))


def fit_log_normalization(rows: NDArray[np.floating]) -> Normalization:
    """Statistics of the model's internal log view (``log_features``) over the measured rows."""
    return fit_normalization(log_features(rows))
