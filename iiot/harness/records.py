"""Frozen records the harness observes and scores: fault episodes, alerts, frames, boxes, outages.

Times named ``*_ms`` are event times (the twin's clock, ms since the epoch); times named
``*_wall`` are the harness's wall clock (``time.time()`` seconds), used only for latency.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FaultEpisode:
    """One fault on one machine as the twin ran it: onset, failure (if reached) and maintenance."""

    machine_id: str
    fault: str
    onset_ms: int
    failure_ms: int | None = None
    maintenance_ms: int | None = None
    source: str = "scenario"


@dataclass(frozen=True, slots=True)
class AlertSpan:
    """One alert episode about a machine: when it was raised and cleared, and when it was seen."""

    alert_id: str
    machine_id: str
    kind: str
    raised_ms: int
    cleared_ms: int | None = None
    seen_wall: float | None = None


@dataclass(frozen=True, slots=True)
class Box:
    """An axis-aligned box in pixels of the original frame (x1, y1 top-left; x2, y2 bottom-right)."""

    class_name: str
    x1: float
    y1: float
    x2: float
    y2: float
    score: float = 1.0

    @property
    def area(self) -> float:
        """Area in square pixels (0 for degenerate boxes)."""
        return max(0.0, self.x2 - self.x1) * max(0.0, self.y2 - self.y1)


@dataclass(frozen=True, slots=True)
class FrameTruth:
    """The defect boxes the twin drew on one frame, and when the twin sent it."""

    camera_id: str
    t_ms: int
    boxes: tuple[Box, ...] = ()
    sent_wall: float | None = None


@dataclass(frozen=True, slots=True)
class FrameDetections:
    """What an edge agent reported for one frame, and when the harness received it."""

    camera_id: str
    t_ms: int
    boxes: tuple[Box, ...] = ()
    edge_node: str = ""
    seen_wall: float | None = None


@dataclass(frozen=True, slots=True)
class Outage:
    """An event-time interval in which the named machines could not be served (agent or broker down)."""

    cause: str
    start_ms: int
    end_ms: int
    machines: frozenset[str] | None = None  # None: every machine

    def covers(self, machine_id: str, t_ms: int) -> bool:
        """Whether a sample of ``machine_id`` at ``t_ms`` falls into this outage."""
        if self.machines is not None and machine_id not in self.machines:
            return False
        return self.start_ms <= t_ms <= self.end_ms


@dataclass(frozen=True, slots=True)
class Arrival:
    """A datum first seen by the harness at ``seen_wall`` whose source emitted it at ``sent_wall``."""

    t_ms: int
    sent_wall: float
    seen_wall: float

    @property
    def latency_s(self) -> float:
        """Seconds from the twin's emission to the harness seeing it."""
        return self.seen_wall - self.sent_wall


@dataclass(frozen=True, slots=True)
class PlayedEvent:
    """A harness event as it was played: due sim time, sim time and wall time it ran, outcome."""

    at_s: float
    action: str
    target: str | None
    sim_s: float
    wall: float
    ok: bool
    detail: str = ""
