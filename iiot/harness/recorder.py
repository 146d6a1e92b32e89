"""The harness's own twin sink: what the twin sent, which identities must reach storage, and when.

``TwinRecorder`` sits beside the MQTT publisher in the runner's sinks. Per block it keeps

- the emission timeline (newest sample time of the block, wall time) that turns event times into
  "when did the twin send this" for latency;
- per (machine, channel) the sample times the edge must forward: the agents run with deadband 0
  and no periodic repeats, so a sample goes out when it is present and differs from the
  previous present sample of its channel (``reported_mask`` — the edge's report-by-exception
  rule, vectorized; a unit test holds it to ``edge.publisher.metric_map.ReportByException``);
- the frames' labelled boxes, the expected inspections per camera, and the twin's events.

Only machines and cameras some agent serves are expected. Thread-safe: the twin thread writes,
the observer thread reads snapshots.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from iiot.harness.records import Box, FrameTruth
from iiot.harness.scoring import SeriesKey
from simulators.records import MachineBatch, TwinEvent
from simulators.runner import CameraCapture

FRAME_METRIC = "frame"


def reported_mask(values: NDArray[np.floating], last: float) -> tuple[NDArray[np.bool_], float]:
    """Which samples a deadband-0 report-by-exception publishes, given the last published value."""
    present = ~np.isnan(values)
    mask = np.zeros(values.shape, dtype=bool)
    kept = values[present].astype(np.float64)
    if not kept.size:
        return mask, last
    previous = np.empty_like(kept)
    previous[0] = last
    previous[1:] = kept[:-1]
    mask[present] = kept != previous  # NaN `last` (nothing published yet) differs from anything
    return mask, float(kept[-1])


@dataclass(frozen=True, slots=True)
class SentCounts:
    """Totals of what the twin sent."""

    blocks: int
    batches: int
    samples: int
    expected_samples: int
    frames: int
    expected_frames: int
    events: int


class TwinRecorder:
    """A ``TwinSink`` that records emissions, expected identities, frame labels and events."""

    def __init__(
        self,
        served_machines: Iterable[str] | None = None,
        served_cameras: Iterable[str] | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._served_machines = None if served_machines is None else frozenset(served_machines)
        self._served_cameras = None if served_cameras is None else frozenset(served_cameras)
        self._clock = clock
        self._lock = threading.Lock()
        self._last: dict[SeriesKey, float] = {}
        self._expected: dict[SeriesKey, list[NDArray[np.int64]]] = {}
        self._frame_times: dict[SeriesKey, list[int]] = {}
        self._timeline: list[tuple[int, float]] = []
        self.frames: list[FrameTruth] = []
        self.events: list[TwinEvent] = []
        self._batches = self._samples = self._expected_samples = self._expected_frames = 0

    # ------------------------------------------------------------------ TwinSink

    def sensors(self, batch: MachineBatch) -> None:
        """Note the emission and the identities the edge must forward."""
        wall = self._clock()
        end = int(batch.t_ms[-1])
        served = self._served_machines is None or batch.machine_id in self._served_machines
        with self._lock:
            self._batches += 1
            if not self._timeline or end > self._timeline[-1][0]:
                self._timeline.append((end, wall))
            self._samples += int(np.count_nonzero(~np.isnan(batch.values)))
            if not served:
                return
            for j, channel in enumerate(batch.channels):
                key = (batch.machine_id, channel)
                mask, self._last[key] = reported_mask(batch.values[:, j], self._last.get(key, math.nan))
                if mask.any():
                    times = batch.t_ms[mask].astype(np.int64)
                    self._expected.setdefault(key, []).append(times)
                    self._expected_samples += int(times.size)

    def frame(self, capture: CameraCapture) -> None:
        """Keep the frame's labelled boxes."""
        frame = capture.frame
        boxes = tuple(
            Box(b.class_name, float(b.x1), float(b.y1), float(b.x2), float(b.y2)) for b in frame.labels
        )
        truth = FrameTruth(capture.camera_id, int(frame.t_ms), boxes, self._clock())
        served = self._served_cameras is None or capture.camera_id in self._served_cameras
        with self._lock:
            self.frames.append(truth)
            if served:
                self._frame_times.setdefault((capture.camera_id, FRAME_METRIC), []).append(truth.t_ms)
                self._expected_frames += 1

    def event(self, event: TwinEvent) -> None:
        """Keep the twin's event."""
        with self._lock:
            self.events.append(event)

    # ------------------------------------------------------------------ snapshots

    def timeline(self) -> list[tuple[int, float]]:
        """(newest sample time of a block, wall time it was emitted), ascending."""
        with self._lock:
            return list(self._timeline)

    def expected(self, keys: Iterable[SeriesKey] | None = None) -> dict[SeriesKey, NDArray[np.int64]]:
        """Expected sample times per (machine, channel)."""
        with self._lock:
            wanted = self._expected if keys is None else {k: self._expected.get(k, []) for k in keys}
            return {
                k: np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)
                for k, parts in wanted.items()
            }

    def expected_frames(self) -> dict[SeriesKey, NDArray[np.int64]]:
        """Expected inspection times per (camera, ``frame``)."""
        with self._lock:
            return {k: np.array(v, dtype=np.int64) for k, v in self._frame_times.items()}

    def series_of(self, machine_id: str) -> list[SeriesKey]:
        """The (machine, channel) keys with expected samples."""
        with self._lock:
            return [k for k in self._expected if k[0] == machine_id]

    def frame_truths(self) -> list[FrameTruth]:
        """Every frame's labels."""
        with self._lock:
            return list(self.frames)

    def twin_events(self) -> list[TwinEvent]:
        """Every event so far."""
        with self._lock:
            return list(self.events)

    def counts(self) -> SentCounts:
        """Totals so far."""
        with self._lock:
            return SentCounts(
                len(self._timeline),
                self._batches,
                self._samples,
                self._expected_samples,
                len(self.frames),
                self._expected_frames,
                len(self.events),
            )
