"""Per-machine ring buffers keyed by event time, and the fault model's windows cut from them.

A machine's samples are kept in event-time order in a fixed-capacity ring; missing values (NaN)
are forward-filled per channel. Windows follow the model's manifest: `window_length` samples,
one every `stride` samples, channels in the manifest's order (a channel the machine lacks is
left at the channel mean), standardized with the manifest's mean and std. Window k of a machine
ends at its sample number `length - 1 + k * stride`, counted from its first sample, so which
windows exist depends only on the samples, never on when a tick runs. Pure code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from proto.artifacts import ModelManifest, SeriesNormalization

FloatArray = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """How a window is made: channels in order, standardization, length and stride in samples."""

    channels: tuple[str, ...]
    mean: tuple[float, ...]
    std: tuple[float, ...]
    length: int
    stride: int

    def __post_init__(self) -> None:
        n = len(self.channels)
        if len(self.mean) != n or len(self.std) != n:
            raise ValueError(f"mean and std need one value per channel ({n})")
        if self.length <= 0 or self.stride <= 0:
            raise ValueError(f"window length {self.length} and stride {self.stride} must be positive")

    @classmethod
    def from_manifest(cls, manifest: ModelManifest) -> WindowSpec:
        """The window a fault manifest describes."""
        norm = manifest.normalization
        if not isinstance(norm, SeriesNormalization):
            raise ValueError(f"{manifest.name} takes images, not sensor windows")
        return cls(norm.channel_names, norm.mean, norm.std, norm.window_length, norm.stride)

    def normalize(self, raw: FloatArray) -> FloatArray:
        """Standardize [B, T, C] windows; missing values (NaN) become 0, the channel mean."""
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        out = (raw.astype(np.float32, copy=False) - mean) / std
        return np.nan_to_num(out, nan=0.0, posinf=0.0, neginf=0.0).astype(np.float32, copy=False)


@dataclass(frozen=True, slots=True)
class AddResult:
    """What became of one block of samples."""

    appended: int = 0
    duplicates: int = 0  # a timestamp already held (e.g. a QoS 1 redelivery): ignored
    late: int = 0  # older than a window already run: dropped
    restarts: int = 0  # a gap longer than max_gap restarted the machine's windows


def forward_fill(block: npt.NDArray[np.float64], last: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    """Replace NaN in each column by the column's previous value (`last` before the block)."""
    stacked = np.vstack([last[None, :], block])
    rows = np.arange(stacked.shape[0])[:, None]
    index = np.where(np.isnan(stacked), 0, rows)
    np.maximum.accumulate(index, axis=0, out=index)
    return stacked[index, np.arange(stacked.shape[1])[None, :]][1:]


