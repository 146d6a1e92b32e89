"""Manifests for detector ONNX files: digest, tensors, normalization, classes, metrics, provenance."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from models.detector.onnx_export import io_shapes
from proto.artifacts import (
    DetectionThresholds,
    ImageNormalization,
    ModelManifest,
    ParentArtifact,
    Precision,
    TensorDecl,
    file_digest,
    load_manifest,
    manifest_path_for,
    save_manifest,
)

MODEL_NAME = "defect-detector"
# Deployment defaults for the edge: ultralytics' predict conf, and its NMS IoU for deployment.
DEFAULT_THRESHOLDS = DetectionThresholds(conf=0.25, iou=0.45, max_det=300)


def _shape(dims: Sequence[int | str]) -> tuple[int | str, ...]:
    return tuple(d if isinstance(d, str) or d > 0 else -1 for d in dims)


def write_manifest(
    onnx_path: Path,
    *,
    precision: Precision,
    class_names: Sequence[str],
    imgsz: int,
    version: str,
    metrics: Mapping[str, float] | None = None,
    command: str = "",
    training_data: str = "",
    parent: ModelManifest | None = None,
    name: str = MODEL_NAME,
) -> ModelManifest:
    """Describe `onnx_path` in `<stem>.manifest.json` beside it and return the manifest."""
    (in_name, in_dims), (out_name, out_dims), opset = io_shapes(onnx_path)
    digest, size = file_digest(onnx_path)
    manifest = ModelManifest(
        name=name,
        version=version,
        task="detect",
        file=onnx_path.name,
        sha256=digest,
        size_bytes=size,
        precision=precision,
        opset=opset,
        inputs=(TensorDecl(name=in_name, shape=_shape(in_dims), dtype="float32", layout="NCHW"),),
        outputs=(TensorDecl(name=out_name, shape=_shape(out_dims), dtype="float32", layout="N(4+C)A"),),
        normalization=ImageNormalization(letterbox_size=(imgsz, imgsz), channel_order="RGB", pad_value=114),
        class_names=tuple(class_names),
        thresholds=DEFAULT_THRESHOLDS,
        metrics=dict(metrics or {}),
        command=command,
        training_data=training_data,
        parent=(
            ParentArtifact(name=parent.name, version=parent.version, sha256=parent.sha256) if parent else None
        ),
    )
    save_manifest(manifest, manifest_path_for(onnx_path))
    return manifest


def with_metrics(manifest_path: Path, metrics: Mapping[str, float]) -> ModelManifest:
    """Rewrite a manifest with metrics merged in (the ONNX file, and so its digest, is unchanged)."""
    manifest = load_manifest(manifest_path)
    updated = manifest.model_copy(update={"metrics": {**manifest.metrics, **metrics}})
    save_manifest(updated, manifest_path)
    return updated
