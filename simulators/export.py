"""Labelled time-series datasets for training the fault predictor: NPZ per machine plus a JSON index.

Splits are by machine and by seed: the machines of a generated plant are dealt into train, val and
test, and each split is simulated as its own run with its own seed, so no machine and no random stream
is shared between splits. The ``shifted`` variant (other machine sizes, noise levels and load
profiles, its own machines and seed) is the generalization test set.

Samples are aggregated into windows of ``period_s`` (NaN-aware mean of each channel over the window,
what an edge gateway would report); labels are taken at the end of each window.

NPZ keys: ``timestamps_ms`` [T] int64 (window end), ``channels`` [C] str, ``values`` [T, C] float32
(NaN: no sample in the window), ``health`` [T] float32, ``fault`` [T] int8 (ids in ``fault_names``),
``fault_active`` [T] bool, ``rul_s`` [T] float64 (capped at ``rul_cap_s``), ``running`` [T] bool.
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from simulators.errors import ExportError
from simulators.faults import FAULT_NAMES, RUL_CAP_S
from simulators.plant import PlantSpec, generate_plant, subset_plant
from simulators.records import TwinBlock
from simulators.sensors import CHANNELS
from simulators.twin import Twin

FORMAT = "iiot-twin-timeseries/1"
SPLITS: tuple[str, ...] = ("train", "val", "test")
SHIFTED_SPLIT = "test_shifted"


@dataclass(frozen=True, slots=True)
class ExportPlan:
    """What to export: fleet size, duration, seed, window, split fractions and fault rates."""

    machines: int
    days: float
    seed: int
    period_s: float = 10.0
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    shifted: bool = False
    hazard_per_day: float = 0.3
    mean_life_h: float = 24.0


@dataclass(slots=True)
class _Accumulator:
    """Window aggregates of every machine of one run, appended block by block."""

    machine_ids: tuple[str, ...]
    present: np.ndarray
    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, block: TwinBlock, per_window: int) -> None:
        windows = block.steps // per_window
        shape = (windows, per_window)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            values = np.nanmean(block.values.reshape(*shape, *block.values.shape[1:]), axis=1)
        last = np.arange(windows) * per_window + per_window - 1
        columns = {
            "timestamps_ms": block.t_ms[last] + block.dt_ms,
            "values": values.astype(np.float32),
            "health": block.health[last],
            "fault": block.fault[last],
            "fault_active": block.fault_active[last],
            "rul_s": block.rul_s[last],
            "running": block.running.reshape(*shape, -1).any(axis=1),
        }
        for key, array in columns.items():
            self.parts.setdefault(key, []).append(array)

    def machine_arrays(self, index: int) -> dict[str, np.ndarray]:
        cols = np.flatnonzero(self.present[index])
        joined = {key: np.concatenate(parts, axis=0) for key, parts in self.parts.items()}
        return {
            "timestamps_ms": joined["timestamps_ms"].astype(np.int64),
            "values": joined["values"][:, index][:, cols],
            "health": joined["health"][:, index],
            "fault": joined["fault"][:, index],
            "fault_active": joined["fault_active"][:, index],
            "rul_s": joined["rul_s"][:, index],
            "running": joined["running"][:, index],
        }


def split_seed(seed: int, split: str) -> int:
    """The seed a split is simulated with, derived from the export seed and the split name."""
    salt = [ord(c) for c in split]
    return int(np.random.SeedSequence([seed, *salt]).generate_state(1)[0])


def assign_splits(
    machine_ids: tuple[str, ...], seed: int, fractions: tuple[float, float, float]
) -> dict[str, list[str]]:
    """Deal machines into train, val and test by a seeded permutation (each machine in exactly one)."""
    if any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ExportError(f"split fractions must be non-negative and not all zero, got {fractions}")
    order = np.random.default_rng(np.random.SeedSequence([seed, 0x5117])).permutation(len(machine_ids))
    bounds = np.round(np.cumsum(fractions) / sum(fractions) * len(machine_ids)).astype(int)
    starts = np.concatenate([[0], bounds[:-1]])
    return {
        split: sorted(machine_ids[i] for i in order[a:b])
        for split, a, b in zip(SPLITS, starts, bounds, strict=True)
    }


def run_split(
    plant: PlantSpec,
    seed: int,
    days: float,
    period_s: float,
    out_dir: Path,
    split: str,
    progress: Callable[[float], None] | None = None,
) -> list[dict[str, Any]]:
    """Simulate one split's plant and write one NPZ per machine; return their index entries."""
    per_window = round(period_s * plant.simulation.sample_rate_hz)
    if per_window < 1 or abs(per_window / plant.simulation.sample_rate_hz - period_s) > 1e-9:
        raise ExportError(f"period_s={period_s} must be a whole number of samples")
    windows_per_block = max(1, round(10.0 / period_s))
    twin = Twin(plant, seed, block_s=period_s * windows_per_block)
    acc = _Accumulator(twin.index.ids, twin.sensor_table.present)
    events: dict[str, list[dict[str, Any]]] = {mid: [] for mid in twin.index.ids}
    end_step = round(days * 86400.0 / twin.dt_s)
    while twin.step < end_step:
        block = twin.step_block()
        acc.add(block, per_window)
        for event in block.events:
            if event.machine_id:
                events[event.machine_id].append(
                    {"t_ms": event.t_ms, "kind": event.kind, "fault": event.fault}
                )
        if progress is not None:
            progress(block.steps * twin.dt_s)
    entries = []
    split_dir = out_dir / split
    split_dir.mkdir(parents=True, exist_ok=True)
    channels = np.array(twin.sensor_table.present)
    for i, machine_id in enumerate(twin.index.ids):
        arrays = acc.machine_arrays(i)
        names = np.array([c for c, keep in zip(CHANNELS, channels[i], strict=True) if keep])
        path = split_dir / f"{machine_id}.npz"
        try:
            payload: dict[str, Any] = {"channels": names, **arrays}
            np.savez_compressed(path, **payload)
        except OSError as exc:
            raise ExportError(f"cannot write {path}: {exc}") from exc
        entries.append(
            {
                "path": f"{split}/{machine_id}.npz",
                "machine_id": machine_id,
                "kind": twin.index.kinds[i],
                "split": split,
                "seed": seed,
                "plant": plant.name,
                "samples": int(arrays["timestamps_ms"].size),
                "failures": sum(1 for e in events[machine_id] if e["kind"] == "failure"),
                "events": events[machine_id],
            }
        )
    return entries


