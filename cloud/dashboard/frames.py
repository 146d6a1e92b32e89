"""Inspected frames for the defect feed: the detection event as the dashboard keeps it, and a ring of them.

Storage keeps counts and labels per frame, not the JPEG crop, so the newest frames come from the
live feed (Kafka detections topic or the embedded runner) and live in memory only.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from cloud.processing.alert_rules import DefectRateLimits
from proto import messages as m


@dataclass(frozen=True, slots=True)
class FrameBox:
    """One detection, with its box normalized to the crop (or to the frame when there is no crop)."""

    label: str
    score: float
    x: float
    y: float
    w: float
    h: float


@dataclass(frozen=True, slots=True)
class DefectFrame:
    """One inspected frame: where, when, what was found, and the JPEG crop if the edge sent one."""

    frame_id: str
    line_id: str
    camera_id: str
    edge_node: str
    ts_ms: int
    seq: int
    boxes: tuple[FrameBox, ...]
    crop_jpeg: bytes = b""
    width: int = 0
    height: int = 0
    model_version: str = ""
    machine_id: str = ""

    def defective(self, limits: DefectRateLimits) -> bool:
        """Whether any confident box is a defect class."""
        return any(b.score >= limits.min_score and b.label not in limits.good_labels for b in self.boxes)


def frame_id(edge_node: str, camera_id: str, seq: int) -> str:
    """The stable identity of a frame, safe in a URL path."""
    return f"{edge_node}~{camera_id}~{seq}"


def frame_from_proto(event: m.DetectionEvent) -> DefectFrame:
    """A detection event as a frame; boxes are moved into the crop's coordinates and normalized."""
    if event.crop_jpeg and event.HasField("crop_box") and event.crop_box.x2 > event.crop_box.x1:
        ox, oy = event.crop_box.x1, event.crop_box.y1
        width, height = event.crop_box.x2 - event.crop_box.x1, event.crop_box.y2 - event.crop_box.y1
    else:
        ox, oy = 0.0, 0.0
        width, height = float(event.image_width or 1), float(event.image_height or 1)
    boxes = tuple(
        FrameBox(
            d.class_name or str(d.class_id),
            float(d.score),
            _clip((d.box.x1 - ox) / width),
            _clip((d.box.y1 - oy) / height),
            _clip((d.box.x2 - d.box.x1) / width),
            _clip((d.box.y2 - d.box.y1) / height),
        )
        for d in event.detections
    )
    return DefectFrame(
        frame_id=frame_id(event.edge_node, event.camera_id, event.seq),
        line_id=event.line_id or "line",
        camera_id=event.camera_id,
        edge_node=event.edge_node,
        ts_ms=event.timestamp_ms,
        seq=event.seq,
        boxes=boxes,
        crop_jpeg=bytes(event.crop_jpeg),
        width=round(width),
        height=round(height),
        model_version=event.model.version,
        machine_id=event.machine_id,
    )


def _clip(v: float) -> float:
    return min(max(v, 0.0), 1.0)


class FrameRing:
    """The newest frames, bounded; defective frames are kept preferentially over clean ones."""

    def __init__(self, size: int, limits: DefectRateLimits | None = None) -> None:
        self.limits = limits or DefectRateLimits()
        self._defective: deque[DefectFrame] = deque(maxlen=size)
        self._clean: deque[DefectFrame] = deque(maxlen=max(size // 4, 1))
        self.version = 0

    def add(self, frame: DefectFrame) -> bool:
        """Keep a frame; returns whether it is defective."""
        bad = frame.defective(self.limits)
        (self._defective if bad else self._clean).append(frame)
        self.version += 1
        return bad

    def __iter__(self) -> Iterator[DefectFrame]:
        return iter(sorted((*self._defective, *self._clean), key=lambda f: -f.ts_ms))

    def find(self, frame_id_: str) -> DefectFrame | None:
        """A kept frame by id."""
        return next((f for f in (*self._defective, *self._clean) if f.frame_id == frame_id_), None)
