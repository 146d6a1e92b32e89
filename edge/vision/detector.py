"""The detector: preprocess, inference, postprocess as separate, individually timed steps.

The split follows ultralytics' predictor: `preprocess` letterboxes frames into one batch,
`inference` runs it through any `InferenceBackend`, `postprocess` applies NMS and maps boxes back
to each original frame. Calling the detector runs all three and reports the time of each. Class
names, thresholds and the input normalization come from the model's manifest. No I/O here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.inference.base import InferenceBackend
from edge.vision.detections import Detections
from edge.vision.letterbox import LetterboxTransform, preprocess_batch, scale_boxes
from edge.vision.nms import non_max_suppression
from proto.artifacts import DetectionThresholds, ImageNormalization, ModelManifest

Frame = npt.NDArray[np.uint8]
Batch = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Timings:
    """Milliseconds spent in each step of one detector call."""

    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float

    @property
    def total_ms(self) -> float:
        """All three steps."""
        return self.preprocess_ms + self.inference_ms + self.postprocess_ms


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """What the detector needs from a manifest: input geometry and colour, classes, thresholds."""

    class_names: tuple[str, ...]
    input_size: tuple[int, int] = (640, 640)  # (height, width)
    pad_value: int = 114
    channel_order: str = "RGB"  # what the model expects
    frame_order: str = "BGR"  # what the frames are (OpenCV decodes to BGR)
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] | None = None
    std: tuple[float, float, float] | None = None
    conf: float = 0.25
    iou: float = 0.45
    max_det: int = 300
    agnostic: bool = False
    classes: tuple[int, ...] | None = None
    output_name: str | None = None  # None: the backend's first output

    @classmethod
    def from_manifest(cls, manifest: ModelManifest, **overrides: Any) -> DetectorConfig:
        """The config of a detector manifest, with optional overrides (e.g. conf=0.4)."""
        norm, thresholds = manifest.normalization, manifest.thresholds
        if not isinstance(norm, ImageNormalization) or not isinstance(thresholds, DetectionThresholds):
            raise ValueError(f"{manifest.name} is a {manifest.task} model, not a detector")
        identity = norm.mean == (0.0, 0.0, 0.0) and norm.std == (1.0, 1.0, 1.0)
        config = cls(
            class_names=manifest.class_names,
            input_size=norm.letterbox_size,
            pad_value=norm.pad_value,
            channel_order=norm.channel_order,
            scale=norm.scale,
            mean=None if identity else norm.mean,
            std=None if identity else norm.std,
            conf=thresholds.conf,
            iou=thresholds.iou,
            max_det=thresholds.max_det,
            output_name=manifest.outputs[0].name,
        )
        return replace(config, **overrides)


@dataclass(frozen=True, slots=True)
class DetectorResult:
    """Detections per frame (in frame pixels) and the time each step took."""

    detections: tuple[Detections, ...]
    timings: Timings


class Detector:
    """YOLOv8 detection over any inference backend."""

    def __init__(
        self,
        backend: InferenceBackend,
        config: DetectorConfig,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.backend = backend
        self.config = config
        self._clock = clock
        self._input_name = backend.input_specs[0].name

    def preprocess(self, frames: Sequence[Frame]) -> tuple[Batch, tuple[LetterboxTransform, ...]]:
        """Letterbox frames into one float32 NCHW batch, with the transform of each frame."""
        c = self.config
        return preprocess_batch(
            frames,
            c.input_size,
            pad_value=c.pad_value,
            input_order=c.frame_order,
            output_order=c.channel_order,
            scale=c.scale,
            mean=c.mean,
            std=c.std,
        )

    def inference(self, batch: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """The raw model output [B, 4 + nc, N] for a batch."""
        outputs = self.backend.run({self._input_name: batch})
        name = self.config.output_name if self.config.output_name in outputs else next(iter(outputs))
        return np.asarray(outputs[name], dtype=np.float32)

    def postprocess(
        self, raw: npt.NDArray[np.float32], transforms: Sequence[LetterboxTransform]
    ) -> list[Detections]:
        """NMS per image, then boxes mapped back to (and clipped to) each original frame."""
        c = self.config
        per_image = non_max_suppression(
            raw,
            c.conf,
            c.iou,
            classes=c.classes,
            agnostic=c.agnostic,
            max_det=c.max_det,
            nc=len(c.class_names),
        )
        return [d.with_boxes(scale_boxes(d.boxes, t)) for d, t in zip(per_image, transforms, strict=True)]

    def __call__(self, frames: Sequence[Frame]) -> DetectorResult:
        """Detect objects in frames (each HxWx3 uint8 in `frame_order`), timing every step."""
        t0 = self._clock()
        batch, transforms = self.preprocess(frames)
        t1 = self._clock()
        raw = self.inference(batch)
        t2 = self._clock()
        detections = self.postprocess(raw, transforms)
        t3 = self._clock()
        timings = Timings((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t3 - t2) * 1e3)
        return DetectorResult(detections=tuple(detections), timings=timings)
