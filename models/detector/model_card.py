"""The model card: what the shipped files are, what trained them, how well and how fast they do.

`render_card` is pure (values in, Markdown out); `write_model_card` gathers the values from the
manifests, the training run folder, the dataset's own manifest and the speed measurement, and
writes `MODEL_CARD.md` beside the artifacts. Every number in the card comes from a file that
the export wrote or measured; targets that are not met are said so plainly.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from models.detector.metrics import MapResult
from models.detector.speed import SpeedResult
from proto.artifacts import DetectionThresholds, ModelManifest, load_manifest

CARD_FILE = "MODEL_CARD.md"


@dataclass(frozen=True, slots=True)
class Targets:
    """What the issue asks of the shipped detector."""

    map50: float = 0.95  # FP32, on every evaluation split (held-out seeds and unseen material)
    int8_drop_points: float = 1.0  # INT8 mAP50 at most this many points below FP32
    int8_speedup: float = 1.3  # INT8 images/s over FP32 on the CPU


@dataclass(frozen=True, slots=True)
class TrainingSummary:
    """The training run as the card tells it."""

    command: str
    epochs_done: int
    epochs_planned: int
    wall_s: float
    sessions: int
    final_val: dict[str, float]
    args: dict[str, Any]


def _pts(x: float) -> str:
    return f"{100 * x:.1f}"


def _mark(ok: bool) -> str:
    return "met" if ok else "**NOT met**"


def target_rows(
    metrics: Mapping[str, Mapping[str, MapResult]], speed: SpeedResult | None, targets: Targets
) -> list[tuple[str, str, str]]:
    """(target, measured, met?) rows for the card."""
    rows = []
    fp32, int8 = metrics.get("fp32", {}), metrics.get("int8", {})
    for split, result in fp32.items():
        rows.append(
            (
                f"FP32 mAP50 ≥ {_pts(targets.map50)} on {split}",
                _pts(result.map50),
                _mark(result.map50 >= targets.map50),
            )
        )
    for split, result in int8.items():
        if split in fp32:
            drop = 100 * (fp32[split].map50 - result.map50)
            rows.append(
                (
                    f"INT8 mAP50 within {targets.int8_drop_points:.1f} point of FP32 on {split}",
                    f"{_pts(result.map50)} ({-drop:+.2f})",
                    _mark(drop <= targets.int8_drop_points),
                )
            )
    if speed is not None and "int8" in speed.rates:
        gain = speed.speedup("int8")
        rows.append(
            (
                f"INT8 ≥ {targets.int8_speedup:.1f}× FP32 images/s on CPU",
                f"{gain:.2f}×",
                _mark(gain >= targets.int8_speedup),
            )
        )
    return rows


def render_card(
    manifests: Mapping[str, ModelManifest],
    metrics: Mapping[str, Mapping[str, MapResult]],
    training: TrainingSummary | None,
    dataset: Mapping[str, Any],
    speed: SpeedResult | None,
    targets: Targets,
    notes: Sequence[str] = (),
) -> str:
    """The card as Markdown."""
    fp32 = manifests["fp32"]
    lines = [f"# Model card: {fp32.name} {fp32.version}", ""]
    lines += [
        "Defect detector for the inspection cameras: YOLOv8n trained from its model definition (no",
        "pretrained weights) on images rendered by the camera twin. Classes: "
        + ", ".join(f"`{c}`" for c in fp32.class_names)
        + ".",
        "",
        "## Targets",
        "",
        "| target | measured | |",
        "|---|---|---|",
    ]
    lines += [f"| {t} | {m} | {ok} |" for t, m, ok in target_rows(metrics, speed, targets)]
    lines += ["", "## Files", "", "| file | precision | input | size | sha256 |", "|---|---|---|---|---|"]
    for m in manifests.values():
        shape = "×".join(str(d) for d in m.inputs[0].shape)
        lines.append(
            f"| `{m.file}` | {m.precision} | {shape} | {m.size_bytes / 1e6:.1f} MB | `{m.sha256[:16]}…` |"
        )
    norm = fp32.normalization
    lines += [
        "",
        f"Input `{fp32.inputs[0].name}`: RGB, letterboxed to {fp32.inputs[0].shape[-1]} px with pad 114, "
        f"scaled to 0–1 ({norm.kind} normalization in the manifest). Output `{fp32.outputs[0].name}` "
        f"{'×'.join(str(d) for d in fp32.outputs[0].shape)}: per anchor cx, cy, w, h in input pixels and "
        "one sigmoid score per class; NMS runs on the edge (`edge.vision.nms`). Deployment thresholds: "
        f"{_thresholds(fp32)}.",
        "",
        "## Accuracy",
        "",
        "Edge path (edge.vision letterbox → ONNX Runtime CPU → edge.vision NMS), validator settings",
        "(conf 0.001, IoU 0.7, multi-label NMS, max 300). AP in points (0–100).",
        "",
    ]
    for split in next(iter(metrics.values()), {}):
        header = "| class | labels | " + " | ".join(f"{v} AP50 | {v} AP50-95" for v in metrics) + " |"
        lines += [
            f"**{split}**" + _split_note(dataset, split),
            "",
            header,
            "|---|---|" + "---|---|" * len(metrics),
        ]
        first = metrics[next(iter(metrics))][split]
        for i, c in enumerate(first.per_class):
            cells = []
            for v in metrics:
                other = metrics[v][split].per_class[i]
                cells.append(f"{_pts(other.ap50)} | {_pts(other.ap50_95)}")
            lines.append(f"| {c.name} | {c.labels} | " + " | ".join(cells) + " |")
        cells = [
            f"**{_pts(metrics[v][split].map50)}** | **{_pts(metrics[v][split].map50_95)}**" for v in metrics
        ]
        lines += [f"| all | {first.labels} | " + " | ".join(cells) + " |", ""]
    if speed is not None:
        lines += [
            "## Speed",
            "",
            f"ONNX Runtime CPU, batch 1, {speed.threads} threads, inference only, {speed.images} images × "
            f"{len(next(iter(speed.rates.values())))} interleaved rounds on the export machine "
            "(a shared 2-core VM: absolute rates vary with the neighbours' load, the ratio much less).",
            "",
            "| file | images/s (median) | speed-up |",
            "|---|---|---|",
        ]
        lines += [f"| {k} | {speed.median(k):.1f} | {speed.speedup(k):.2f}× |" for k in speed.rates]
        lines.append("")
    if training is not None:
        lines += [
            "## Training",
            "",
            f"`{training.command}`" if training.command else "",
            "",
            f"- epochs: {training.epochs_done} of {training.epochs_planned}; wall time "
            f"{training.wall_s / 3600:.2f} h in {training.sessions} session(s), CPU only (workers 0)",
            "- settings: "
            + ", ".join(
                f"{k}={training.args.get(k)}"
                for k in (
                    "imgsz",
                    "batch",
                    "optimizer",
                    "lr0",
                    "flipud",
                    "hsv_h",
                    "mosaic",
                    "close_mosaic",
                    "seed",
                )
            ),
            "- last validation (PyTorch, ultralytics validator, val split): "
            + ", ".join(f"{k} {v:.4f}" for k, v in training.final_val.items()),
            "",
        ]
    lines += ["## Data", ""]
    for split, info in dataset.get("splits", {}).items():
        lines.append(
            f"- {split}: {info.get('images')} images, {info.get('boxes')} boxes; materials "
            f"{', '.join(info.get('materials', []))}; lightings {', '.join(info.get('lightings', []))}"
        )
    lines += [
        "",
        f"Generated by `{dataset.get('generator', 'simulators.camera.export')}`, seed {dataset.get('seed')}, "
        f"{dataset.get('image_size')} px. The held-out split shares no material and no lighting with "
        "training.",
        "",
        "## Limitations",
        "",
        "- Trained and measured on rendered images only; real cameras need a check on real parts first.",
        "- The held-out split is one unseen material and one unseen lighting, not a survey of the plant.",
    ]
    lines += [f"- {n}" for n in notes]
    lines.append("")
    return "\n".join(lines)


def _thresholds(manifest: ModelManifest) -> str:
    t = manifest.thresholds
    return f"conf {t.conf}, IoU {t.iou}" if isinstance(t, DetectionThresholds) else "see the manifest"


def _split_note(dataset: Mapping[str, Any], split: str) -> str:
    info = dataset.get("splits", {}).get(split)
    if not info:
        return ""
    return f" ({', '.join(info.get('materials', []))}; {', '.join(info.get('lightings', []))})"


def training_summary(run_dir: Path) -> TrainingSummary | None:
    """What the run folder says about training (None if it is not there)."""
    results = run_dir / "results.csv"
    if not results.is_file():
        return None
    import yaml

    with results.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    args = (
        yaml.safe_load((run_dir / "args.yaml").read_text(encoding="utf-8"))
        if (run_dir / "args.yaml").is_file()
        else {}
    )
    wall: dict[str, Any] = {}
    if (run_dir / "wall_time.json").is_file():
        wall = json.loads((run_dir / "wall_time.json").read_text(encoding="utf-8"))
    last = {k.strip(): v for k, v in rows[-1].items()} if rows else {}
    final = {k: float(last[k]) for k in ("metrics/mAP50(B)", "metrics/mAP50-95(B)") if k in last}
    command = ""
    if (run_dir / "command.txt").is_file():
        command = (run_dir / "command.txt").read_text(encoding="utf-8").strip()
    return TrainingSummary(
        command=command,
        epochs_done=len(rows),
        epochs_planned=int(args.get("epochs", len(rows))),
        wall_s=float(wall.get("total_wall_s", 0.0)),
        sessions=len(wall.get("sessions", [])),
        final_val=final,
        args=args,
    )


def write_model_card(
    out_dir: Path,
    manifest_paths: Mapping[str, Path],
    metrics: Mapping[str, Mapping[str, MapResult]],
    run_dir: Path | None,
    dataset_root: Path,
    speed: SpeedResult | None,
    targets: Targets = Targets(),
    notes: Sequence[str] = (),
) -> Path:
    """Collect everything and write `MODEL_CARD.md` into `out_dir`."""
    manifests = {k: load_manifest(p) for k, p in manifest_paths.items()}
    dataset_manifest = dataset_root / "manifest.json"
    dataset = json.loads(dataset_manifest.read_text(encoding="utf-8")) if dataset_manifest.is_file() else {}
    training = training_summary(run_dir) if run_dir is not None else None
    scored = {k: v for k, v in metrics.items() if v}
    path = out_dir / CARD_FILE
    path.write_text(
        render_card(manifests, scored, training, dataset, speed, targets, notes), encoding="utf-8"
    )
    return path
