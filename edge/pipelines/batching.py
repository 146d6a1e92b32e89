"""When a batch of frames goes to inference: full, or its oldest frame waited long enough. Pure."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class BatchPolicy:
    """Flush at `max_batch` frames, or when the oldest has waited `max_wait_s`."""

    max_batch: int = 4
    max_wait_s: float = 0.02

    def __post_init__(self) -> None:
        if self.max_batch < 1 or self.max_wait_s < 0:
            raise ValueError(f"need max_batch >= 1 and max_wait_s >= 0, got {self}")

    def wait_s(self, pending: int, oldest_age_s: float) -> float | None:
        """None: nothing to do; 0: flush now; else how long to wait for more frames."""
        if pending <= 0:
            return None
        if pending >= self.max_batch or oldest_age_s >= self.max_wait_s:
            return 0.0
        return self.max_wait_s - oldest_age_s
