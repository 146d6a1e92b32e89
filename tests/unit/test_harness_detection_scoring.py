"""Detection scoring on hand-made boxes: IoU, greedy matching by score, per-class precision and recall."""

from __future__ import annotations

import pytest

from iiot.harness.detection_scoring import iou, match_frame, score_detections
from iiot.harness.records import Box, FrameDetections, FrameTruth


def box(cls: str, x1: float, y1: float, x2: float, y2: float, score: float = 1.0) -> Box:
    return Box(cls, x1, y1, x2, y2, score)


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (box("s", 0, 0, 10, 10), box("s", 0, 0, 10, 10), 1.0),
        (box("s", 0, 0, 10, 10), box("s", 5, 0, 15, 10), 50 / 150),
        (box("s", 0, 0, 10, 10), box("s", 10, 0, 20, 10), 0.0),  # touching edges
        (box("s", 0, 0, 10, 10), box("s", 2, 2, 8, 8), 36 / 100),  # contained
        (box("s", 0, 0, 0, 10), box("s", 0, 0, 10, 10), 0.0),  # degenerate
    ],
)
def test_iou(a: Box, b: Box, expected: float) -> None:
    assert iou(a, b) == pytest.approx(expected)
    assert iou(b, a) == pytest.approx(expected)


GT = (box("scratch", 0, 0, 10, 10), box("dent", 50, 50, 70, 70))


@pytest.mark.parametrize(
    ("detections", "tp", "fp", "fn"),
    [
        ((), {}, {}, {"scratch": 1, "dent": 1}),
        (
            (box("scratch", 0, 0, 10, 10, 0.9), box("dent", 50, 50, 70, 70, 0.8)),
            {"scratch": 1, "dent": 1},
            {},
            {},
        ),
        # wrong class at the right place: a false positive and a miss
        ((box("dent", 0, 0, 10, 10, 0.9),), {}, {"dent": 1}, {"scratch": 1, "dent": 1}),
        # IoU 0.5 exactly still matches (>=), below does not
        ((box("scratch", 0, 0, 10, 5, 0.9),), {"scratch": 1}, {}, {"dent": 1}),
        ((box("scratch", 0, 0, 10, 4.9, 0.9),), {}, {"scratch": 1}, {"scratch": 1, "dent": 1}),
        # two detections on one label: the better-scored one matches, the other is a false positive
        (
            (box("scratch", 1, 1, 10, 10, 0.6), box("scratch", 0, 0, 10, 10, 0.9)),
            {"scratch": 1},
            {"scratch": 1},
            {"dent": 1},
        ),
    ],
)
def test_match_frame(
    detections: tuple[Box, ...], tp: dict[str, int], fp: dict[str, int], fn: dict[str, int]
) -> None:
    match = match_frame(GT, detections, 0.5)
    assert (dict(match.tp), dict(match.fp), dict(match.fn)) == (tp, fp, fn)


def test_greedy_by_score_takes_the_best_overlap_for_the_top_detection() -> None:
    truth = (box("s", 0, 0, 10, 10), box("s", 4, 0, 14, 10))
    top = box("s", 3, 0, 13, 10, 0.95)  # overlaps the second label more
    other = box("s", 0, 0, 10, 10, 0.5)
    match = match_frame(truth, (other, top), 0.5)
    assert (match.tp["s"], match.fp["s"], match.fn["s"]) == (2, 0, 0)


def test_score_detections_joins_frames_by_camera_and_time() -> None:
    truths = [
        FrameTruth("cam-1", 1000, (box("scratch", 0, 0, 10, 10),)),
        FrameTruth("cam-1", 2000, (box("scratch", 0, 0, 10, 10),)),
        FrameTruth("cam-1", 3000, ()),
        FrameTruth("cam-2", 1000, (box("dent", 0, 0, 10, 10),)),
    ]
    detections = [
        FrameDetections("cam-1", 1000, (box("scratch", 0, 0, 10, 10, 0.9),)),
        FrameDetections("cam-1", 3000, (box("scratch", 20, 20, 30, 30, 0.7),)),
        FrameDetections("cam-2", 1000, (box("dent", 0, 0, 10, 10, 0.8),)),
        FrameDetections("cam-9", 1000, (box("dent", 0, 0, 10, 10, 0.8),)),  # a frame the twin never sent
    ]
    scores = score_detections(truths, detections, 0.5)
    scratch, dent = scores.by_class("scratch"), scores.by_class("dent")
    assert scratch is not None
    assert dent is not None
    assert (scratch.tp, scratch.fp, scratch.fn) == (1, 1, 1)
    assert (scratch.precision, scratch.recall) == (0.5, 0.5)
    assert (dent.precision, dent.recall) == (1.0, 1.0)
    assert (scores.frames, scores.frames_reported, scores.orphan_events) == (4, 3, 1)


def test_rates_without_counts_are_none() -> None:
    scores = score_detections([FrameTruth("c", 1, (box("s", 0, 0, 1, 1),))], [])
    only = scores.by_class("s")
    assert only is not None
    assert (only.precision, only.recall) == (None, 0.0)
    assert scores.by_class("missing") is None