class MachineBuffer:
    """One machine's samples: timestamps and forward-filled values in a ring of fixed capacity."""

    def __init__(self, channels: Sequence[str], capacity: int) -> None:
        if capacity <= 0:
            raise ValueError("capacity must be positive")
        self.channels: tuple[str, ...] = tuple(channels)
        self.capacity = capacity
        self._ts = np.zeros(2 * capacity, dtype=np.int64)
        self._values = np.full((2 * capacity, len(self.channels)), np.nan, dtype=np.float64)
        self._start = 0  # position of the oldest held sample
        self._end = 0  # position after the newest
        self._base = 0  # sample number of the oldest held sample
        self._last = np.full(len(self.channels), np.nan, dtype=np.float64)
        self.frozen = -1  # sample number of the last sample consumed by a window

    @property
    def count(self) -> int:
        """Samples ever appended (the next sample's number)."""
        return self._base + self._end - self._start

    @property
    def oldest(self) -> int:
        """Sample number of the oldest sample still held."""
        return self._base

    @property
    def last_ms(self) -> int | None:
        """Event time of the newest sample, or None."""
        return int(self._ts[self._end - 1]) if self._end > self._start else None

    def restart(self) -> None:
        """Forget the held samples (after a long gap); numbering continues."""
        self._base = self.count
        self._start = self._end = 0
        self._last[:] = np.nan
        self.frozen = self._base - 1

    def add_channels(self, channels: Iterable[str]) -> None:
        """Make room for channels first seen now (earlier samples hold NaN for them)."""
        new = [c for c in channels if c not in self.channels]
        if not new:
            return
        self.channels = (*self.channels, *new)
        pad = np.full((self._values.shape[0], len(new)), np.nan)
        self._values = np.hstack([self._values, pad])
        self._last = np.concatenate([self._last, np.full(len(new), np.nan)])

    def add(self, timestamps: npt.NDArray[np.int64], rows: npt.NDArray[np.float64]) -> AddResult:
        """Insert samples ([n] ms, [n, C]) by event time; duplicates and stale ones are dropped."""
        appended = duplicates = late = 0
        for t, row in zip(timestamps.tolist(), rows, strict=True):
            last = self.last_ms
            if last is None or t > last:
                self._append(t, row)
                appended += 1
                continue
            held = self._ts[self._start : self._end]
            pos = int(np.searchsorted(held, t))
            if pos < held.size and held[pos] == t:
                duplicates += 1
            elif self._base + pos <= self.frozen:
                late += 1
            else:
                self._insert(pos, t, row)
                appended += 1
        return AddResult(appended, duplicates, late)

    def window(self, end: int, length: int) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None:
        """Timestamps [length] and values [length, C] of the samples ending at sample number `end`."""
        first = end - length + 1
        if first < self._base or end >= self.count:
            return None
        a = self._start + first - self._base
        return self._ts[a : a + length], self._values[a : a + length]

    def rebase(self, base: int, frozen: int) -> None:
        """Number the held samples from `base` (used when a buffer is copied into a bigger one)."""
        self._base, self.frozen = base, frozen

    def _append(self, t: int, row: npt.NDArray[np.float64]) -> None:
        if self._end == self._ts.size:
            self._compact()
        filled = forward_fill(row[None, :], self._last)[0]
        self._ts[self._end] = t
        self._values[self._end] = filled
        self._last = filled
        self._end += 1
        if self._end - self._start > self.capacity:
            self._start += 1
            self._base += 1

    def _insert(self, pos: int, t: int, row: npt.NDArray[np.float64]) -> None:
        if self._end == self._ts.size:
            self._compact()
        at = self._start + pos
        previous = self._values[at - 1] if at > self._start else np.full(len(self.channels), np.nan)
        filled = forward_fill(row[None, :], previous)[0]
        self._ts[at + 1 : self._end + 1] = self._ts[at : self._end].copy()
        self._values[at + 1 : self._end + 1] = self._values[at : self._end].copy()
        self._ts[at], self._values[at] = t, filled
        self._end += 1
        if self._end - self._start > self.capacity:
            self._start += 1
            self._base += 1

    def _compact(self) -> None:
        n = self._end - self._start
        self._ts[:n] = self._ts[self._start : self._end]
        self._values[:n] = self._values[self._start : self._end]
        self._start, self._end = 0, n


@dataclass(frozen=True, slots=True)
class WindowRef:
    """One window of one machine: which samples, and their event-time span."""

    machine_id: str
    line_id: str
    end: int  # sample number of its last sample
    start_ms: int
    end_ms: int


@dataclass(slots=True)
class _Machine:
    buffer: MachineBuffer
    line_id: str
    next_end: int  # sample number of the last sample of the next window to run
    column_map: dict[tuple[str, ...], npt.NDArray[np.int64]]


