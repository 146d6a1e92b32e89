"""A whole run's scores from what the harness observed: the pure join of recorder, storage and broker.

The orchestrator gathers values (the twin's events and emissions, stored identities, alerts with
their first sighting, detection events, played harness events); this module turns them into one
``RunScores``. No I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from iiot.harness.detection_scoring import score_detections
from iiot.harness.expectations import RunScores
from iiot.harness.records import AlertSpan, FaultEpisode, FrameDetections, FrameTruth, Outage
from iiot.harness.scenario import Expectations
from iiot.harness.scoring import (
    LatencyStats,
    SeriesKey,
    arrivals,
    completeness,
    latency_stats,
    score_faults,
)

Identities = Mapping[SeriesKey, NDArray[np.int64]]


@dataclass(frozen=True, slots=True)
class Observations:
    """Everything scored, as values."""

    epoch_ms: int
    end_ms: int
    machines: int
    episodes: Sequence[FaultEpisode]
    alerts: Sequence[AlertSpan]
    outages: Sequence[Outage]
    expected_samples: Identities
    stored_samples: Identities
    timeline: Sequence[tuple[int, float]]
    probe_arrivals: Sequence[tuple[str, int, float]]
    vision: bool = False
    expected_frames: Identities | None = None
    stored_frames: Identities | None = None
    frames: Sequence[FrameTruth] = ()
    detections: Sequence[FrameDetections] = ()


def _latency(
    name: str, seen: Iterable[tuple[int, float]], timeline: Sequence[tuple[int, float]]
) -> LatencyStats:
    return latency_stats(name, (a.latency_s for a in arrivals(seen, timeline)))


def latency_series(o: Observations) -> dict[str, LatencyStats]:
    """Telemetry (all probe samples, and those no outage covers), alerts and detections."""
    clear = [(t, w) for m, t, w in o.probe_arrivals if not any(x.covers(m, t) for x in o.outages)]
    sent = {(f.camera_id, f.t_ms): f.sent_wall for f in o.frames}
    detection = [
        d.seen_wall - s
        for d in o.detections
        if d.seen_wall is not None and (s := sent.get((d.camera_id, d.t_ms))) is not None
    ]
    return {
        "telemetry": _latency("telemetry", ((t, w) for _, t, w in o.probe_arrivals), o.timeline),
        "telemetry_outside_outages": _latency("telemetry_outside_outages", clear, o.timeline),
        "alert": _latency(
            "alert", ((a.raised_ms, a.seen_wall) for a in o.alerts if a.seen_wall is not None), o.timeline
        ),
        "detection": latency_stats("detection", detection),
    }


def score_run(o: Observations, expectations: Expectations) -> RunScores:
    """Faults, detections (when a detector ran), completeness and latency of one run."""
    e = expectations
    faults = score_faults(
        o.episodes,
        o.alerts,
        machines=o.machines,
        start_ms=o.epoch_ms,
        end_ms=o.end_ms,
        kinds=e.faults.alert_kinds,
        pre_onset_s=e.faults.pre_onset_s,
        post_fault_s=e.faults.post_fault_s,
    )
    inspections = None
    detections = None
    if o.vision:
        inspections = completeness("inspections", o.expected_frames or {}, o.stored_frames or {}, o.outages)
        detections = score_detections(o.frames, o.detections, e.detection.iou)
    return RunScores(
        faults=faults,
        detections=detections,
        telemetry=completeness("telemetry", o.expected_samples, o.stored_samples, o.outages),
        inspections=inspections,
        latency=latency_series(o),
    )
