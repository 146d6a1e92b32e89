"""Which cameras are alive: lost when their source says so or no frame came for a while, back with a frame.

The agent asks once a second, with what the frame mailbox noted per camera (when its newest frame
arrived, when a source last reported it lost) and the monotonic clock; a camera that went down
gets a Sparkplug DDEATH, one that came back is born again (DBIRTH) with its next DATA. This is
about the source delivering, so it runs on the agent's monotonic clock, not on event time. A
failure that is over before the next check (a capture reopened at once) changes nothing. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CameraChanges:
    """Cameras that went down and cameras that came back since the last check."""

    lost: tuple[str, ...] = ()
    back: tuple[str, ...] = ()


class CameraWatch:
    """Up/down per camera: down after `timeout_s` without frames or a loss reported after its last frame."""

    def __init__(self, timeout_s: float) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, got {timeout_s}")
        self.timeout_s = timeout_s
        self.down: set[str] = set()

    def check(
        self, arrivals_s: Mapping[str, float], losses_s: Mapping[str, float], now_s: float
    ) -> CameraChanges:
        """Compare each camera that delivered a frame with its state at the last check."""
        lost: list[str] = []
        back: list[str] = []
        for camera, arrived in sorted(arrivals_s.items()):
            reported = losses_s.get(camera)
            is_down = now_s - arrived > self.timeout_s or (reported is not None and reported >= arrived)
            if is_down and camera not in self.down:
                self.down.add(camera)
                lost.append(camera)
            elif not is_down and camera in self.down:
                self.down.discard(camera)
                back.append(camera)
        return CameraChanges(tuple(lost), tuple(back))

    def is_up(self, camera: str) -> bool:
        """False while the camera counts as lost."""
        return camera not in self.down
