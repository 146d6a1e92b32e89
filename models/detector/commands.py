"""`iiot models train-detector | eval-detector | export-detector | build-engine`: thin click wrappers."""

from __future__ import annotations

import json
import logging
import shlex
import sys
from pathlib import Path
from typing import Any, cast

import click
import yaml

from models.detector.errors import DetectorError
from models.detector.offline import DEFAULT_CONFIG_DIR
from proto.artifacts import Precision

log = logging.getLogger(__name__)


def _command_line() -> str:
    return "iiot " + shlex.join(sys.argv[1:]) if sys.argv else ""


def _overrides(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"expected key=value, got {pair!r}", param_hint="--set")
        out[key] = yaml.safe_load(value)
    return out


config_dir_option = click.option(
    "--config-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=DEFAULT_CONFIG_DIR,
    show_default=True,
    help="Project-controlled ultralytics config dir (settings, fonts); keeps it offline.",
)


@click.command("train-detector")
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option(
    "--epochs",
    type=click.IntRange(min=1),
    default=None,
    help="Run length (default 100). With --resume: change the run's length from the next epoch on.",
)
@click.option("--imgsz", type=int, default=320, show_default=True)
@click.option("--batch", type=int, default=16, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("runs/detector"))
@click.option("--name", default="yolov8n", show_default=True, help="Run folder under --out.")
@click.option("--resume", is_flag=True, help="Continue the run from <out>/<name>/weights/last.pt.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--patience", type=int, default=100, show_default=True)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Any other ultralytics train arg.")
@config_dir_option
def train_detector(
    data: Path,
    epochs: int | None,
    imgsz: int,
    batch: int,
    out: Path,
    name: str,
    resume: bool,
    seed: int,
    patience: int,
    sets: tuple[str, ...],
    config_dir: Path,
) -> None:
    """Train YOLOv8n from its model definition (no pretrained weights) on a twin dataset, offline."""
    from models.detector.training import TrainConfig, train

    config = TrainConfig(
        data=data,
        out=out,
        name=name,
        epochs=epochs or 100,
        imgsz=imgsz,
        batch=batch,
        seed=seed,
        patience=patience,
        config_dir=config_dir,
        overrides=_overrides(sets),
        command=_command_line(),
    )
    try:
        result = train(config, resume=resume, resume_epochs=epochs if resume else None)
    except DetectorError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"run: {result.run_dir}")
    click.echo(f"best: {result.best}  wall this session: {result.wall_s:.0f} s")
    if result.sheet:
        click.echo(f"held-out prediction sheet: {result.sheet}")
    click.echo(json.dumps(result.metrics, indent=2))


def _manifest_for(path: Path) -> Path:
    """A manifest path from either the manifest or the ONNX file beside it."""
    from proto.artifacts import MANIFEST_SUFFIX, manifest_path_for

    if path.name.endswith(MANIFEST_SUFFIX):
        return path
    manifest = manifest_path_for(path)
    if not manifest.is_file():
        raise click.ClickException(f"{path}: no {manifest.name} beside it (export-detector writes one)")
    return manifest