def export_timeseries(
    plan: ExportPlan, out_dir: str | Path, progress: Callable[[float], None] | None = None
) -> dict[str, Any]:
    """Export the dataset described by ``plan`` into ``out_dir``; returns (and writes) the JSON index."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plants: list[tuple[str, PlantSpec]] = []
    if plan.shifted:
        shifted = generate_plant(
            plan.machines,
            plan.seed,
            shifted=True,
            hazard_per_day=plan.hazard_per_day,
            mean_life_h=plan.mean_life_h,
        )
        plants.append((SHIFTED_SPLIT, shifted))
    else:
        plant = generate_plant(
            plan.machines, plan.seed, hazard_per_day=plan.hazard_per_day, mean_life_h=plan.mean_life_h
        )
        for split, ids in assign_splits(plant.machine_ids(), plan.seed, plan.fractions).items():
            if ids:
                plants.append((split, subset_plant(plant, frozenset(ids), f"{plant.name}-{split}")))
    files: list[dict[str, Any]] = []
    for split, plant in plants:
        files += run_split(
            plant, split_seed(plan.seed, split), plan.days, plan.period_s, out, split, progress
        )
    index = {
        "format": FORMAT,
        "seed": plan.seed,
        "machines": plan.machines,
        "days": plan.days,
        "period_s": plan.period_s,
        "shifted": plan.shifted,
        "fault_names": list(FAULT_NAMES),
        "rul_cap_s": RUL_CAP_S,
        "splits": {
            split: sorted(f["machine_id"] for f in files if f["split"] == split) for split, _ in plants
        },
        "seeds": {split: split_seed(plan.seed, split) for split, _ in plants},
        "files": files,
    }
    check_no_leak(index)
    (out / "index.json").write_text(json.dumps(index, indent=1), encoding="utf-8")
    return index


def check_no_leak(index: dict[str, Any]) -> None:
    """Raise ExportError if a machine or a seed appears in more than one split."""
    owner: dict[str, str] = {}
    for split, ids in index["splits"].items():
        for machine_id in ids:
            if owner.setdefault(machine_id, split) != split:
                raise ExportError(f"machine {machine_id} is in both {owner[machine_id]} and {split}")
    seeds = list(index["seeds"].values())
    if len(set(seeds)) != len(seeds):
        raise ExportError(f"splits share a seed: {index['seeds']}")


def load_machine(path: str | Path) -> dict[str, np.ndarray]:
    """Read one machine's NPZ into a dict of arrays."""
    with np.load(Path(path), allow_pickle=False) as data:
        return {key: data[key] for key in data.files}
