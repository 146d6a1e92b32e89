"""The plant runner: steps the twin block by block, lets cameras capture parts, hands everything to sinks.

The runner owns no I/O of its own. Sinks (the MQTT publisher, a recorder in tests, a dataset writer)
implement ``TwinSink``; the pacer makes sim time run at the requested speed. Each block becomes one
``MachineBatch`` per machine (one publish per machine per block, e.g. every second of sim time), and
each camera renders the parts its machine produced in that block with the machine's current health
and fault, so a degrading spindle makes more scratched parts.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from simulators.clock import Pacer
from simulators.plant import CameraPlacement, camera_placements
from simulators.records import MachineBatch, TwinBlock, TwinEvent
from simulators.twin import Twin, fault_name

log = logging.getLogger(__name__)


class CameraLike(Protocol):
    """What the runner needs of a camera rig (``simulators.camera.CameraRig`` provides it)."""

    def capture(self, t_ms: int, health: float, fault_type: str | None, machine_kind: str) -> Any:
        """Render the next part at event time ``t_ms``."""
        ...


CameraFactory = Callable[[CameraPlacement, int], CameraLike]


@dataclass(frozen=True, slots=True)
class CameraCapture:
    """A captured frame with where it comes from and the producing machine's state."""

    site_id: str
    line_id: str
    camera_id: str
    machine_id: str
    health: float
    fault: str | None
    frame: Any


class TwinSink(Protocol):
    """Receives the twin's output; implementations encode and deliver it."""

    def sensors(self, batch: MachineBatch) -> None:
        """One machine's samples and labels over one block."""
        ...

    def frame(self, capture: CameraCapture) -> None:
        """One camera frame of one part."""
        ...

    def event(self, event: TwinEvent) -> None:
        """A fault onset, failure, maintenance, sensor fault or harness event."""
        ...


@dataclass(slots=True)
class RunSummary:
    """What a run produced."""

    blocks: int = 0
    machine_samples: int = 0
    frames: int = 0
    events: list[TwinEvent] = field(default_factory=list)
    sim_s: float = 0.0
    wall_s: float = 0.0
    max_lag_s: float = 0.0


def default_camera_factory(placement: CameraPlacement, seed: int) -> CameraLike:
    """Build the renderer's ``CameraRig`` for a placement (imported lazily: it needs OpenCV)."""
    from simulators.camera import CameraRig

    camera = placement.camera
    return CameraRig(
        camera.id,
        placement.line_id,
        camera.machine,
        seed,
        width=camera.width,
        height=camera.height,
        materials=camera.materials,
    )


class PlantRunner:
    """Runs a twin for a duration, feeding sinks, optionally paced to wall time."""

    def __init__(
        self,
        twin: Twin,
        sinks: Sequence[TwinSink],
        *,
        pacer: Pacer | None = None,
        cameras: bool = True,
        camera_factory: CameraFactory = default_camera_factory,
    ) -> None:
        self.twin = twin
        self.sinks = list(sinks)
        self.pacer = pacer or Pacer(speed=0.0)
        self.placements = camera_placements(twin.plant) if cameras else []
        camera_rng = twin.rngs["cameras"]
        seeds = [int(s) for s in camera_rng.integers(0, 2**31 - 1, size=len(self.placements))]
        self.rigs = [camera_factory(p, s) for p, s in zip(self.placements, seeds, strict=True)]
        self._part_interval_ms = [60000.0 / p.camera.parts_per_minute for p in self.placements]
        self._next_part_ms = [float(twin.epoch_ms) for _ in self.placements]

    def run(self, duration_s: float, progress: Callable[[float], None] | None = None) -> RunSummary:
        """Simulate ``duration_s`` seconds; ``progress`` gets the sim seconds done after each block."""
        summary = RunSummary()
        started = time.monotonic()
        self.pacer.start()
        end_step = self.twin.step + round(duration_s / self.twin.dt_s)
        while self.twin.step < end_step:
            block = self.twin.step_block()
            self._deliver(block, summary)
            done = self.twin.sim_s
            summary.max_lag_s = max(summary.max_lag_s, self.pacer.wait(done))
            if progress is not None:
                progress(block.steps * self.twin.dt_s)
        summary.sim_s = self.twin.sim_s
        summary.wall_s = time.monotonic() - started
        return summary

    def _deliver(self, block: TwinBlock, summary: RunSummary) -> None:
        index = self.twin.index
        summary.blocks += 1
        summary.machine_samples += block.steps * len(index.ids)
        for event in block.events:
            summary.events.append(event)
            log.info(
                "t=%d %s %s %s",
                event.t_ms,
                event.kind,
                event.machine_id or event.target or "",
                event.fault or "",
            )
            for sink in self.sinks:
                sink.event(event)
        for i in range(len(index.ids)):
            batch = block.machine_batch(i, index.sites[i], index.lines[i])
            for sink in self.sinks:
                sink.sensors(batch)
        for capture in self._captures(block):
            summary.frames += 1
            for sink in self.sinks:
                sink.frame(capture)

    def _captures(self, block: TwinBlock) -> list[CameraCapture]:
        """Frames of the parts finished during the block, by cameras whose machine was running."""
        captures: list[CameraCapture] = []
        end_ms = float(block.t_ms[-1] + block.dt_ms)
        for c, (placement, rig) in enumerate(zip(self.placements, self.rigs, strict=True)):
            machine = placement.machine_index
            while self._next_part_ms[c] < end_ms:
                t_ms = int(self._next_part_ms[c])
                self._next_part_ms[c] += self._part_interval_ms[c]
                row = int(np.clip((t_ms - int(block.t_ms[0])) // block.dt_ms, 0, block.steps - 1))
                if not block.running[row, machine]:
                    continue
                health = float(block.health[row, machine])
                fault = fault_name(int(block.fault[row, machine]))
                frame = rig.capture(t_ms, health, fault, placement.machine_kind)
                captures.append(
                    CameraCapture(
                        placement.site_id,
                        placement.line_id,
                        placement.camera.id,
                        placement.camera.machine,
                        health,
                        fault,
                        frame,
                    )
                )
        return captures
