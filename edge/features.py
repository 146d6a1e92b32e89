"""Feature rows for the fault model, built from raw samples the way its manifest says.

A fault model trained on feature rows (the manifest's `metrics.feature_step_s` > 0) sees one row
per step of that many seconds of event time, per machine. Its channel names say what each column
is (the recipe of models/fault/features.py, re-implemented here from the names alone):

    <channel>             mean of the channel over the step, forward-filled through empty steps
    log10:<channel>       log10(max(mean, 0) + floor), floor from LOG_FLOORS (or `log10@<floor>:`)
    present:<sensor>      1 if any channel of the sensor delivered a sample in the step, else 0
    kind:<kind>           1 if the machine is of that kind (SensorBatch.machine_kind), else 0

The step mean is the mean of `period_s` period means (NaN-aware), as the training export does.
Steps are aligned to multiples of the step length in event time; a step closes when a sample of a
later step arrives; steps without any sample become rows with presence 0. Without a feature step
in the manifest, every sample is a row and the columns are the channels themselves. Pure code.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from proto.artifacts import ModelManifest

LOG_FLOORS: dict[str, float] = {
    "current_a": 0.01,
    "speed_rpm": 1.0,
    "vib_rms_g": 1e-4,
    "vib_kurtosis": 0.01,
    "vib_crest": 0.01,
    "vib_1x_g": 1e-4,
    "vib_2x_g": 1e-4,
    "vib_bpfo_env": 1e-5,
    "vib_bpfi_env": 1e-5,
    "pressure_bar": 0.01,
    "flow_m3h": 0.1,
}
"""Floors of the log10 channels, as the fault model's training used them."""

MAX_EMPTY_STEPS = 10_000
_LOG = re.compile(r"^log10(?:@(?P<floor>[0-9.eE+-]+))?:(?P<channel>.+)$")


def sensor_of(channel: str) -> str:
    """The sensor a channel belongs to: vib_* → vibration, else the part before the first '_'."""
    return "vibration" if channel.startswith("vib") else channel.split("_", 1)[0]


@dataclass(frozen=True, slots=True)
class Column:
    """One feature column: kind ('value', 'log10', 'present', 'kind'), its subject, the log floor."""

    kind: str
    subject: str
    floor: float = 0.0


@dataclass(frozen=True, slots=True)
class FeatureRecipe:
    """How raw samples become the model's rows: columns, step and period lengths (0: raw samples)."""

    columns: tuple[Column, ...]
    step_ms: int = 0
    period_ms: int = 10_000

    @classmethod
    def parse(cls, names: Sequence[str], step_s: float = 0.0, period_s: float = 10.0) -> FeatureRecipe:
        """The recipe of a list of channel names."""
        columns = []
        for name in names:
            match = _LOG.match(name)
            if match:
                channel = match["channel"]
                floor = float(match["floor"]) if match["floor"] else LOG_FLOORS.get(channel)
                if floor is None:
                    raise ValueError(f"no log10 floor known for {channel!r}; name it log10@<floor>:{channel}")
                columns.append(Column("log10", channel, floor))
            elif name.startswith("present:"):
                columns.append(Column("present", name.removeprefix("present:")))
            elif name.startswith("kind:"):
                columns.append(Column("kind", name.removeprefix("kind:")))
            else:
                columns.append(Column("value", name))
        step_ms, period_ms = round(step_s * 1000), round(period_s * 1000)
        if step_ms and (period_ms <= 0 or step_ms % period_ms):
            raise ValueError(f"feature step {step_s} s must be a multiple of the period {period_s} s")
        return cls(tuple(columns), step_ms, period_ms)

    @classmethod
    def from_manifest(cls, manifest: ModelManifest, period_s: float = 10.0) -> FeatureRecipe:
        """The recipe of a fault manifest (`metrics.feature_step_s`, channel names)."""
        names = getattr(manifest.normalization, "channel_names", ())
        step = float(manifest.metrics.get("feature_step_s", 0.0))
        return cls.parse(names, step, float(manifest.metrics.get("period_s", period_s)))

    @property
    def aggregates(self) -> bool:
        """True if rows are feature steps rather than raw samples."""
        return self.step_ms > 0

    @property
    def value_channels(self) -> tuple[str, ...]:
        """The raw channels the recipe reads, in first-use order."""
        return tuple(dict.fromkeys(c.subject for c in self.columns if c.kind in ("value", "log10")))


@dataclass(frozen=True, slots=True)
class Rows:
    """Feature rows of one machine: end times [n] (ms) and values [n, columns]."""

    timestamps_ms: npt.NDArray[np.int64]
    values: npt.NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.timestamps_ms.shape[0])


