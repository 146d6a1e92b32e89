"""Running statistics (Welford) that merge exactly (Chan et al.), so windows combine batches and panes."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RunningStats:
    """Count, mean, sum of squared deviations (m2), min and max of a stream of values."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0
    min: float = math.inf
    max: float = -math.inf

    @classmethod
    def of(cls, values: Iterable[float]) -> RunningStats:
        """Statistics of the given values (Welford's single pass)."""
        return cls().extend(values)

    def extend(self, values: Iterable[float]) -> RunningStats:
        """These statistics continued value by value, so the result does not depend on batching."""
        count, mean, m2, lo, hi = self.count, self.mean, self.m2, self.min, self.max
        for raw in values:
            x = float(raw)
            count += 1
            delta = x - mean
            mean += delta / count
            m2 += delta * (x - mean)
            lo = x if x < lo else lo
            hi = x if x > hi else hi
        return RunningStats(count, mean, m2, lo, hi)

    def add(self, value: float) -> RunningStats:
        """These statistics with one more value."""
        return self.merge(RunningStats(1, float(value), 0.0, float(value), float(value)))

    def merge(self, other: RunningStats) -> RunningStats:
        """Statistics of the union of both samples (Chan's parallel update)."""
        if other.count == 0:
            return self
        if self.count == 0:
            return other
        count = self.count + other.count
        delta = other.mean - self.mean
        mean = self.mean + delta * other.count / count
        m2 = self.m2 + other.m2 + delta * delta * self.count * other.count / count
        return RunningStats(count, mean, m2, min(self.min, other.min), max(self.max, other.max))

    @property
    def variance(self) -> float:
        """Sample variance (n - 1 in the denominator), 0 below two values."""
        return self.m2 / (self.count - 1) if self.count > 1 else 0.0

    @property
    def std(self) -> float:
        """Sample standard deviation, as Flux's stddev() computes it."""
        return math.sqrt(max(self.variance, 0.0))

    def to_tuple(self) -> tuple[int, float, float, float, float]:
        """Plain values for a state codec."""
        return (self.count, self.mean, self.m2, self.min, self.max)

    @classmethod
    def from_tuple(cls, values: tuple[int, float, float, float, float] | list[float]) -> RunningStats:
        """Inverse of :meth:`to_tuple`."""
        count, mean, m2, lo, hi = values
        return cls(int(count), float(mean), float(m2), float(lo), float(hi))
