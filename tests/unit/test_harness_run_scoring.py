"""A run's scores from hand-made observations: faults, completeness, vision, latency series."""

from __future__ import annotations

import numpy as np
import pytest

from iiot.harness.records import AlertSpan, Box, FaultEpisode, FrameDetections, FrameTruth, Outage
from iiot.harness.run_scoring import Observations, latency_series, score_run
from iiot.harness.scenario import Expectations

TIMELINE = [(999, 100.0), (1999, 101.0), (2999, 102.0)]


def observations(**changes: object) -> Observations:
    values: dict[str, object] = {
        "epoch_ms": 0,
        "end_ms": 3000,
        "machines": 2,
        "episodes": [FaultEpisode("m1", "imbalance", 0, 2000)],
        "alerts": [AlertSpan("a", "m1", "prediction", 1500, None, 104.0)],
        "outages": [Outage("agent edge-2 down", 1000, 1999, frozenset({"m2"}))],
        "expected_samples": {("m1", "t"): np.array([0, 1000, 2000]), ("m2", "t"): np.array([500, 1500])},
        "stored_samples": {("m1", "t"): np.array([0, 1000, 2000]), ("m2", "t"): np.array([500])},
        "timeline": TIMELINE,
        "probe_arrivals": [("m1", 0, 101.0), ("m1", 1000, 103.0), ("m2", 1500, 110.0)],
    }
    values.update(changes)
    return Observations(**values)  # type: ignore[arg-type]


def test_score_run_without_vision() -> None:
    scores = score_run(observations(), Expectations())
    assert scores.faults is not None
    assert scores.faults.flagged == 1
    assert scores.faults.lead_times_s == (0.5,)
    assert scores.telemetry is not None
    assert (scores.telemetry.lost, scores.telemetry.lost_excused) == (1, 1)
    assert scores.detections is None
    assert scores.inspections is None


def test_latency_series() -> None:
    series = latency_series(observations())
    assert series["telemetry"].values == (1.0, 2.0, 9.0)
    assert series["telemetry_outside_outages"].values == (1.0, 2.0)  # m2 at 1500 is inside its outage
    assert series["alert"].values == (3.0,)  # raised at 1500: emitted with the block ending 1999 at 101
    assert series["detection"].count == 0


def test_score_run_with_vision() -> None:
    frames = [FrameTruth("cam", 500, (Box("dent", 0, 0, 10, 10),), 100.0), FrameTruth("cam", 900, (), 100.5)]
    detections = [FrameDetections("cam", 500, (Box("dent", 0, 0, 10, 10, 0.9),), "edge-1", 100.75)]
    scores = score_run(
        observations(
            vision=True,
            frames=frames,
            detections=detections,
            expected_frames={("cam", "frame"): np.array([500, 900])},
            stored_frames={("cam", "frame"): np.array([500, 500])},
        ),
        Expectations(),
    )
    assert scores.detections is not None
    dent = scores.detections.by_class("dent")
    assert dent is not None
    assert (dent.tp, dent.fp, dent.fn) == (1, 0, 0)
    assert scores.inspections is not None
    assert (scores.inspections.lost, scores.inspections.duplicated) == (1, 1)
    assert scores.latency["detection"].values == (pytest.approx(0.75),)
