"""Immutable records the twin produces: events, blocks of samples with labels, per-machine batches."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulators.faults import FAULT_NAMES


@dataclass(frozen=True, slots=True)
class TwinEvent:
    """Something at a sim time: fault onset, failure, maintenance, sensor fault or harness event."""

    t_ms: int
    kind: str
    machine_id: str | None = None
    fault: str | None = None
    source: str = "twin"
    target: str | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class MachineBatch:
    """One machine's samples over a block: timestamps, present channels, values and labels."""

    machine_id: str
    kind: str
    site_id: str
    line_id: str
    t_ms: NDArray[np.int64]
    channels: tuple[str, ...]
    values: NDArray[np.float32]
    health: NDArray[np.float32]
    fault: NDArray[np.int8]
    fault_active: NDArray[np.bool_]
    rul_s: NDArray[np.float64]
    running: NDArray[np.bool_]

    @property
    def fault_name(self) -> str:
        """The fault label at the end of the batch ("none" when healthy)."""
        return FAULT_NAMES[int(self.fault[-1])]


@dataclass(frozen=True, slots=True, eq=False)
class TwinBlock:
    """All machines over ``T`` steps: values ``[T, N, C]`` (NaN = no sample) and ground truth ``[T, N]``."""

    step0: int
    dt_ms: int
    t_ms: NDArray[np.int64]
    sample_t_ms: NDArray[np.int64]
    machine_ids: tuple[str, ...]
    machine_kinds: tuple[str, ...]
    channels: tuple[str, ...]
    present: NDArray[np.bool_]
    values: NDArray[np.float32]
    health: NDArray[np.float32]
    fault: NDArray[np.int8]
    fault_active: NDArray[np.bool_]
    failed: NDArray[np.bool_]
    rul_s: NDArray[np.float64]
    running: NDArray[np.bool_]
    events: tuple[TwinEvent, ...]

    @property
    def steps(self) -> int:
        """Number of time steps in the block."""
        return int(self.t_ms.size)

    def machine_batch(self, index: int, site_id: str = "", line_id: str = "") -> MachineBatch:
        """The slice of one machine, keeping only the channels its sensors provide."""
        cols = np.flatnonzero(self.present[index])
        return MachineBatch(
            machine_id=self.machine_ids[index],
            kind=self.machine_kinds[index],
            site_id=site_id,
            line_id=line_id,
            t_ms=self.sample_t_ms[:, index].copy(),
            channels=tuple(self.channels[c] for c in cols),
            values=self.values[:, index, cols].copy(),
            health=self.health[:, index].copy(),
            fault=self.fault[:, index].copy(),
            fault_active=self.fault_active[:, index].copy(),
            rul_s=self.rul_s[:, index].copy(),
            running=self.running[:, index].copy(),
        )

    def digest(self) -> str:
        """SHA-256 over every array and event, for determinism checks."""
        h = hashlib.sha256()
        for array in (
            self.t_ms,
            self.sample_t_ms,
            self.values,
            self.health,
            self.fault,
            self.fault_active,
            self.failed,
            self.rul_s,
            self.running,
        ):
            h.update(np.ascontiguousarray(array).tobytes())
        h.update(repr(self.events).encode())
        return h.hexdigest()
