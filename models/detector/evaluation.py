"""mAP per class, twice: by ultralytics' validator and by the edge's own inference path.

The edge path is what a Jetson runs: `edge.vision` letterbox and normalization, the ONNX file
through `edge.inference` (ONNX Runtime backend, opened from its manifest, so the digest is
checked), `edge.vision` NMS and box scaling, then `models.detector.metrics` for mAP. To compare
like with like it uses the validator's settings: conf 0.001, IoU 0.7, max_det 300 and
multi-label NMS (one box may count for several classes, as `DetectionValidator.postprocess`
does). Deployment instead uses the manifest's thresholds and single-label NMS.

Known causes of disagreement, and how this module removes them:
- thresholds: the validator's defaults (conf 0.001, IoU 0.7) are passed to both;
- multi-label NMS: on in both (the edge's Detector default is off);
- letterbox: the validator pads each batch to a stride-32 rectangle (`rect=True`); the edge pads
  to the model's fixed square; for square images at the model size these coincide;
- resizing: ultralytics' dataset downsizes with INTER_AREA, the edge letterbox with INTER_LINEAR;
  they coincide when images are exported at the model size (no resize at all).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from edge.inference.base import InferenceBackend
from edge.inference.factory import open_backend
from edge.inference.options import BackendOptions, OrtOptions
from edge.vision.detector import Detector, DetectorConfig
from edge.vision.letterbox import scale_boxes
from edge.vision.nms import non_max_suppression
from models.detector.dataset import DatasetSpec, read_labels
from models.detector.errors import DatasetError
from models.detector.metrics import ClassAP, DetectionStats, MapResult
from models.detector.offline import DEFAULT_CONFIG_DIR, configure_offline
from proto.artifacts import load_manifest

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ValSettings:
    """Post-processing used for mAP (ultralytics' validator defaults)."""

    conf: float = 0.001
    iou: float = 0.7
    max_det: int = 300
    multi_label: bool = True


VALIDATOR = ValSettings()


def cpu_backend(manifest_path: Path, threads: int = 0) -> InferenceBackend:
    """The edge ONNX Runtime backend on the CPU provider, checked against its manifest."""
    ort = OrtOptions(providers=("CPUExecutionProvider",), intra_op_threads=threads)
    return open_backend(manifest_path, "onnxruntime", BackendOptions(onnxruntime=ort))


def evaluate_edge_path(
    manifest_path: Path,
    images: Sequence[Path],
    settings: ValSettings = VALIDATOR,
    *,
    threads: int = 0,
) -> MapResult:
    """mAP of an ONNX artifact through the edge's preprocessing, backend and NMS."""
    manifest = load_manifest(manifest_path)
    stats = DetectionStats(manifest.class_names)
    with cpu_backend(manifest_path, threads) as backend:
        detector = Detector(backend, DetectorConfig.from_manifest(manifest))
        nc = len(manifest.class_names)
        for path in images:
            frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
            if frame is None:
                raise DatasetError(f"cannot read image {path}")
            batch, transforms = detector.preprocess([np.asarray(frame, np.uint8)])
            raw = detector.inference(batch)
            found = non_max_suppression(
                raw,
                settings.conf,
                settings.iou,
                max_det=settings.max_det,
                multi_label=settings.multi_label,
                nc=nc,
            )[0]
            boxes = scale_boxes(found.boxes, transforms[0])
            truth, truth_cls = read_labels(path, frame.shape[1], frame.shape[0])
            stats.add(boxes, found.scores, found.class_ids, truth, truth_cls)
    return stats.summary()


def evaluate_ultralytics(
    weights: Path,
    dataset: DatasetSpec,
    split: str,
    imgsz: int,
    out_dir: Path,
    settings: ValSettings = VALIDATOR,
    *,
    config_dir: Path = DEFAULT_CONFIG_DIR,
    plots: bool = True,
    limit: int | None = None,
) -> MapResult:
    """mAP of a .pt (or .onnx) model by ultralytics' own validator on one split (first `limit` images)."""
    configure_offline(config_dir)
    from ultralytics import YOLO

    data = dataset.split_yaml(split, out_dir, limit)
    batch = 16 if weights.suffix == ".pt" else 1
    metrics = YOLO(str(weights), task="detect").val(
        data=str(data),
        split="val",
        imgsz=imgsz,
        batch=batch,
        conf=settings.conf,
        iou=settings.iou,
        max_det=settings.max_det,
        device="cpu",
        workers=0,
        plots=plots,
        project=str(out_dir.resolve()),
        name=f"ultralytics-{split}-{weights.suffix.lstrip('.')}",
        exist_ok=True,
        verbose=False,
    )
    box = metrics.box
    counts = _label_counts(dataset, split, limit)
    per_class = tuple(
        ClassAP(
            name=dataset.names[int(c)],
            labels=counts[int(c)],
            ap50=float(box.ap50[i]),
            ap50_95=float(box.ap[i]),
        )
        for i, c in enumerate(metrics.ap_class_index)
    )
    return MapResult(
        map50=float(box.map50),
        map50_95=float(box.map),
        per_class=per_class,
        images=len(dataset.images(split, limit)),
        labels=int(sum(counts)),
    )


def _label_counts(dataset: DatasetSpec, split: str, limit: int | None) -> list[int]:
    counts = [0] * len(dataset.names)
    for path in dataset.images(split, limit):
        _, classes = read_labels(path, 1, 1)
        for c in classes.tolist():
            counts[c] += 1
    return counts


@dataclass(frozen=True, slots=True)
class Agreement:
    """Two evaluations of the same model and split, and their largest difference in points."""

    split: str
    ultralytics: MapResult
    edge: MapResult

    @property
    def max_diff_points(self) -> float:
        """Largest |difference| over mAP50, mAP50-95 and every class's AP50 / AP50-95, in points."""
        diffs = [
            abs(self.ultralytics.map50 - self.edge.map50),
            abs(self.ultralytics.map50_95 - self.edge.map50_95),
        ]
        ours = {c.name: c for c in self.edge.per_class}
        for c in self.ultralytics.per_class:
            other = ours.get(c.name)
            if other is not None:
                diffs += [abs(c.ap50 - other.ap50), abs(c.ap50_95 - other.ap50_95)]
        return 100.0 * max(diffs)

    def report(self) -> str:
        """Both tables side by side and the largest difference."""
        rows = [f"split {self.split}: ultralytics validator | edge path (points)"]
        rows.append(f"{'class':<14}{'AP50':>8}{'AP50-95':>9} |{'AP50':>8}{'AP50-95':>9}")
        ours = {c.name: c for c in self.edge.per_class}
        for c in self.ultralytics.per_class:
            o = ours.get(c.name)
            right = f"{100 * o.ap50:>8.2f}{100 * o.ap50_95:>9.2f}" if o else f"{'-':>8}{'-':>9}"
            rows.append(f"{c.name:<14}{100 * c.ap50:>8.2f}{100 * c.ap50_95:>9.2f} |{right}")
        u, e = self.ultralytics, self.edge
        rows.append(
            f"{'all':<14}{100 * u.map50:>8.2f}{100 * u.map50_95:>9.2f} |"
            f"{100 * e.map50:>8.2f}{100 * e.map50_95:>9.2f}"
        )
        rows.append(f"largest difference: {self.max_diff_points:.2f} points")
        return "\n".join(rows)
