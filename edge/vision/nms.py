"""Non-maximum suppression of raw YOLOv8 output in numpy, with ultralytics' semantics.

The raw output is [B, 4 + nc (+ extra), N]: per anchor a centre box (cx, cy, w, h) in model-input
pixels followed by one sigmoid score per class; there is no objectness column. As in
`ultralytics.utils.nms.non_max_suppression`: a candidate needs its best class score strictly above
`conf`; boxes of different classes never suppress each other because each class is shifted by
`class_id * max_wh` (the offset trick) unless `agnostic`; greedy NMS in descending score order
(ties keep anchor order, as torchvision's stable sort) drops a box whose IoU with a kept one is
strictly above `iou`; at most `max_nms` candidates enter NMS and `max_det` leave it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from edge.vision.detections import Detections

FloatArray = npt.NDArray[np.floating]


def xywh_to_xyxy(xywh: FloatArray) -> FloatArray:
    """Centre boxes (cx, cy, w, h) to corner boxes (x1, y1, x2, y2), same dtype."""
    half = xywh[..., 2:4] / 2
    return np.concatenate([xywh[..., 0:2] - half, xywh[..., 0:2] + half], axis=-1)


def box_area(boxes: FloatArray) -> FloatArray:
    """Areas of xyxy boxes."""
    return (boxes[..., 2] - boxes[..., 0]) * (boxes[..., 3] - boxes[..., 1])


def box_iou(a: FloatArray, b: FloatArray) -> FloatArray:
    """Pairwise IoU [n, m] of xyxy boxes a [n, 4] and b [m, 4]."""
    top_left = np.maximum(a[:, None, :2], b[None, :, :2])
    bottom_right = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(bottom_right - top_left, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0).astype(np.result_type(a, b), copy=False)


def nms(boxes: FloatArray, scores: FloatArray, iou_threshold: float) -> npt.NDArray[np.int64]:
    """Greedy NMS: indices of kept xyxy boxes, best score first (torchvision.ops.nms semantics)."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = (x2 - x1) * (y2 - y1)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = inter / (areas[i] + areas[rest] - inter)
        order = rest[~(iou > iou_threshold)]  # NaN (0/0 for empty boxes) keeps the box, as torch
    return np.asarray(keep, dtype=np.int64)


def non_max_suppression(
    prediction: FloatArray,
    conf: float = 0.25,
    iou: float = 0.45,
    *,
    classes: Sequence[int] | None = None,
    agnostic: bool = False,
    multi_label: bool = False,
    max_det: int = 300,
    nc: int = 0,
    max_nms: int = 30000,
    max_wh: int = 7680,
) -> list[Detections]:
    """Filter raw YOLOv8 output [B, 4 + nc, N] into one `Detections` (model-input pixels) per image."""
    if not 0.0 <= conf <= 1.0:
        raise ValueError(f"confidence threshold {conf} must be within [0, 1]")
    if not 0.0 <= iou <= 1.0:
        raise ValueError(f"IoU threshold {iou} must be within [0, 1]")
    if prediction.ndim != 3:
        raise ValueError(f"expected raw output [batch, 4 + classes, anchors], got shape {prediction.shape}")
    nc = nc or prediction.shape[1] - 4
    if nc < 1 or prediction.shape[1] < 4 + nc:
        raise ValueError(
            f"raw output with {prediction.shape[1]} rows cannot hold 4 box rows and {nc} classes"
        )
    multi_label = multi_label and nc > 1
    wanted = None if classes is None else np.asarray(list(classes), dtype=np.int64)

    results: list[Detections] = []
    for image in prediction:
        scores_all = image[4 : 4 + nc]  # nc, N
        candidates = np.flatnonzero(scores_all.max(axis=0) > conf)
        if candidates.size == 0:
            results.append(Detections.empty())
            continue
        boxes = xywh_to_xyxy(image[:4, candidates].T)  # n, 4
        cls_scores = scores_all[:, candidates].T  # n, nc
        if multi_label:
            rows, class_ids = np.nonzero(cls_scores > conf)
            boxes, scores = boxes[rows], cls_scores[rows, class_ids]
        else:
            class_ids = cls_scores.argmax(axis=1)
            scores = cls_scores[np.arange(class_ids.size), class_ids]
        if wanted is not None:
            mask = np.isin(class_ids, wanted)
            boxes, scores, class_ids = boxes[mask], scores[mask], class_ids[mask]
        if scores.size > max_nms:
            top = np.argsort(-scores, kind="stable")[:max_nms]
            boxes, scores, class_ids = boxes[top], scores[top], class_ids[top]
        if scores.size == 0:
            results.append(Detections.empty())
            continue
        offsets = np.zeros_like(scores) if agnostic else class_ids.astype(boxes.dtype) * max_wh
        keep = nms(boxes + offsets[:, None], scores, iou)[:max_det]
        results.append(
            Detections(
                boxes=boxes[keep].astype(np.float32),
                scores=scores[keep].astype(np.float32),
                class_ids=class_ids[keep].astype(np.int64),
            )
        )
    return results