class WindowAssembler:
    """All machines' buffers; lists the ready windows and cuts them into one batch.

    `pending` is a pure read; `commit` moves a machine past the windows that ran. Windows are
    never skipped unless a machine falls so far behind that its ring dropped their samples
    (counted in `skipped`).
    """

    def __init__(
        self, spec: WindowSpec, *, pending_per_machine: int = 8, max_gap_ms: int | None = None
    ) -> None:
        self.spec = spec
        self.pending_per_machine = pending_per_machine
        self.max_gap_ms = max_gap_ms
        self.skipped = 0
        self._machines: dict[str, _Machine] = {}

    def __len__(self) -> int:
        return len(self._machines)

    def capacity_for(self, spec: WindowSpec) -> int:
        """Samples a machine keeps: the window plus the strides of the windows allowed to wait."""
        return spec.length + spec.stride * (self.pending_per_machine + 1)

    def add(
        self,
        machine_id: str,
        line_id: str,
        channels: Sequence[str],
        timestamps: npt.NDArray[np.int64],
        values: npt.NDArray[np.float64],
    ) -> AddResult:
        """Add one machine's block of samples (channels in the source's order)."""
        machine = self._machines.get(machine_id)
        if machine is None:
            buffer = MachineBuffer(channels, self.capacity_for(self.spec))
            machine = self._machines[machine_id] = _Machine(buffer, line_id, self.spec.length - 1, {})
        buffer = machine.buffer
        buffer.add_channels(channels)
        rows = np.full((values.shape[0], len(buffer.channels)), np.nan)
        rows[:, [buffer.channels.index(c) for c in channels]] = values
        restarts = 0
        last = buffer.last_ms
        if self.max_gap_ms is not None and last is not None and timestamps.size:
            restarts = int(int(timestamps[0]) - last > self.max_gap_ms)
        if restarts:
            buffer.restart()
            machine.next_end = buffer.count + self.spec.length - 1
        result = buffer.add(timestamps.astype(np.int64, copy=False), rows)
        self._realign(machine, self.spec)
        return AddResult(result.appended, result.duplicates, result.late, restarts)

    def use(self, spec: WindowSpec) -> None:
        """Cut windows for another model from now on (after a swap); buffers grow if it needs more."""
        if spec == self.spec:
            return
        for machine in self._machines.values():
            needed = self.capacity_for(spec)
            if needed > machine.buffer.capacity:
                machine.buffer = _grown(machine.buffer, needed)
            machine.column_map.clear()
            self._realign(machine, spec)
        self.spec = spec

    def pending(self, spec: WindowSpec | None = None, limit: int | None = None) -> tuple[WindowRef, ...]:
        """Ready windows, oldest first per machine, at most `pending_per_machine` each and `limit` in all."""
        spec = spec or self.spec
        out: list[WindowRef] = []
        for machine_id, machine in self._machines.items():
            buffer = machine.buffer
            ready = min(
                self.pending_per_machine, max(0, (buffer.count - 1 - machine.next_end) // spec.stride + 1)
            )
            for k in range(ready):
                end = machine.next_end + k * spec.stride
                cut = buffer.window(end, spec.length)
                if cut is not None:
                    out.append(WindowRef(machine_id, machine.line_id, end, int(cut[0][0]), int(cut[0][-1])))
        if limit is not None and len(out) > limit:
            out.sort(key=lambda w: w.end_ms)
            out = out[:limit]
        return tuple(out)

    def assemble(self, windows: Sequence[WindowRef], spec: WindowSpec | None = None) -> FloatArray:
        """One normalized float32 batch [B, length, channels] of the windows, in the spec's channel order."""
        spec = spec or self.spec
        batch = np.full((len(windows), spec.length, len(spec.channels)), np.nan, dtype=np.float32)
        for i, ref in enumerate(windows):
            machine = self._machines[ref.machine_id]
            cut = machine.buffer.window(ref.end, spec.length)
            if cut is None:
                raise ValueError(f"{ref.machine_id}: window ending at sample {ref.end} is no longer held")
            columns = self._columns(machine, spec)
            present = columns >= 0
            batch[i][:, present] = cut[1][:, columns[present]]
        return spec.normalize(batch)

    def commit(self, windows: Iterable[WindowRef], spec: WindowSpec | None = None) -> None:
        """Mark windows as run: the next window of their machine is one stride after each."""
        spec = spec or self.spec
        for ref in windows:
            machine = self._machines[ref.machine_id]
            if ref.end >= machine.next_end:
                machine.next_end = ref.end + spec.stride
                machine.buffer.frozen = max(machine.buffer.frozen, ref.end)

    def _realign(self, machine: _Machine, spec: WindowSpec) -> None:
        """Skip windows whose first samples left the ring (a machine far behind)."""
        first_needed = machine.next_end - spec.length + 1
        oldest = machine.buffer.oldest
        if first_needed < oldest:
            steps = -(-(oldest - first_needed) // spec.stride)
            machine.next_end += steps * spec.stride
            self.skipped += steps

    def _columns(self, machine: _Machine, spec: WindowSpec) -> npt.NDArray[np.int64]:
        key = machine.buffer.channels
        columns = machine.column_map.get(key)
        if columns is None:
            columns = np.asarray([key.index(c) if c in key else -1 for c in spec.channels], dtype=np.int64)
            machine.column_map[key] = columns
        return columns


def _grown(buffer: MachineBuffer, capacity: int) -> MachineBuffer:
    bigger = MachineBuffer(buffer.channels, capacity)
    held = buffer.window(buffer.count - 1, buffer.count - buffer.oldest)
    if held is not None:
        ts, values = held
        bigger.add(ts.copy(), values.copy())
    bigger.rebase(buffer.oldest, buffer.frozen)
    return bigger
