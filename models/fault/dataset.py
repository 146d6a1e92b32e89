"""Windows and targets from a twin time-series export (``iiot sim export-timeseries``), cached on disk.

An export is a folder with ``index.json`` and one NPZ per machine (see ``simulators.export``).
Each split (train, val, test, or test_shifted of a ``--shifted`` export) becomes one ``SplitData``:
the feature rows of all its machines concatenated, per-row labels, and the window ends with their
targets. Rows are un-normalized; normalization statistics come from the training split.

Reading and aggregating NPZ files is the slow part, so the rows and labels of a split are cached as
one NPZ under ``var/cache/fault`` keyed by the export's index and the feature step; windows are
cheap index arithmetic on top (``models.fault.windows``).
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.fault.errors import DatasetError
from models.fault.features import machine_features
from models.fault.metrics import FaultEvent, fault_events
from models.fault.windows import WindowTargets, window_ends, window_targets

log = logging.getLogger(__name__)

EXPORT_FORMAT = "iiot-twin-timeseries/1"
DEFAULT_CACHE = Path("var/cache/fault")
CACHE_VERSION = 3


@dataclass(frozen=True, slots=True)
class WindowConfig:
    """Feature step, window length and strides, prediction horizon and RUL cap."""

    feature_s: float = 300.0
    window: int = 48
    stride: int = 3
    eval_stride: int = 1
    horizon_s: float = 48 * 3600.0
    rul_cap_s: float = 48 * 3600.0

    def __post_init__(self) -> None:
        if self.feature_s <= 0 or self.window < 2 or self.stride < 1 or self.eval_stride < 1:
            raise DatasetError(f"invalid window configuration {self}")
        if self.horizon_s <= 0 or self.rul_cap_s <= 0:
            raise DatasetError("horizon and RUL cap must be positive")

    @property
    def window_s(self) -> float:
        """Time covered by one window."""
        return self.window * self.feature_s


@dataclass(frozen=True, slots=True)
class SplitData:
    """One split: concatenated feature rows ``[R, F]``, per-row labels, and windows with targets."""

    name: str
    machine_ids: tuple[str, ...]
    kinds: tuple[str, ...]
    offsets: NDArray[np.int64]
    rows: NDArray[np.float32]
    t_s: NDArray[np.float64]
    fault_active: NDArray[np.bool_]
    fault: NDArray[np.int8]
    rul_s: NDArray[np.float64]
    damage: NDArray[np.float32]
    ends: NDArray[np.int64]
    machine_of: NDArray[np.int64]
    targets: WindowTargets

    @property
    def n_windows(self) -> int:
        """Number of windows (valid or not)."""
        return int(self.ends.size)

    def machine_rows(self, index: int) -> slice:
        """Row range of one machine."""
        return slice(int(self.offsets[index]), int(self.offsets[index + 1]))

    def events(self) -> list[list[FaultEvent]]:
        """Fault events that reach failure, per machine."""
        out = []
        for m, machine_id in enumerate(self.machine_ids):
            rows = self.machine_rows(m)
            out.append(
                fault_events(
                    machine_id, self.t_s[rows], self.fault_active[rows], self.fault[rows], self.rul_s[rows]
                )
            )
        return out


def read_index(export_dir: Path) -> dict[str, Any]:
    """The export's ``index.json``, checked for format."""
    path = export_dir / "index.json"
    try:
        index = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DatasetError(
            f"cannot read {path}: {exc.strerror or exc}; run `iiot sim export-timeseries`"
        ) from exc
    except json.JSONDecodeError as exc:
        raise DatasetError(f"{path} is not valid JSON: {exc}") from exc
    if index.get("format") != EXPORT_FORMAT:
        raise DatasetError(f"{path}: format {index.get('format')!r}, expected {EXPORT_FORMAT!r}")
    return index


def available_splits(export_dir: str | Path) -> tuple[str, ...]:
    """The split names an export holds."""
    return tuple(read_index(Path(export_dir))["splits"])


def _cache_path(export_dir: Path, index_text: str, split: str, factor: int, cache_dir: Path) -> Path:
    key = hashlib.sha256(f"{CACHE_VERSION}|{export_dir.resolve()}|{index_text}|{split}|{factor}".encode())
    return cache_dir / f"{split}-{key.hexdigest()[:16]}.npz"


