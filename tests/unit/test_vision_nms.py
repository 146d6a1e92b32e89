"""NMS on raw YOLOv8 output: IoU, greedy suppression, class offsets, limits, against hand values."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edge.vision.detections import Detections
from edge.vision.nms import box_iou, nms, non_max_suppression, xywh_to_xyxy


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([0, 0, 10, 10], [0, 0, 10, 10], 1.0),
        ([0, 0, 10, 10], [20, 20, 30, 30], 0.0),
        ([0, 0, 10, 10], [10, 0, 20, 10], 0.0),  # touching edges
        ([0, 0, 10, 10], [5, 0, 15, 10], 50 / 150),
        ([0, 0, 10, 10], [0, 0, 5, 5], 0.25),
        ([0, 0, 10, 10], [1, 1, 11, 11], 81 / 119),
        ([0, 0, 0, 0], [0, 0, 0, 0], 0.0),  # degenerate: no division by zero
    ],
)
def test_box_iou_table(a: list[float], b: list[float], expected: float) -> None:
    iou = box_iou(np.array([a], np.float32), np.array([b], np.float32))
    assert iou.shape == (1, 1)
    assert iou.dtype == np.float32
    assert iou[0, 0] == pytest.approx(expected, rel=1e-6)


def test_box_iou_matrix_shape() -> None:
    a = np.array([[0, 0, 10, 10], [5, 5, 15, 15]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 5, 15, 15], [100, 100, 110, 110]], np.float32)
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou[:, 2], [0, 0])
    np.testing.assert_allclose(np.diag(iou[:, :2]), [1, 1])


def test_xywh_to_xyxy() -> None:
    np.testing.assert_allclose(xywh_to_xyxy(np.array([[50, 40, 20, 10]], np.float32)), [[40, 35, 60, 45]])


BOXES = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 5]], np.float32)


@pytest.mark.parametrize(
    ("scores", "threshold", "keep"),
    [
        ([0.9, 0.8, 0.7, 0.1], 0.45, [0, 2]),  # 1 (IoU .68) and 3 (IoU .5) suppressed by 0
        ([0.9, 0.8, 0.7, 0.1], 0.7, [0, 1, 2, 3]),  # .68 and .5 are not above .7
        ([0.9, 0.8, 0.7, 0.6], 0.5, [0, 2, 3]),  # IoU exactly at threshold is kept
        ([0.1, 0.8, 0.7, 0.9], 0.45, [3, 1, 2]),  # best first; 0 suppressed by 3 (IoU .5)
        ([0.5, 0.5, 0.5, 0.5], 0.3, [0, 2]),  # ties keep index order
    ],
)
def test_greedy_nms_table(scores: list[float], threshold: float, keep: list[int]) -> None:
    result = nms(BOXES, np.array(scores, np.float32), threshold)
    assert result.dtype == np.int64
    assert result.tolist() == keep


def test_nms_empty() -> None:
    assert nms(np.zeros((0, 4), np.float32), np.zeros((0,), np.float32), 0.5).tolist() == []


def raw(anchors: list[tuple[tuple[float, float, float, float], list[float]]]) -> np.ndarray:
    """Build a raw YOLOv8 output [1, 4 + nc, N] from (cx, cy, w, h) and class scores per anchor."""
    columns = [list(box) + scores for box, scores in anchors]
    return np.array(columns, np.float32).T[None]


# Anchor 1 overlaps anchor 0 (IoU 360/440 = .82) in the same class; anchor 2 is the same box as 1
# but of class 1; anchor 3 is below the threshold, anchor 4 exactly at it (strict > drops it).
ANCHORS = raw(
    [
        ((50, 50, 20, 20), [0.9, 0.1]),
        ((52, 50, 20, 20), [0.8, 0.05]),
        ((52, 50, 20, 20), [0.1, 0.7]),
        ((200, 200, 10, 10), [0.2, 0.24]),
        ((300, 300, 10, 10), [0.25, 0.0]),
    ]
)


@pytest.mark.parametrize(
    ("kwargs", "boxes", "scores", "class_ids"),
    [
        ({}, [[40, 40, 60, 60], [42, 40, 62, 60]], [0.9, 0.7], [0, 1]),
        ({"agnostic": True}, [[40, 40, 60, 60]], [0.9], [0]),
        ({"classes": [1]}, [[42, 40, 62, 60]], [0.7], [1]),
        ({"max_det": 1}, [[40, 40, 60, 60]], [0.9], [0]),
        ({"iou": 0.9}, [[40, 40, 60, 60], [42, 40, 62, 60], [42, 40, 62, 60]], [0.9, 0.8, 0.7], [0, 0, 1]),
        (
            {"conf": 0.19},
            [[40, 40, 60, 60], [42, 40, 62, 60], [295, 295, 305, 305], [195, 195, 205, 205]],
            [0.9, 0.7, 0.25, 0.24],
            [0, 1, 0, 1],
        ),
        ({"conf": 0.95}, np.zeros((0, 4)), [], []),
    ],
)
def test_non_max_suppression_table(
    kwargs: dict[str, Any], boxes: Any, scores: list[float], class_ids: list[int]
) -> None:
    (det,) = non_max_suppression(ANCHORS, **kwargs)
    order = np.argsort(-det.scores, kind="stable")
    np.testing.assert_allclose(det.boxes[order], np.asarray(boxes, np.float32).reshape(-1, 4))
    np.testing.assert_allclose(det.scores[order], scores, rtol=1e-6)
    assert det.class_ids[order].tolist() == class_ids
    assert det.boxes.dtype == np.float32
    assert det.class_ids.dtype == np.int64


def test_multi_label_gives_one_detection_per_class_above_threshold() -> None:
    pred = raw([((50, 50, 20, 20), [0.6, 0.5, 0.1])])
    (single,) = non_max_suppression(pred, 0.25)
    (multi,) = non_max_suppression(pred, 0.25, multi_label=True)
    assert single.class_ids.tolist() == [0]
    assert multi.class_ids.tolist() == [0, 1]
    np.testing.assert_allclose(multi.scores, [0.6, 0.5])


def test_max_nms_keeps_the_best_candidates() -> None:
    pred = raw([((10, 10, 4, 4), [0.3]), ((100, 10, 4, 4), [0.9]), ((200, 10, 4, 4), [0.6])])
    (det,) = non_max_suppression(pred, 0.25, max_nms=2)
    np.testing.assert_allclose(det.scores, [0.9, 0.6])


def test_batch_with_an_empty_image_and_no_anchors() -> None:
    pred = np.concatenate([ANCHORS, np.zeros_like(ANCHORS)])
    dets = non_max_suppression(pred)
    assert [len(d) for d in dets] == [2, 0]
    assert dets[1].boxes.shape == (0, 4)
    (none,) = non_max_suppression(np.zeros((1, 6, 0), np.float32))
    assert len(none) == 0


def test_extra_rows_after_classes_are_ignored() -> None:
    with_masks = np.concatenate([ANCHORS, np.ones((1, 3, ANCHORS.shape[2]), np.float32)], axis=1)
    (det,) = non_max_suppression(with_masks, nc=2)
    assert det.class_ids.tolist() == [0, 1]


@pytest.mark.parametrize(
    ("pred", "kwargs", "message"),
    [
        (ANCHORS, {"conf": 1.5}, "confidence"),
        (ANCHORS, {"iou": -0.1}, "IoU"),
        (ANCHORS[0], {}, "batch"),
        (np.zeros((1, 4, 10), np.float32), {}, "classes"),
    ],
)
def test_invalid_arguments(pred: np.ndarray, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        non_max_suppression(pred, **kwargs)


def reference_nms(pred: np.ndarray, conf: float, iou: float, max_det: int) -> Detections:
    """Slow, obvious per-class greedy NMS for one image (loops everywhere)."""
    nc = pred.shape[0] - 4
    found: list[tuple[float, int, list[float]]] = []
    for c in range(nc):
        cands = []
        for a in range(pred.shape[1]):
            scores = pred[4:, a]
            if scores.max() > conf and int(scores.argmax()) == c:
                cx, cy, w, h = pred[:4, a]
                cands.append((float(scores[c]), [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]))
        cands.sort(key=lambda s: -s[0])
        kept: list[tuple[float, list[float]]] = []
        for score, box in cands:
            ious = [box_iou(np.array([box], np.float32), np.array([k[1]], np.float32))[0, 0] for k in kept]
            if all(v <= iou for v in ious):
                kept.append((score, box))
        found.extend((s, c, b) for s, b in kept)
    found.sort(key=lambda s: -s[0])
    found = found[:max_det]
    return Detections(
        boxes=np.array([f[2] for f in found], np.float32).reshape(-1, 4),
        scores=np.array([f[0] for f in found], np.float32),
        class_ids=np.array([f[1] for f in found], np.int64),
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_a_slow_reference(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, nc = 300, 3
    centres = rng.uniform(0, 640, (2, n))
    sizes = rng.uniform(8, 120, (2, n))
    scores = rng.uniform(0, 1, (nc, n)) ** 3
    pred = np.concatenate([centres, sizes, scores]).astype(np.float32)[None]
    (fast,) = non_max_suppression(pred, 0.25, 0.45, max_det=50)
    slow = reference_nms(pred[0], 0.25, 0.45, 50)
    assert len(fast) == len(slow) > 10
    np.testing.assert_allclose(fast.scores, slow.scores)
    np.testing.assert_allclose(fast.boxes, slow.boxes, atol=1e-4)
    assert fast.class_ids.tolist() == slow.class_ids.tolist()


def test_detections_record() -> None:
    det = Detections.empty()
    assert len(det) == 0
    with pytest.raises(ValueError, match="inconsistent"):
        Detections(np.zeros((2, 4), np.float32), np.zeros((1,), np.float32), np.zeros((2,), np.int64))
    one = Detections(np.zeros((1, 4), np.float32), np.ones((1,), np.float32), np.array([5]))
    assert one.labels(["a", "b"]) == ["class_5"]
    assert one.with_boxes(np.ones((1, 4), np.float64)).boxes.dtype == np.float32
