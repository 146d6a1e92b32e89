"""From one checkpoint to the files the edge gets: FP32, FP32 dynamic-batch, FP16 and INT8 ONNX + manifests.

Every ONNX file gets `<stem>.manifest.json` beside it (sha256, tensors, normalization, classes,
thresholds, producing command, parent). Metrics are measured through the edge path
(`evaluation.evaluate_edge_path`) on the chosen splits and written into the manifests, so the number
in a manifest is the number of that very file on the edge's own preprocessing and NMS.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from models.detector.dataset import DatasetSpec
from models.detector.evaluation import evaluate_edge_path
from models.detector.manifests import MODEL_NAME, with_metrics, write_manifest
from models.detector.metrics import MapResult
from models.detector.model_card import write_model_card
from models.detector.offline import DEFAULT_CONFIG_DIR
from models.detector.onnx_export import DEFAULT_OPSET, convert_fp16, export_fp32
from models.detector.quantization import RECIPES, calibration_subset, quantize_int8
from models.detector.speed import SpeedResult, interleaved, load_batches
from proto.artifacts import ModelManifest, Precision, manifest_path_for

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ExportOptions:
    """What to export and how to measure it."""

    imgsz: int = 320
    version: str = "0.1.0"
    opset: int = DEFAULT_OPSET
    dynamic: bool = True
    fp16: bool = True
    int8: bool = True
    recipe: str = "head-post-float"
    calibration_split: str = "train"
    calibration_images: int = 200
    eval_splits: tuple[str, ...] = ("test", "heldout")
    eval_limit: int | None = None
    command: str = ""
    config_dir: Path = DEFAULT_CONFIG_DIR
    name: str = MODEL_NAME
    speed_split: str = "heldout"
    speed_images: int = 50  # 0: do not time
    speed_rounds: int = 3
    speed_threads: int = 2
    card: bool = True


@dataclass
class ArtifactSet:
    """The files written, their manifests, and the measured metrics per file and split."""

    manifests: dict[str, Path] = field(default_factory=dict)  # "fp32", "fp32-dynamic", "fp16", "int8"
    metrics: dict[str, dict[str, MapResult]] = field(default_factory=dict)  # variant -> split -> result
    float_nodes: list[str] = field(default_factory=list)
    speed: SpeedResult | None = None
    card: Path | None = None


def _training_data(dataset: DatasetSpec) -> str:
    splits = ", ".join(f"{k}={len(dataset.images(k))}" for k in dataset.splits)
    return f"{dataset.yaml_path} ({splits} images)"


def export_artifacts(weights: Path, dataset: DatasetSpec, out: Path, options: ExportOptions) -> ArtifactSet:
    """Export, quantize, measure and describe every variant; return what was written."""
    if options.recipe not in RECIPES:
        raise ValueError(f"unknown INT8 recipe {options.recipe!r}; choose from {sorted(RECIPES)}")
    out.mkdir(parents=True, exist_ok=True)
    result = ArtifactSet()
    names = dataset.names
    data_text = _training_data(dataset)

    def describe(path: Path, precision: Precision, parent: ModelManifest | None) -> ModelManifest:
        manifest = write_manifest(
            path,
            precision=precision,
            class_names=names,
            imgsz=options.imgsz,
            version=options.version,
            command=options.command,
            training_data=data_text,
            parent=parent,
            name=options.name,
        )
        return manifest

    stem = options.name
    fp32 = export_fp32(
        weights, out / f"{stem}-fp32.onnx", options.imgsz, opset=options.opset, config_dir=options.config_dir
    )
    fp32_manifest = describe(fp32, "fp32", None)
    result.manifests["fp32"] = manifest_path_for(fp32)
    if options.dynamic:
        dyn = export_fp32(
            weights,
            out / f"{stem}-fp32-dynamic.onnx",
            options.imgsz,
            opset=options.opset,
            dynamic_batch=True,
            config_dir=options.config_dir,
        )
        describe(dyn, "fp32", fp32_manifest)
        result.manifests["fp32-dynamic"] = manifest_path_for(dyn)
    if options.fp16:
        fp16 = convert_fp16(fp32, out / f"{stem}-fp16.onnx")
        describe(fp16, "fp16", fp32_manifest)
        result.manifests["fp16"] = manifest_path_for(fp16)
    if options.int8:
        calib = calibration_subset(dataset.images(options.calibration_split), options.calibration_images)
        int8 = out / f"{stem}-int8.onnx"
        # from the dynamic-batch graph when there is one: the edge batches frames across cameras, and a
        # batch-1 INT8 file would run such a batch one image at a time
        source = out / f"{stem}-fp32-dynamic.onnx" if options.dynamic else fp32
        result.float_nodes = quantize_int8(source, int8, calib, options.imgsz, RECIPES[options.recipe])
        describe(int8, "int8", fp32_manifest)
        result.manifests["int8"] = manifest_path_for(int8)

    for variant, manifest_path in result.manifests.items():
        if variant == "fp32-dynamic":
            continue  # the same weights as fp32; measured through fp32
        per_split: dict[str, MapResult] = {}
        flat: dict[str, float] = {}
        for split in _present(dataset, options.eval_splits):
            images = dataset.images(split, limit=options.eval_limit)
            measured = evaluate_edge_path(manifest_path, images)
            per_split[split] = measured
            flat |= measured.as_dict(prefix=f"{split}/")
            log.info("%s on %s: mAP50 %.4f mAP50-95 %.4f", variant, split, measured.map50, measured.map50_95)
        result.metrics[variant] = per_split
        with_metrics(manifest_path, flat)
    if "fp32-dynamic" in result.manifests and "fp32" in result.metrics:
        flat = {k: v for s, r in result.metrics["fp32"].items() for k, v in r.as_dict(prefix=f"{s}/").items()}
        with_metrics(result.manifests["fp32-dynamic"], flat)
    if options.speed_images > 0 and "int8" in result.manifests:
        split = options.speed_split if options.speed_split in dataset.splits else next(iter(dataset.splits))
        batches = load_batches(
            dataset.images(split, limit=options.speed_images), (options.imgsz, options.imgsz)
        )
        timed = {k: result.manifests[k] for k in ("fp32", "int8")}
        result.speed = interleaved(timed, batches, threads=options.speed_threads, rounds=options.speed_rounds)
        for key in timed:
            rate = {
                "cpu_images_per_s": result.speed.median(key),
                "cpu_speedup_vs_fp32": result.speed.speedup(key),
            }
            with_metrics(result.manifests[key], rate)
    if options.card:
        run_dir = weights.parent.parent if weights.parent.name == "weights" else None
        notes = [f"INT8 recipe `{options.recipe}`: {len(result.float_nodes)} head nodes kept in float."]
        result.card = write_model_card(
            out, result.manifests, result.metrics, run_dir, dataset.root, result.speed, notes=notes
        )
    return result


def _present(dataset: DatasetSpec, splits: Sequence[str]) -> list[str]:
    found = [s for s in splits if s in dataset.splits]
    if not found:
        log.warning("none of the evaluation splits %s exist in %s", list(splits), dataset.yaml_path)
    return found
