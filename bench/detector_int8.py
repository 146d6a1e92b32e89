"""Benchmark: the detector's FP32 and INT8 ONNX files side by side on this CPU (ONNX Runtime, edge path).

All models get the same preprocessed images and the same thread count. Timing is inference only
(batch 1, the static models' shape), in interleaved rounds (FP32, INT8, FP32, INT8, ...) so that
load from other processes on a shared machine hits every model alike; images/s is the median over
rounds and each speed-up is the median of its per-round ratios to FP32. mAP50 of each comes from
the edge path (`models.detector.evaluation.evaluate_edge_path`, validator settings) on one split.

Compare the shipped pair:

    .venv/bin/python bench/detector_int8.py \\
        --fp32 models/artifacts/detector/defect-detector-fp32.manifest.json \\
        --int8 models/artifacts/detector/defect-detector-int8.manifest.json \\
        --data var/datasets/defects-320/data.yaml --split heldout --threads 2

or quantize the FP32 file with several recipes (`models.detector.quantization.RECIPES`) and compare
them all: `--recipes head-post-float,decode-float,head-post-float-percentile`.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
from pathlib import Path

from models.detector.dataset import load_dataset
from models.detector.evaluation import evaluate_edge_path
from models.detector.manifests import write_manifest
from models.detector.quantization import RECIPES, calibration_subset, quantize_int8
from models.detector.speed import interleaved, load_batches
from proto.artifacts import ImageNormalization, load_manifest, manifest_path_for


def _size(manifest: Path) -> tuple[int, int]:
    norm = load_manifest(manifest).normalization
    if not isinstance(norm, ImageNormalization):
        raise SystemExit(f"{manifest} is not an image model")
    return norm.letterbox_size


def _quantized(fp32: Path, recipes: list[str], calib: list[Path], size: int, folder: Path) -> dict[str, Path]:
    """Quantize the FP32 model once per recipe into `folder`; manifests beside the files."""
    parent = load_manifest(fp32)
    out = {}
    for name in recipes:
        path = folder / f"int8-{name}.onnx"
        quantize_int8(parent.artifact_path(fp32), path, calib, size, RECIPES[name])
        write_manifest(
            path, precision="int8", class_names=parent.class_names, imgsz=size, version="bench", parent=parent
        )
        out[f"int8:{name}"] = manifest_path_for(path)
    return out


def main() -> None:
    """Time every model in interleaved rounds, measure mAP50 of each, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fp32", type=Path, required=True, help="FP32 manifest")
    parser.add_argument("--int8", type=Path, action="append", default=[], help="INT8 manifest (repeatable)")
    parser.add_argument("--recipes", default="", help="comma-separated INT8 recipes to quantize and compare")
    parser.add_argument("--calib-split", default="train", help="calibration images for --recipes")
    parser.add_argument("--calib-images", type=int, default=200)
    parser.add_argument("--data", type=Path, required=True, help="data.yaml of the dataset")
    parser.add_argument("--split", default="heldout", help="split for mAP50 and timing images")
    parser.add_argument("--n", type=int, default=100, help="images per timing round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per model")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (all models)")
    parser.add_argument("--map-limit", type=int, default=None, help="at most this many images for mAP50")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    recipes = [r.strip() for r in args.recipes.split(",") if r.strip()]
    unknown = sorted(set(recipes) - set(RECIPES))
    if unknown:
        parser.error(f"unknown recipes {unknown}; choose from {sorted(RECIPES)}")
    if not args.int8 and not recipes:
        parser.error("give --int8 and/or --recipes")

    dataset = load_dataset(args.data)
    size = _size(args.fp32)
    models = {"fp32": args.fp32} | {f"int8:{p.stem.split('.')[0]}": p for p in args.int8}
    with tempfile.TemporaryDirectory(prefix="bench-int8-") as tmp:
        if recipes:
            calib = calibration_subset(dataset.images(args.calib_split), args.calib_images)
            models |= _quantized(args.fp32, recipes, calib, size[0], Path(tmp))
        for key, manifest in models.items():
            if _size(manifest) != size:
                parser.error(f"{key} takes {_size(manifest)}, FP32 takes {size}")
        files = dataset.images(args.split, limit=args.n)
        speed = interleaved(models, load_batches(files, size), threads=args.threads, rounds=args.rounds)
        images = dataset.images(args.split, limit=args.map_limit)
        maps = {k: evaluate_edge_path(m, images, threads=args.threads) for k, m in models.items()}

    rates = speed.rates
    speedups = {k: speed.speedup(k) for k in models}
    shape = f"{size[1]}x{size[0]}"
    print(f"timing: {len(files)} images x {args.rounds} rounds at {shape}, batch 1, {args.threads} threads")
    print(f"mAP: {args.split}, {len(images)} images, edge path (conf 0.001, IoU 0.7, multi-label NMS)")
    width = max(len(k) for k in models) + 2
    print(
        f"{'model':<{width}}{'images/s':>9}{'min':>7}{'max':>7}{'speed-up':>9}{'mAP50':>8}{'ΔmAP50':>8}{'mAP50-95':>9}"
    )
    base = maps["fp32"].map50
    for key in models:
        r = rates[key]
        print(
            f"{key:<{width}}{statistics.median(r):>9.1f}{min(r):>7.1f}{max(r):>7.1f}{speedups[key]:>8.2f}x"
            f"{100 * maps[key].map50:>8.2f}{100 * (maps[key].map50 - base):>+8.2f}"
            f"{100 * maps[key].map50_95:>9.2f}"
        )
    if args.json:
        result = {
            "rates": rates,
            "speedup": speedups,
            "map50": {k: v.map50 for k, v in maps.items()},
            "map50_95": {k: v.map50_95 for k, v in maps.items()},
            "split": args.split,
            "threads": args.threads,
            "images_timed": len(files),
            "images_scored": len(images),
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
