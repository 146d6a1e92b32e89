"""The demo's twin: the plant runner on a thread, a warm-up played flat out, then paced; truth for the view.

``DemoPacer`` lets the warm-up (the plant's recent past, which the fault model needs as history) run
as fast as the machine allows and paces the live phase at ``speed``× wall time from the moment it
starts. Cameras stay idle during the warm-up (``GatedCamera``), so the renderer only works for
parts that are inspected live. ``TruthBoard`` keeps the newest ground truth per machine and the
twin's events, which the terminal view shows beside what the models predict.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from iiot.demo_plan import DemoPlan
from simulators.clock import Pacer
from simulators.plant import CameraPlacement
from simulators.records import MachineBatch, TwinEvent
from simulators.runner import CameraCapture, CameraLike, PlantRunner, TwinSink, default_camera_factory
from simulators.twin import Twin, fault_name

log = logging.getLogger(__name__)

CHUNK_S = 30.0
"""Sim seconds the runner plays between looks at the stop flag (warm-up); live runs block by block."""


MAX_LAG_S = 600.0
"""During the warm-up the twin waits while the pipeline lags it by more than this (sim seconds): the
embedded broker gives up on a QoS 1 delivery whose PUBACK takes over 5 s, so queues must stay short."""


class DemoPacer(Pacer):
    """Flat out until ``warmup_s`` of sim time, then ``speed``× wall time from that moment; stoppable.

    During the warm-up, ``behind(sim_s)`` says how many sim seconds the rest of the pipeline lags
    the twin; the pacer holds the twin while that exceeds ``max_lag_s``, so no queue grows without
    bound and the live phase starts with the pipeline caught up.
    """

    def __init__(
        self,
        speed: float,
        warmup_s: float,
        stop: threading.Event,
        *,
        behind: Callable[[float], float] | None = None,
        max_lag_s: float = MAX_LAG_S,
    ) -> None:
        super().__init__(speed=speed, sleep=self._sleep)
        self.warmup_s = warmup_s
        self.live = threading.Event()
        self.live_since: float | None = None
        self._stop = stop
        self._behind = behind
        self._max_lag_s = max_lag_s
        if warmup_s <= 0:
            self._go_live()

    def start(self) -> float:
        """Idempotent: the runner calls it on every ``run``; pacing counts from the live phase."""
        return self.live_since if self.live_since is not None else self.monotonic()

    def wait(self, sim_elapsed_s: float) -> float:
        """Nothing during the warm-up; afterwards sleep until the wall clock catches up."""
        if sim_elapsed_s < self.warmup_s:
            while self._behind is not None and self._behind(sim_elapsed_s) > self._max_lag_s:
                if self._stop.wait(0.05):
                    break
            return 0.0
        live_since = self.live_since if self.live_since is not None else self._go_live()
        due = live_since + (sim_elapsed_s - self.warmup_s) / self.speed
        ahead = due - self.monotonic()
        if ahead > 0:
            self.sleep(ahead)
            return 0.0
        return -ahead

    def _sleep(self, seconds: float) -> None:
        self._stop.wait(seconds)  # a stop wakes the twin at once

    def _go_live(self) -> float:
        self.live_since = self.monotonic()
        self.live.set()
        return self.live_since


class GatedCamera:
    """A camera rig that renders only once ``live`` is set (None before: the part is not inspected)."""

    def __init__(self, inner: CameraLike, live: threading.Event) -> None:
        self.inner = inner
        self.live = live

    def capture(self, t_ms: int, health: float, fault_type: str | None, machine_kind: str) -> Any:
        """The inner rig's frame in the live phase, else None."""
        if not self.live.is_set():
            return None
        return self.inner.capture(t_ms, health, fault_type, machine_kind)


class LiveFrames:
    """A sink wrapper that passes on only frames that were rendered."""

    def __init__(self, inner: TwinSink) -> None:
        self.inner = inner

    def sensors(self, batch: MachineBatch) -> None:
        """Pass on."""
        self.inner.sensors(batch)

    def frame(self, capture: CameraCapture) -> None:
        """Pass on rendered frames only."""
        if capture.frame is not None:
            self.inner.frame(capture)

    def event(self, event: TwinEvent) -> None:
        """Pass on."""
        self.inner.event(event)


