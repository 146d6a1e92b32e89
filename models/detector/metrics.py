"""Detection mAP as ultralytics computes it: greedy matching at ten IoU thresholds, 101-point COCO AP.

The arithmetic follows `ultralytics/utils/metrics.py` (`compute_ap`, `ap_per_class`) and
`BaseValidator.match_predictions` (the default, non-Hungarian matcher) so that the project's own
inference path can be scored exactly like ultralytics' validator scores the PyTorch model:

- per image, predictions (sorted by descending confidence) are matched to ground-truth boxes of
  the same class; at each IoU threshold a prediction takes the best-overlapping unclaimed target
  whose IoU is >= the threshold;
- per class, precision and recall are accumulated down the confidence-sorted list; AP is the area
  under the monotone precision envelope sampled at 101 recall points (trapezoid rule);
- mAP averages over the classes that have ground truth (classes without labels are not counted;
  a class with labels but no predictions counts as AP 0).

Pure numpy; accumulate with `DetectionStats.add`, read with `DetectionStats.summary`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

IOU_THRESHOLDS: npt.NDArray[np.float64] = np.linspace(0.5, 0.95, 10)
_RECALL_POINTS = np.linspace(0.0, 1.0, 101)

FloatArray = npt.NDArray[np.floating]


def box_iou(a: FloatArray, b: FloatArray) -> npt.NDArray[np.float64]:
    """Pairwise IoU [n, m] of xyxy boxes a [n, 4] and b [m, 4] (torchvision's formula, eps 1e-7)."""
    a = np.asarray(a, np.float64).reshape(-1, 4)
    b = np.asarray(b, np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    return inter / (area_a[:, None] + area_b[None, :] - inter + 1e-7)


def match_predictions(
    pred_classes: npt.ArrayLike,
    true_classes: npt.ArrayLike,
    iou: FloatArray,
    thresholds: FloatArray = IOU_THRESHOLDS,
) -> npt.NDArray[np.bool_]:
    """Which predictions [N] (by descending confidence) are true positives at each threshold: [N, T].

    `iou` is [M targets, N predictions]. Greedy, as ultralytics' default matcher: each prediction in
    turn claims its best unclaimed same-class target per threshold.
    """
    pred = np.asarray(pred_classes).reshape(-1)
    true = np.asarray(true_classes).reshape(-1)
    correct = np.zeros((pred.shape[0], thresholds.shape[0]), dtype=bool)
    if pred.size == 0 or true.size == 0:
        return correct
    iou = np.asarray(iou, np.float64) * (true[:, None] == pred[None, :])
    matched = np.zeros((true.shape[0], thresholds.shape[0]), dtype=bool)
    columns = np.arange(thresholds.shape[0])
    for j in np.flatnonzero((iou >= thresholds.min()).any(axis=0)):
        available = np.where(matched, 0.0, iou[:, j, None])
        k = available.argmax(axis=0)
        correct[j] = available[k, columns] >= thresholds
        matched[k, columns] |= correct[j]
    return correct


def compute_ap(recall: FloatArray, precision: FloatArray) -> float:
    """Area under the precision envelope at 101 recall points (COCO), as ultralytics' compute_ap."""
    mrec = np.concatenate(([0.0], recall, [recall[-1] if len(recall) else 1.0], [1.0]))
    mpre = np.concatenate(([1.0], precision, [0.0], [0.0]))
    mpre = np.flip(np.maximum.accumulate(np.flip(mpre)))
    return float(np.trapezoid(np.interp(_RECALL_POINTS, mrec, mpre), _RECALL_POINTS))


def ap_per_class(
    tp: npt.NDArray[np.bool_],
    conf: FloatArray,
    pred_cls: npt.ArrayLike,
    target_cls: npt.ArrayLike,
    eps: float = 1e-16,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """AP [classes with labels, T] and those class ids, from stacked per-prediction stats."""
    order = np.argsort(-np.asarray(conf), kind="stable")
    hits = np.asarray(tp, dtype=np.float64)[order]
    pred_cls = np.asarray(pred_cls)[order]
    classes, counts = np.unique(np.asarray(target_cls), return_counts=True)
    ap = np.zeros((classes.shape[0], hits.shape[1]))
    for ci, (c, n_labels) in enumerate(zip(classes, counts, strict=True)):
        mine = pred_cls == c
        if not mine.any():
            continue
        tpc = hits[mine].cumsum(axis=0)
        fpc = (1.0 - hits[mine]).cumsum(axis=0)
        recall = tpc / (n_labels + eps)
        precision = tpc / (tpc + fpc)
        for j in range(hits.shape[1]):
            ap[ci, j] = compute_ap(recall[:, j], precision[:, j])
    return classes.astype(np.int64), ap


@dataclass(frozen=True, slots=True)
class ClassAP:
    """AP of one class at IoU 0.5 and averaged over 0.5:0.95, with its label count."""

    name: str
    labels: int
    ap50: float
    ap50_95: float


@dataclass(frozen=True, slots=True)
class MapResult:
    """mAP50 and mAP50-95 over the classes with labels, and per class."""

    map50: float
    map50_95: float
    per_class: tuple[ClassAP, ...]
    images: int
    labels: int

    def as_dict(self, prefix: str = "") -> dict[str, float]:
        """Flat metrics for a manifest or JSON: map50, map50_95 and ap50/<class>, ap50_95/<class>."""
        out = {f"{prefix}map50": self.map50, f"{prefix}map50_95": self.map50_95}
        for c in self.per_class:
            out[f"{prefix}ap50/{c.name}"] = c.ap50
            out[f"{prefix}ap50_95/{c.name}"] = c.ap50_95
        return out

    def table(self) -> str:
        """A plain-text table: one row per class and an `all` row, in points (0-100)."""
        rows = [f"{'class':<14}{'labels':>8}{'AP50':>8}{'AP50-95':>9}"]
        for c in self.per_class:
            rows.append(f"{c.name:<14}{c.labels:>8}{100 * c.ap50:>8.2f}{100 * c.ap50_95:>9.2f}")
        rows.append(f"{'all':<14}{self.labels:>8}{100 * self.map50:>8.2f}{100 * self.map50_95:>9.2f}")
        return "\n".join(rows)


@dataclass
class DetectionStats:
    """Accumulates per-image matches; `summary` turns them into mAP."""

    class_names: Sequence[str]
    thresholds: FloatArray = field(default_factory=lambda: IOU_THRESHOLDS.copy())
    _tp: list[npt.NDArray[np.bool_]] = field(default_factory=list)
    _conf: list[FloatArray] = field(default_factory=list)
    _pred_cls: list[npt.NDArray[np.int64]] = field(default_factory=list)
    _target_cls: list[npt.NDArray[np.int64]] = field(default_factory=list)
    images: int = 0

    def add(
        self,
        boxes: FloatArray,
        scores: FloatArray,
        classes: npt.ArrayLike,
        true_boxes: FloatArray,
        true_classes: npt.ArrayLike,
    ) -> None:
        """One image: predicted xyxy boxes, scores, class ids; ground-truth xyxy boxes and class ids."""
        scores = np.asarray(scores, np.float64).reshape(-1)
        pred_cls = np.asarray(classes, np.int64).reshape(-1)
        true_cls = np.asarray(true_classes, np.int64).reshape(-1)
        order = np.argsort(-scores, kind="stable")
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)[order]
        scores, pred_cls = scores[order], pred_cls[order]
        if scores.size and true_cls.size:
            iou = box_iou(np.asarray(true_boxes).reshape(-1, 4), boxes)
            tp = match_predictions(pred_cls, true_cls, iou, self.thresholds)
        else:
            tp = np.zeros((scores.size, self.thresholds.shape[0]), dtype=bool)
        self._tp.append(tp)
        self._conf.append(scores)
        self._pred_cls.append(pred_cls)
        self._target_cls.append(true_cls)
        self.images += 1

    def summary(self) -> MapResult:
        """mAP over everything added so far."""
        n_t = self.thresholds.shape[0]
        tp = np.concatenate(self._tp) if self._tp else np.zeros((0, n_t), bool)
        conf = np.concatenate(self._conf) if self._conf else np.zeros(0)
        pred_cls = np.concatenate(self._pred_cls) if self._pred_cls else np.zeros(0, np.int64)
        target_cls = np.concatenate(self._target_cls) if self._target_cls else np.zeros(0, np.int64)
        classes, ap = ap_per_class(tp, conf, pred_cls, target_cls)
        n_classes = max(len(self.class_names), int(classes.max(initial=-1)) + 1)
        counts = np.bincount(target_cls, minlength=n_classes)
        per_class = tuple(
            ClassAP(
                name=self.class_names[c] if c < len(self.class_names) else f"class_{c}",
                labels=int(counts[c]),
                ap50=float(ap[i, 0]),
                ap50_95=float(ap[i].mean()),
            )
            for i, c in enumerate(classes.tolist())
        )
        return MapResult(
            map50=float(ap[:, 0].mean()) if len(classes) else 0.0,
            map50_95=float(ap.mean()) if len(classes) else 0.0,
            per_class=per_class,
            images=self.images,
            labels=int(target_cls.size),
        )
