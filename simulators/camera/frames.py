"""What a camera hands over: a frame with its part id, time and exact defect boxes."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class BoxLabel:
    """One defect box in pixel-edge coordinates: x1, y1 inclusive corner, x2, y2 exclusive corner."""

    class_id: int
    class_name: str
    x1: float
    y1: float
    x2: float
    y2: float

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.x2 - self.x1

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.y2 - self.y1

    def to_yolo(self, width: int, height: int) -> str:
        """One YOLO label line: ``class cx cy w h``, normalized to the image and clipped to [0, 1]."""
        x1, x2 = (min(max(v / width, 0.0), 1.0) for v in (self.x1, self.x2))
        y1, y2 = (min(max(v / height, 0.0), 1.0) for v in (self.y1, self.y2))
        return f"{self.class_id} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}"

    @classmethod
    def from_yolo(cls, line: str, width: int, height: int, names: tuple[str, ...]) -> BoxLabel:
        """Parse one YOLO label line back into pixel coordinates."""
        fields = line.split()
        if len(fields) != 5:
            raise ValueError(f"a YOLO label line has 5 fields, got {len(fields)}: {line!r}")
        class_id = int(fields[0])
        cx, cy, w, h = (float(v) for v in fields[1:])
        return cls(
            class_id,
            names[class_id],
            (cx - w / 2) * width,
            (cy - h / 2) * height,
            (cx + w / 2) * width,
            (cy + h / 2) * height,
        )


@dataclass(frozen=True, eq=False)
class CapturedFrame:
    """One inspection image of one part, with the boxes of the defects drawn on it."""

    part_id: str
    t_ms: int
    camera_id: str
    image: np.ndarray
    labels: tuple[BoxLabel, ...]
    material: str = ""
    lighting: str = ""

    def __post_init__(self) -> None:
        if self.image.ndim != 3 or self.image.shape[2] != 3 or self.image.dtype != np.uint8:
            raise ValueError(f"image must be HxWx3 uint8 BGR, got {self.image.shape} {self.image.dtype}")
        self.image.flags.writeable = False

    @property
    def width(self) -> int:
        """Image width in pixels."""
        return int(self.image.shape[1])

    @property
    def height(self) -> int:
        """Image height in pixels."""
        return int(self.image.shape[0])

    def yolo_lines(self) -> str:
        """The YOLO label file for this frame (empty for a part without defects)."""
        return "".join(label.to_yolo(self.width, self.height) + "\n" for label in self.labels)

    def jpeg(self, quality: int = 90) -> bytes:
        """The image as JPEG bytes."""
        if not 1 <= quality <= 100:
            raise ValueError(f"JPEG quality must be 1..100, got {quality}")
        ok, buffer = cv2.imencode(".jpg", self.image, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise RuntimeError("OpenCV could not encode the frame as JPEG")
        return buffer.tobytes()