@dataclass(frozen=True, slots=True)
class MachineTruth:
    """A machine's state at the end of its newest batch, as the twin knows it."""

    machine_id: str
    line_id: str
    kind: str
    t_ms: int
    health: float
    fault: str | None
    running: bool
    rul_s: float | None


@dataclass(slots=True)
class TruthBoard:
    """Newest ground truth per machine, frame counts and the twin's events; a TwinSink, thread-safe."""

    machines: dict[str, MachineTruth] = field(default_factory=dict)
    events: deque[TwinEvent] = field(default_factory=lambda: deque(maxlen=50))
    frames: int = 0
    defective_frames: int = 0
    sim_ms: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def sensors(self, batch: MachineBatch) -> None:
        """Keep the last row's state."""
        last = len(batch.t_ms) - 1
        fault = fault_name(int(batch.fault[last])) if bool(batch.fault_active[last]) else None
        truth = MachineTruth(
            batch.machine_id,
            batch.line_id,
            batch.kind,
            int(batch.t_ms[last]),
            float(batch.health[last]),
            fault,
            bool(batch.running[last]),
            float(batch.rul_s[last]) if fault else None,
        )
        with self._lock:
            self.machines[batch.machine_id] = truth
            self.sim_ms = max(self.sim_ms, truth.t_ms)

    def frame(self, capture: CameraCapture) -> None:
        """Count rendered parts and the defective ones (by the renderer's labels)."""
        if capture.frame is None:  # not rendered: the warm-up
            return
        labels = getattr(capture.frame, "labels", None)
        with self._lock:
            self.frames += 1
            self.defective_frames += 1 if labels else 0

    def event(self, event: TwinEvent) -> None:
        """Keep the event."""
        with self._lock:
            self.events.append(event)

    def snapshot(self) -> tuple[dict[str, MachineTruth], list[TwinEvent], int, int, int]:
        """Machines, events, frames, defective frames and the newest sim time, copied."""
        with self._lock:
            return dict(self.machines), list(self.events), self.frames, self.defective_frames, self.sim_ms


class TwinThread:
    """Runs the twin on a daemon thread: the warm-up flat out, then live until ``stop``."""

    def __init__(
        self,
        plan: DemoPlan,
        publisher_factory: Callable[[], Any],
        truth: TruthBoard,
        *,
        behind: Callable[[float], float] | None = None,
        seed: int = 0,
    ) -> None:
        self.plan = plan
        self.truth = truth
        self.stop_event = threading.Event()
        self.pacer = DemoPacer(plan.speed, plan.warmup_s, self.stop_event, behind=behind)
        self.error: BaseException | None = None
        self.warmup_wall_s: float | None = None
        self._publisher_factory = publisher_factory
        self._seed = seed
        self._thread = threading.Thread(target=self._run, name="demo-twin", daemon=True)
        self.started = time.monotonic()

    @property
    def live(self) -> threading.Event:
        """Set when the live phase begins."""
        return self.pacer.live

    def start(self) -> None:
        """Start the thread."""
        self.started = time.monotonic()
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Ask the thread to stop and wait for it."""
        self.stop_event.set()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("the twin thread did not stop within %.0f s", timeout)

    def is_alive(self) -> bool:
        """Whether the thread still runs."""
        return self._thread.is_alive()

    def _camera(self, placement: CameraPlacement, seed: int) -> CameraLike:
        return GatedCamera(default_camera_factory(placement, seed), self.pacer.live)

    def _run(self) -> None:
        plan = self.plan
        try:
            twin = Twin(
                plan.plant,
                self._seed,
                scenario=plan.scenario,
                random_faults=False,
                block_s=plan.block_s,
                epoch_ms=plan.epoch_ms,
            )
            with self._publisher_factory() as publisher:
                runner = PlantRunner(
                    twin,
                    [LiveFrames(publisher), self.truth],
                    pacer=self.pacer,
                    camera_factory=self._camera,
                )
                while not self.stop_event.is_set():
                    was_live = self.pacer.live.is_set()
                    runner.run(plan.block_s if was_live else CHUNK_S)
                    if not was_live and self.pacer.live.is_set():
                        self.warmup_wall_s = time.monotonic() - self.started
                        log.info("twin: warm-up of %.0f sim s took %.1f s", plan.warmup_s, self.warmup_wall_s)
        except BaseException as exc:  # reported by the demo, which stops everything
            self.error = exc
            log.error("the twin stopped: %s", exc)
