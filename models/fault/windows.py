"""Windows over feature rows and the three targets of each window, as pure numpy.

A window is ``length`` consecutive feature steps; its targets are the ground truth at its last step
(the moment the edge would run the model):

* ``fail_soon``: a fault is active and the machine fails within ``horizon_s`` (not yet failed);
* ``fault``: the active fault's class id, 0 ("none") when healthy;
* ``rul_s``: remaining useful life, capped at ``rul_cap_s`` (healthy machines sit at the cap).

Windows that end while the machine is down after a failure (fault active, RUL 0, waiting for
repair) have no prediction target and are marked invalid.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from models.fault.errors import DatasetError

IntArray = NDArray[np.int64]


def window_ends(steps: int, length: int, stride: int) -> IntArray:
    """Index of the last row of every window over ``steps`` rows (first window ends at ``length-1``)."""
    if length < 1 or stride < 1:
        raise DatasetError(f"window length and stride must be positive, got {length}, {stride}")
    return np.arange(length - 1, steps, stride, dtype=np.int64)


def window_view(rows: NDArray[np.floating], length: int) -> NDArray[np.floating]:
    """Read-only view ``[steps - length + 1, length, F]`` of all windows over ``[steps, F]`` (no copy)."""
    if rows.shape[0] < length:
        raise DatasetError(f"{rows.shape[0]} rows are fewer than one window of {length}")
    return sliding_window_view(rows, length, axis=0).transpose(0, 2, 1)


def gather_windows(rows: NDArray[np.floating], ends: IntArray, length: int) -> NDArray[np.floating]:
    """Copy of the windows ending at ``ends``: ``[len(ends), length, F]``."""
    return window_view(rows, length)[ends - (length - 1)]


@dataclass(frozen=True, slots=True)
class WindowTargets:
    """Targets of a set of windows, one entry per window end."""

    fail_soon: NDArray[np.bool_]
    fault: NDArray[np.int64]
    rul_s: NDArray[np.float32]
    valid: NDArray[np.bool_]


def window_targets(
    fault_active: NDArray[np.bool_],
    fault: NDArray[np.integer],
    rul_s: NDArray[np.floating],
    ends: IntArray,
    horizon_s: float,
    rul_cap_s: float,
) -> WindowTargets:
    """The targets at each window end from per-step labels."""
    active = np.asarray(fault_active, dtype=bool)[ends]
    rul = np.asarray(rul_s, dtype=np.float64)[ends]
    failed = active & (rul <= 0.0)
    return WindowTargets(
        fail_soon=active & ~failed & (rul <= horizon_s),
        fault=np.where(active, np.asarray(fault)[ends], 0).astype(np.int64),
        rul_s=np.minimum(np.where(active, rul, rul_cap_s), rul_cap_s).astype(np.float32),
        valid=~failed,
    )
