"""Event-time window arithmetic: tumbling and hopping windows, the close rule and stable window ids.

Windows are aligned to the epoch and half-open, ``[start_ms, end_ms)``. A window closes when the
watermark (the largest event time seen for its key) reaches ``end_ms + lateness_ms``; a value that
arrives for a closed window is late and is dropped (counted, never silently merged).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from cloud.errors import ConfigError

_DURATION = re.compile(r"^\s*(\d+)\s*(ms|s|m|h|d)?\s*$")
_UNIT_MS = {"ms": 1, "s": 1_000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration_ms(text: str | int) -> int:
    """Milliseconds from ``"250ms"``, ``"10s"``, ``"5m"``, ``"1h"``, ``"1d"`` or a plain integer of ms."""
    if isinstance(text, int):
        return text
    match = _DURATION.match(text)
    if match is None:
        raise ConfigError(f"not a duration: {text!r} (use e.g. 500ms, 10s, 5m, 1h)")
    return int(match.group(1)) * _UNIT_MS[match.group(2) or "ms"]


def format_duration(ms: int) -> str:
    """The shortest exact text for a duration: 60000 -> ``1m``, 1500 -> ``1500ms``."""
    for unit in ("d", "h", "m", "s"):
        if ms and ms % _UNIT_MS[unit] == 0:
            return f"{ms // _UNIT_MS[unit]}{unit}"
    return f"{ms}ms"


@dataclass(frozen=True, slots=True, order=True)
class WindowRange:
    """One window, ``[start_ms, end_ms)``."""

    start_ms: int
    end_ms: int

    def contains(self, ts_ms: int) -> bool:
        """Whether the event time falls in this window."""
        return self.start_ms <= ts_ms < self.end_ms


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A tumbling (``step_ms`` = ``size_ms``) or hopping window with its allowed lateness."""

    size_ms: int
    step_ms: int = 0
    lateness_ms: int = 0

    def __post_init__(self) -> None:
        if self.size_ms <= 0:
            raise ConfigError(f"window size must be positive, got {self.size_ms} ms")
        if self.step_ms < 0 or self.step_ms > self.size_ms:
            raise ConfigError(
                f"window step must be in (0, size], got {self.step_ms} ms for {self.size_ms} ms"
            )
        if self.lateness_ms < 0:
            raise ConfigError(f"allowed lateness must not be negative, got {self.lateness_ms} ms")
        if self.step_ms == 0:
            object.__setattr__(self, "step_ms", self.size_ms)

    @classmethod
    def tumbling(cls, size: str | int, lateness: str | int = 0) -> WindowSpec:
        """Back-to-back windows of one size."""
        return cls(parse_duration_ms(size), 0, parse_duration_ms(lateness))

    @classmethod
    def hopping(cls, size: str | int, step: str | int, lateness: str | int = 0) -> WindowSpec:
        """Overlapping windows of ``size`` starting every ``step``."""
        return cls(parse_duration_ms(size), parse_duration_ms(step), parse_duration_ms(lateness))

    @property
    def is_tumbling(self) -> bool:
        """Whether windows do not overlap."""
        return self.step_ms == self.size_ms

    @property
    def label(self) -> str:
        """Stable short name used as a tag and in window ids: ``1m`` or ``5m/1m``."""
        size = format_duration(self.size_ms)
        return size if self.is_tumbling else f"{size}/{format_duration(self.step_ms)}"

    def windows_for(self, ts_ms: int) -> tuple[WindowRange, ...]:
        """Every window that contains the event time, oldest first."""
        last_start = (ts_ms // self.step_ms) * self.step_ms
        starts = []
        start = last_start
        while start > ts_ms - self.size_ms:
            starts.append(start)
            start -= self.step_ms
        return tuple(WindowRange(s, s + self.size_ms) for s in reversed(starts))

    def close_time(self, window: WindowRange) -> int:
        """The watermark at which the window closes: its end plus the allowed lateness."""
        return window.end_ms + self.lateness_ms

    def is_closed(self, window: WindowRange, watermark_ms: int | None) -> bool:
        """Whether the window is closed at this watermark (None: nothing seen yet)."""
        return watermark_ms is not None and watermark_ms >= self.close_time(window)


def window_id(machine_id: str, metric: str, spec_label: str, start_ms: int) -> str:
    """Deterministic id of one window of one series, so a reprocessed window overwrites itself."""
    text = f"{machine_id}\x1f{metric}\x1f{spec_label}\x1f{start_ms}"
    return hashlib.blake2b(text.encode("utf-8"), digest_size=10).hexdigest()
