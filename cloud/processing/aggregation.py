"""Windowed aggregates of telemetry per machine and metric, by event time, as a pure step function.

``WindowAggregator.step(state, points)`` returns the new state and the windows that closed. Points
are judged one by one against the running watermark, so the result does not depend on how the
stream was cut into batches: the Faust agents (``stream.take``) and the embedded runner agree.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from cloud.errors import ConfigError
from cloud.processing.records import Aggregate, TelemetryPoint
from cloud.processing.stats import RunningStats
from cloud.processing.windows import WindowSpec, window_id

# (machine_id, metric, spec label, window start ms)
WindowKey = tuple[str, str, str, int]


@dataclass(frozen=True, slots=True)
class AggregatorState:
    """Open windows of one key, its watermark, and how many points arrived too late."""

    watermark_ms: int | None = None
    windows: Mapping[WindowKey, RunningStats] = field(default_factory=dict)
    late: int = 0


class WindowAggregator:
    """Computes count, mean, min, max and standard deviation per window for a set of window specs."""

    def __init__(self, specs: Sequence[WindowSpec]) -> None:
        self._specs = tuple(specs)
        self._by_label = {spec.label: spec for spec in self._specs}
        self._plan = tuple((spec.label, spec.size_ms, spec.step_ms, spec.lateness_ms) for spec in self._specs)
        if len(self._by_label) != len(self._specs):
            raise ConfigError(f"window specs must be distinct: {[s.label for s in self._specs]}")

    @property
    def specs(self) -> tuple[WindowSpec, ...]:
        """The window specs, in configuration order."""
        return self._specs

    def step(
        self, state: AggregatorState, points: Iterable[TelemetryPoint]
    ) -> tuple[AggregatorState, tuple[Aggregate, ...]]:
        """Add points in order; return the new state and the aggregates of windows that closed."""
        watermark = state.watermark_ms
        late = state.late
        pending: dict[WindowKey, list[float]] = {}
        specs = self._plan
        for point in points:
            value = point.value
            if point.stale or not math.isfinite(value):
                continue
            ts = point.ts_ms
            accepted = False
            for label, size, step, lateness in specs:
                start = (ts // step) * step
                while start > ts - size:  # every window [start, start + size) holding ts
                    if watermark is None or watermark < start + size + lateness:
                        pending.setdefault((point.machine_id, point.metric, label, start), []).append(value)
                        accepted = True
                    start -= step
            if not accepted:
                late += 1
            if watermark is None or ts > watermark:
                watermark = ts
        windows = dict(state.windows)
        for key, values in pending.items():
            windows[key] = windows.get(key, RunningStats()).extend(values)
        closed: list[Aggregate] = []
        if watermark is not None:
            for key in [k for k in windows if self._closes(k, watermark)]:
                closed.append(self._aggregate(key, windows.pop(key), final=True))
        closed.sort(key=_order)
        return AggregatorState(watermark, windows, late), tuple(closed)

    def flush(self, state: AggregatorState) -> tuple[Aggregate, ...]:
        """Provisional aggregates of every open window (``final=False``), e.g. at shutdown or for a view."""
        return tuple(
            sorted((self._aggregate(k, s, final=False) for k, s in state.windows.items()), key=_order)
        )

    def _closes(self, key: WindowKey, watermark_ms: int) -> bool:
        spec = self._by_label.get(key[2])
        if spec is None:  # a spec removed from configuration: close what it left behind
            return True
        return watermark_ms >= key[3] + spec.size_ms + spec.lateness_ms

    def _aggregate(self, key: WindowKey, stats: RunningStats, *, final: bool) -> Aggregate:
        machine_id, metric, label, start_ms = key
        spec = self._by_label.get(label)
        size = spec.size_ms if spec is not None else 0
        return Aggregate(
            machine_id=machine_id,
            metric=metric,
            window=label,
            start_ms=start_ms,
            end_ms=start_ms + size,
            count=stats.count,
            mean=stats.mean,
            min=stats.min,
            max=stats.max,
            std=stats.std,
            window_id=window_id(machine_id, metric, label, start_ms),
            final=final,
        )


def _order(aggregate: Aggregate) -> tuple[int, str, str, str, int]:
    return (aggregate.end_ms, aggregate.machine_id, aggregate.metric, aggregate.window, aggregate.start_ms)