def _load_machine(path: Path) -> dict[str, NDArray[Any]]:
    try:
        with np.load(path, allow_pickle=False) as data:
            return {key: data[key] for key in data.files}
    except (OSError, ValueError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc


def _build_rows(export_dir: Path, index: dict[str, Any], split: str, factor: int) -> dict[str, NDArray[Any]]:
    files = [f for f in index["files"] if f["split"] == split]
    if not files:
        raise DatasetError(f"{export_dir}: split {split!r} has no machines (has {sorted(index['splits'])})")
    parts: dict[str, list[NDArray[Any]]] = {
        k: [] for k in ("rows", "t_s", "fault_active", "fault", "rul_s", "damage")
    }
    lengths = []
    for entry in files:
        data = _load_machine(export_dir / entry["path"])
        channels = tuple(str(c) for c in data["channels"])
        rows = machine_features(data["values"], channels, factor)
        n = rows.shape[0]
        last = np.arange(n) * factor + factor - 1  # labels at the end of each feature step
        t0 = float(data["timestamps_ms"][0]) / 1000.0 - float(index["period_s"])
        parts["rows"].append(rows)
        parts["t_s"].append(data["timestamps_ms"][last].astype(np.float64) / 1000.0 - t0)
        parts["fault_active"].append(data["fault_active"][last].astype(bool))
        parts["fault"].append(data["fault"][last].astype(np.int8))
        parts["rul_s"].append(data["rul_s"][last].astype(np.float64))
        parts["damage"].append((1.0 - data["health"][last]).astype(np.float32))
        lengths.append(n)
    arrays = {key: np.concatenate(value) for key, value in parts.items()}
    arrays["offsets"] = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    arrays["machine_ids"] = np.array([f["machine_id"] for f in files])
    arrays["kinds"] = np.array([f["kind"] for f in files])
    return arrays


def load_split(
    export_dir: str | Path,
    split: str,
    config: WindowConfig,
    *,
    cache_dir: Path | None = DEFAULT_CACHE,
    train: bool = False,
) -> SplitData:
    """Feature rows, labels and windows of one split (``train``: training stride, else eval stride)."""
    export = Path(export_dir)
    index = read_index(export)
    if split not in index["splits"]:
        raise DatasetError(f"{export}: no split {split!r} (has {sorted(index['splits'])})")
    period = float(index["period_s"])
    factor = round(config.feature_s / period)
    if factor < 1 or abs(factor * period - config.feature_s) > 1e-6:
        raise DatasetError(
            f"feature step {config.feature_s}s is not a multiple of the export period {period}s"
        )
    arrays: dict[str, NDArray[Any]] | None = None
    cache = None
    if cache_dir is not None:
        cache = _cache_path(export, json.dumps(index, sort_keys=True), split, factor, cache_dir)
        if cache.is_file():
            arrays = _load_machine(cache)
            log.info("fault dataset %s/%s from cache %s", export, split, cache)
    if arrays is None:
        arrays = _build_rows(export, index, split, factor)
        if cache is not None:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_name(cache.stem + ".tmp.npz")
            np.savez(tmp, **arrays)  # type: ignore[arg-type]
            tmp.replace(cache)
    return _windows(split, arrays, config, config.stride if train else config.eval_stride)


def _windows(split: str, arrays: dict[str, NDArray[Any]], config: WindowConfig, stride: int) -> SplitData:
    offsets = arrays["offsets"].astype(np.int64)
    ends_parts, machine_parts = [], []
    for m in range(offsets.size - 1):
        local = window_ends(int(offsets[m + 1] - offsets[m]), config.window, stride)
        ends_parts.append(offsets[m] + local)
        machine_parts.append(np.full(local.size, m, dtype=np.int64))
    ends = np.concatenate(ends_parts) if ends_parts else np.zeros(0, dtype=np.int64)
    if ends.size == 0:
        raise DatasetError(f"split {split!r}: no machine has {config.window} feature steps")
    targets = window_targets(
        arrays["fault_active"], arrays["fault"], arrays["rul_s"], ends, config.horizon_s, config.rul_cap_s
    )
    return SplitData(
        name=split,
        machine_ids=tuple(str(m) for m in arrays["machine_ids"]),
        kinds=tuple(str(k) for k in arrays["kinds"]),
        offsets=offsets,
        rows=arrays["rows"].astype(np.float32, copy=False),
        t_s=arrays["t_s"].astype(np.float64, copy=False),
        fault_active=arrays["fault_active"].astype(bool, copy=False),
        fault=arrays["fault"].astype(np.int8, copy=False),
        rul_s=arrays["rul_s"].astype(np.float64, copy=False),
        damage=arrays["damage"].astype(np.float32, copy=False),
        ends=ends,
        machine_of=np.concatenate(machine_parts),
        targets=targets,
    )


def describe(split: SplitData) -> str:
    """One line: machines, windows, positives, events."""
    valid = split.targets.valid
    positives = int(np.sum(split.targets.fail_soon & valid))
    events = sum(len(e) for e in split.events())
    return (
        f"{split.name}: {len(split.machine_ids)} machines, {int(valid.sum())} windows "
        f"({positives} fail-soon, {positives / max(int(valid.sum()), 1):.1%}), {events} failures"
    )
