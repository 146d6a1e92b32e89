"""Pure scoring of defect detections against the twin's frame labels: IoU, greedy matching, per-class P/R.

Frames are joined by (camera, frame event time). Within a frame and a class, detections are taken
best score first; each takes the unmatched labelled box of its class with the highest IoU, if that
IoU reaches the threshold (true positive), else it is a false positive. Labelled boxes left over
are false negatives. A frame the agent reported nothing for (no event, or no detections) leaves
all its labels as false negatives; events for frames the twin never sent are counted apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from iiot.harness.records import Box, FrameDetections, FrameTruth


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 when either is empty)."""
    w = min(a.x2, b.x2) - max(a.x1, b.x1)
    h = min(a.y2, b.y2) - max(a.y1, b.y1)
    if w <= 0 or h <= 0:
        return 0.0
    inter = w * h
    union = a.area + b.area - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True, slots=True)
class FrameMatch:
    """True positives, false positives and false negatives of one frame, per class."""

    tp: Counter[str]
    fp: Counter[str]
    fn: Counter[str]


def match_frame(truth: Sequence[Box], detections: Sequence[Box], iou_min: float = 0.5) -> FrameMatch:
    """Greedy matching by score within each class (see the module docstring)."""
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    used = [False] * len(truth)
    for det in sorted(detections, key=lambda d: -d.score):
        best, best_iou = -1, iou_min
        for i, label in enumerate(truth):
            if used[i] or label.class_name != det.class_name:
                continue
            overlap = iou(det, label)
            if overlap >= best_iou:
                best, best_iou = i, overlap
        if best >= 0:
            used[best] = True
            tp[det.class_name] += 1
        else:
            fp[det.class_name] += 1
    fn: Counter[str] = Counter(label.class_name for i, label in enumerate(truth) if not used[i])
    return FrameMatch(tp, fp, fn)


@dataclass(frozen=True, slots=True)
class ClassScore:
    """Counts and rates of one class."""

    class_name: str
    tp: int
    fp: int
    fn: int

    @property
    def precision(self) -> float | None:
        """TP / (TP + FP); None without detections."""
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else None

    @property
    def recall(self) -> float | None:
        """TP / (TP + FN); None without labels."""
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else None


@dataclass(frozen=True, slots=True)
class DetectionScores:
    """Per-class scores over all frames the twin sent."""

    classes: tuple[ClassScore, ...]
    frames: int
    frames_reported: int
    orphan_events: int
    iou_min: float

    def by_class(self, name: str) -> ClassScore | None:
        """The score of one class, if it occurred."""
        return next((c for c in self.classes if c.class_name == name), None)


def score_detections(
    truths: Iterable[FrameTruth], detections: Iterable[FrameDetections], iou_min: float = 0.5
) -> DetectionScores:
    """Per-class TP/FP/FN over the frames the twin sent, joined by (camera, frame time)."""
    reported: dict[tuple[str, int], FrameDetections] = {}
    for reported_event in detections:
        reported.setdefault((reported_event.camera_id, reported_event.t_ms), reported_event)
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    frames = frames_reported = 0
    seen: set[tuple[str, int]] = set()
    for truth in truths:
        key = (truth.camera_id, truth.t_ms)
        if key in seen:
            continue
        seen.add(key)
        frames += 1
        event = reported.get(key)
        if event is not None:
            frames_reported += 1
        match = match_frame(truth.boxes, event.boxes if event else (), iou_min)
        tp.update(match.tp)
        fp.update(match.fp)
        fn.update(match.fn)
    names = sorted(set(tp) | set(fp) | set(fn))
    classes = tuple(ClassScore(n, tp[n], fp[n], fn[n]) for n in names)
    orphans = sum(1 for key in reported if key not in seen)
    return DetectionScores(classes, frames, frames_reported, orphans, iou_min)