@click.command("eval-detector")
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--weights", type=click.Path(exists=True, dir_okay=False, path_type=Path), help="A .pt file.")
@click.option(
    "--onnx",
    "onnx_files",
    multiple=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="An ONNX file or its manifest (repeatable).",
)
@click.option("--splits", default="test,heldout", show_default=True, help="Comma-separated splits.")
@click.option("--imgsz", type=int, default=320, show_default=True)
@click.option("--limit", type=int, default=None, help="At most this many images per split.")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("var/eval/detector"))
@click.option("--tolerance", type=float, default=0.5, show_default=True, help="Allowed difference, points.")
@click.option("--strict", is_flag=True, help="Fail when the two evaluations differ beyond tolerance.")
@config_dir_option
def eval_detector(
    data: Path,
    weights: Path | None,
    onnx_files: tuple[Path, ...],
    splits: str,
    imgsz: int,
    limit: int | None,
    out: Path,
    tolerance: float,
    strict: bool,
    config_dir: Path,
) -> None:
    """mAP50 and mAP50-95 per class: ultralytics' validator vs the edge path (preprocess, ORT, NMS)."""
    from models.detector.dataset import load_dataset
    from models.detector.evaluation import Agreement, evaluate_edge_path, evaluate_ultralytics

    if weights is None and not onnx_files:
        raise click.UsageError("give --weights and/or --onnx")
    try:
        dataset = load_dataset(data)
        wanted = [s.strip() for s in splits.split(",") if s.strip()]
        present = [s for s in wanted if s in dataset.splits]
        if not present:
            raise click.ClickException(f"none of {wanted} exist in {data} (have {sorted(dataset.splits)})")
        report: dict[str, Any] = {"data": str(data), "splits": present, "models": {}}
        worst = 0.0
        for split in present:
            if weights is not None:
                pt = evaluate_ultralytics(
                    weights, dataset, split, imgsz, out, config_dir=config_dir, limit=limit
                )
                click.echo(f"\n{weights.name} on {split} (ultralytics validator, PyTorch)\n{pt.table()}")
                report["models"].setdefault(weights.name, {})[split] = {"ultralytics": pt.as_dict()}
            for path in onnx_files:
                manifest = _manifest_for(path)
                onnx_path = manifest.parent / json.loads(manifest.read_text())["file"]
                edge = evaluate_edge_path(manifest, dataset.images(split, limit=limit))
                by_ul = evaluate_ultralytics(
                    onnx_path, dataset, split, imgsz, out, config_dir=config_dir, limit=limit
                )
                agreement = Agreement(split, by_ul, edge)
                worst = max(worst, agreement.max_diff_points)
                click.echo(f"\n{onnx_path.name}\n{agreement.report()}")
                report["models"].setdefault(onnx_path.name, {})[split] = {
                    "ultralytics": by_ul.as_dict(),
                    "edge": edge.as_dict(),
                    "max_diff_points": agreement.max_diff_points,
                }
    except DetectorError as exc:
        raise click.ClickException(str(exc)) from exc
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    click.echo(f"\nreport: {out / 'report.json'}")
    if onnx_files:
        click.echo(f"largest ultralytics-vs-edge difference: {worst:.2f} points (tolerance {tolerance})")
        if strict and worst > tolerance:
            raise click.ClickException(f"evaluations differ by {worst:.2f} points > {tolerance}")


