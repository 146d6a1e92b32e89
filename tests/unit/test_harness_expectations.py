"""Expectations against hand-made scores: every stated bound is one check; unmeasured ones fail."""

from __future__ import annotations

from typing import Any

import pytest

from iiot.harness.detection_scoring import ClassScore, DetectionScores
from iiot.harness.expectations import RunScores, evaluate
from iiot.harness.records import AlertSpan, FaultEpisode
from iiot.harness.scenario import Expectations
from iiot.harness.scoring import Completeness, FaultOutcome, FaultScores, latency_stats

EPISODE = FaultEpisode("m1", "bearing_outer", 0, 600_000)
FAULTS = FaultScores(
    outcomes=(
        FaultOutcome(EPISODE, "flagged", "a1", 0),  # lead 600 s
        FaultOutcome(EPISODE, "missed"),
    ),
    false_alerts=(AlertSpan("f", "m2", "prediction", 5),),
    machine_days=2.0,
    scored_alerts=2,
)
TELEMETRY = Completeness(
    "telemetry", expected=100, stored=97, lost=3, lost_excused=2, duplicated=1, unexpected=0
)
DETECTIONS = DetectionScores(
    (ClassScore("dent", 8, 2, 0), ClassScore("scratch", 5, 0, 5)),
    frames=10,
    frames_reported=10,
    orphan_events=0,
    iou_min=0.5,
)
SCORES = RunScores(
    faults=FAULTS,
    detections=DETECTIONS,
    telemetry=TELEMETRY,
    latency={"telemetry": latency_stats("telemetry", [1.0, 2.0, 3.0]), "alert": latency_stats("alert", [])},
)


def checks(data: dict[str, Any], scores: RunScores = SCORES) -> dict[str, tuple[bool, str]]:
    return {c.name: (c.passed, c.actual) for c in evaluate(Expectations.model_validate(data), scores)}


def test_no_bounds_but_the_completeness_defaults() -> None:
    assert checks({}) == {
        "telemetry: lost (outside outages)": (False, "1"),
        "telemetry: duplicated": (False, "1"),
    }


@pytest.mark.parametrize(
    ("data", "name", "passed", "actual"),
    [
        ({"faults": {"min_flagged_share": 0.5}}, "faults flagged before failure (share)", True, "0.5"),
        ({"faults": {"min_flagged_share": 0.6}}, "faults flagged before failure (share)", False, "0.5"),
        ({"faults": {"min_median_lead_s": 600}}, "median lead time", True, "600 s"),
        ({"faults": {"min_median_lead_s": 601}}, "median lead time", False, "600 s"),
        ({"faults": {"max_false_alerts_per_machine_day": 0.5}}, "false alerts per machine-day", True, "0.5"),
        ({"faults": {"max_false_alerts_per_machine_day": 0.4}}, "false alerts per machine-day", False, "0.5"),
        ({"completeness": {"max_lost": 1}}, "telemetry: lost (outside outages)", True, "1"),
        ({"completeness": {"max_duplicated": 1}}, "telemetry: duplicated", True, "1"),
        (
            {"completeness": {"max_lost_excused_share": 0.01}},
            "telemetry: lost inside outages (share)",
            False,
            "0.02",
        ),
        ({"latency": {"telemetry": {"p50_s": 2}}}, "telemetry latency p50", True, "2 s"),
        ({"latency": {"telemetry": {"p99_s": 2.5}}}, "telemetry latency p99", False, "2.98 s"),
        ({"latency": {"alert": {"p99_s": 60}}}, "alert latency p99", False, "not measured"),
        ({"latency": {"detection": {"p95_s": 60}}}, "detection latency p95", False, "not measured"),
    ],
)
def test_one_bound(data: dict[str, Any], name: str, passed: bool, actual: str) -> None:
    assert checks(data)[name] == (passed, actual)


def test_detection_bounds_for_every_class_or_per_class() -> None:
    every = checks({"detection": {"min_precision": 0.9, "min_recall": 0.6}})
    assert every["detection precision [dent] @IoU 0.5"] == (False, "0.8")
    assert every["detection precision [scratch] @IoU 0.5"] == (True, "1")
    assert every["detection recall [dent] @IoU 0.5"] == (True, "1")
    assert every["detection recall [scratch] @IoU 0.5"] == (False, "0.5")
    named = checks({"detection": {"min_recall": {"scratch": 0.5, "crack": 0.1}}})
    assert named["detection recall [scratch] @IoU 0.5"] == (True, "0.5")
    assert named["detection recall [crack] @IoU 0.5"] == (False, "not measured")


def test_without_scores_every_stated_bound_fails_as_not_measured() -> None:
    data = {
        "faults": {"min_flagged_share": 0.1, "min_median_lead_s": 1, "max_false_alerts_per_machine_day": 9},
        "detection": {"min_precision": 0.1},
        "latency": {"telemetry": {"p99_s": 99}},
    }
    got = checks(data, RunScores())
    assert all(not passed and actual == "not measured" for passed, actual in got.values())
    assert "detection precision [(any class)] @IoU 0.5" in got
    assert "telemetry: anything expected" in got