class FeatureBuilder:
    """Turns one machine's samples into the recipe's rows, step by step in event time."""

    def __init__(self, recipe: FeatureRecipe, machine_kind: str = "") -> None:
        self.recipe = recipe
        self.kind = machine_kind
        self._channels = recipe.value_channels
        self._step: int | None = None  # index of the open step
        self._sums = np.zeros((0, len(self._channels)))  # per period of the open step
        self._counts = np.zeros((0, len(self._channels)))
        self._last_means = np.full(len(self._channels), np.nan)
        self.late = 0

    def add(
        self, channels: Sequence[str], timestamps_ms: npt.NDArray[np.int64], values: npt.NDArray[np.float64]
    ) -> Rows:
        """Add samples ([n], [n, len(channels)]); the rows of the steps they closed."""
        if not self.recipe.aggregates:
            return Rows(timestamps_ms.astype(np.int64), self._columns_of_samples(channels, values))
        index = [self._channels.index(c) if c in self._channels else -1 for c in channels]
        keep = [j for j, i in enumerate(index) if i >= 0]
        target = [index[j] for j in keep]
        step_ms, period_ms = self.recipe.step_ms, self.recipe.period_ms
        periods = step_ms // period_ms
        ends: list[int] = []
        rows: list[npt.NDArray[np.float64]] = []
        for t, row in zip(timestamps_ms.tolist(), values, strict=True):
            step = t // step_ms
            if self._step is None:
                self._open(step, periods)
            elif step < self._step:
                self.late += 1
                continue
            elif step > self._step:
                closing = self._step
                ends.append((closing + 1) * step_ms - 1)
                rows.append(self._close())
                empty = min(step - closing - 1, MAX_EMPTY_STEPS)
                for k in range(empty):
                    ends.append((step - empty + k + 1) * step_ms - 1)
                    rows.append(self._empty_row())
                self._open(step, periods)
            period = (t % step_ms) // period_ms
            sample = np.asarray(row, dtype=np.float64)[keep]
            finite = np.isfinite(sample)
            columns = np.asarray(target)[finite]
            self._sums[period, columns] += sample[finite]
            self._counts[period, columns] += 1
        if not rows:
            return Rows(np.zeros(0, np.int64), np.zeros((0, len(self.recipe.columns))))
        return Rows(np.asarray(ends, np.int64), np.vstack(rows))

    def _open(self, step: int, periods: int) -> None:
        self._step = step
        self._sums = np.zeros((periods, len(self._channels)))
        self._counts = np.zeros((periods, len(self._channels)))

    def _close(self) -> npt.NDArray[np.float64]:
        with warnings.catch_warnings(), np.errstate(invalid="ignore", divide="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            period_means = np.where(self._counts > 0, self._sums / np.maximum(self._counts, 1), np.nan)
            means = np.nanmean(period_means, axis=0)
        measured = np.asarray((self._counts > 0).any(axis=0), dtype=bool)
        means = np.where(np.isfinite(means), means, self._last_means)
        self._last_means = means
        return self._row(means, measured)

    def _empty_row(self) -> npt.NDArray[np.float64]:
        return self._row(self._last_means, np.zeros(len(self._channels), dtype=bool))

    def _row(
        self, means: npt.NDArray[np.float64], measured: npt.NDArray[np.bool_]
    ) -> npt.NDArray[np.float64]:
        out = np.full(len(self.recipe.columns), np.nan)
        present_sensors = {sensor_of(c) for c, m in zip(self._channels, measured, strict=True) if m}
        for k, column in enumerate(self.recipe.columns):
            if column.kind == "value":
                out[k] = means[self._channels.index(column.subject)]
            elif column.kind == "log10":
                v = means[self._channels.index(column.subject)]
                out[k] = math.log10(max(v, 0.0) + column.floor) if np.isfinite(v) else np.nan
            elif column.kind == "present":
                out[k] = 1.0 if column.subject in present_sensors else 0.0
            else:
                out[k] = 1.0 if column.subject == self.kind else 0.0
        return out

    def _columns_of_samples(
        self, channels: Sequence[str], values: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        out = np.full((values.shape[0], len(self.recipe.columns)), np.nan)
        for k, column in enumerate(self.recipe.columns):
            if column.kind in ("value", "log10") and column.subject in channels:
                v = values[:, list(channels).index(column.subject)]
                out[:, k] = v if column.kind == "value" else np.log10(np.maximum(v, 0.0) + column.floor)
            elif column.kind == "present":
                cols = [j for j, c in enumerate(channels) if sensor_of(c) == column.subject]
                out[:, k] = np.isfinite(values[:, cols]).any(axis=1) if cols else 0.0
            elif column.kind == "kind":
                out[:, k] = 1.0 if column.subject == self.kind else 0.0
        return out