@click.command("export-detector")
@click.option("--weights", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--data", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("var/export/detector"))
@click.option("--imgsz", type=int, default=320, show_default=True)
@click.option("--version", "model_version", default="0.1.0", show_default=True)
@click.option("--opset", type=int, default=17, show_default=True)
@click.option("--recipe", default="head-post-float", show_default=True, help="INT8 recipe (see RECIPES).")
@click.option("--calib-images", type=int, default=200, show_default=True)
@click.option("--eval-splits", default="test,heldout", show_default=True)
@click.option("--eval-limit", type=int, default=None)
@click.option("--dynamic/--no-dynamic", default=True, show_default=True, help="Also dynamic-batch FP32.")
@click.option("--fp16/--no-fp16", default=True, show_default=True)
@click.option("--int8/--no-int8", default=True, show_default=True)
@click.option("--speed-images", type=int, default=50, show_default=True, help="0: do not time FP32 vs INT8.")
@click.option("--speed-rounds", type=int, default=3, show_default=True)
@click.option("--threads", type=int, default=2, show_default=True, help="ONNX Runtime threads for timing.")
@click.option(
    "--card/--no-card", default=True, show_default=True, help="Write MODEL_CARD.md beside the files."
)
@config_dir_option
def export_detector(
    weights: Path,
    data: Path,
    out: Path,
    imgsz: int,
    model_version: str,
    opset: int,
    recipe: str,
    calib_images: int,
    eval_splits: str,
    eval_limit: int | None,
    dynamic: bool,
    fp16: bool,
    int8: bool,
    speed_images: int,
    speed_rounds: int,
    threads: int,
    card: bool,
    config_dir: Path,
) -> None:
    """ONNX FP32 (static, dynamic batch), FP16 and INT8 QDQ with manifests, measured mAP and speed."""
    from models.detector.artifact_set import ExportOptions, export_artifacts
    from models.detector.dataset import load_dataset

    options = ExportOptions(
        imgsz=imgsz,
        version=model_version,
        opset=opset,
        dynamic=dynamic,
        fp16=fp16,
        int8=int8,
        recipe=recipe,
        calibration_images=calib_images,
        eval_splits=tuple(s.strip() for s in eval_splits.split(",") if s.strip()),
        eval_limit=eval_limit,
        command=_command_line(),
        config_dir=config_dir,
        speed_images=speed_images,
        speed_rounds=speed_rounds,
        speed_threads=threads,
        card=card,
    )
    try:
        result = export_artifacts(weights, load_dataset(data), out, options)
    except (DetectorError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    for variant, manifest in result.manifests.items():
        click.echo(f"{variant:<13} {manifest}")
    for variant, per_split in result.metrics.items():
        for split, measured in per_split.items():
            line = f"mAP50 {measured.map50:.4f}  mAP50-95 {measured.map50_95:.4f}"
            click.echo(f"{variant:<13} {split:<8} {line}")
    if result.speed is not None:
        speed = result.speed
        click.echo(
            f"CPU images/s: fp32 {speed.median('fp32'):.1f}, int8 {speed.median('int8'):.1f} "
            f"({speed.speedup('int8'):.2f}x, {speed.threads} threads)"
        )
    if result.card is not None:
        click.echo(f"model card: {result.card}")


@click.command("build-engine")
@click.option("--manifest", type=click.Path(exists=True, dir_okay=False, path_type=Path), required=True)
@click.option("--precision", type=click.Choice(["fp32", "fp16", "int8"]), default="fp16", show_default=True)
@click.option("--cache-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("var/engines"))
@click.option("--max-batch", type=int, default=1, show_default=True)
@click.option("--workspace-mb", type=int, default=1024, show_default=True)
@click.option("--calib-images", type=click.Path(exists=True, file_okay=False, path_type=Path), default=None)
@click.option("--force", is_flag=True, help="Rebuild even when a matching engine is cached.")
@click.option("--dry-run", is_flag=True, help="Print the equivalent trtexec command and stop.")
def build_engine(
    manifest: Path,
    precision: str,
    cache_dir: Path,
    max_batch: int,
    workspace_mb: int,
    calib_images: Path | None,
    force: bool,
    dry_run: bool,
) -> None:
    """Build (or find) the TensorRT engine of an ONNX artifact on this device, into the engine cache."""
    from edge.inference.errors import InferenceError
    from edge.inference.factory import load_verified
    from edge.inference.options import TensorRTOptions
    from edge.inference.trt_build_plan import BuildPlan

    try:
        loaded, onnx_path = load_verified(manifest)
        options = TensorRTOptions(
            cache_dir=cache_dir,
            precision=cast(Precision, precision),
            opt_batch=max_batch,
            max_batch=max_batch,
            workspace_mb=workspace_mb,
            calibration_images=calib_images,
        )
        plan = BuildPlan.from_manifest(loaded, onnx_path, options)
        if dry_run:
            engine = cache_dir / f"{onnx_path.stem}-{precision}.engine"
            click.echo(shlex.join(plan.to_trtexec_args(engine)))
            return
        from edge.inference.trt_builder import build_engine as build

        built = build(plan, cache_dir, force=force)
    except (InferenceError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"engine: {built.engine}{' (built)' if built.built else ' (cached)'}")
