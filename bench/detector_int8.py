"""Benchmark: the detector's FP32 and INT8 ONNX files side by side on this CPU (ONNX Runtime, edge path).

Both models get the same preprocessed images and the same thread count. Timing is inference only
(batch 1, the static models' shape), in interleaved rounds (FP32, INT8, FP32, INT8, ...) so that
load from other processes on a shared machine hits both alike; images/s is the median over rounds
and the speed-up is the median of the per-round ratios. mAP50 of each comes from the edge path
(`models.detector.evaluation.evaluate_edge_path`, validator settings) on one split.

    .venv/bin/python bench/detector_int8.py \\
        --fp32 models/artifacts/detector/defect-detector-fp32.manifest.json \\
        --int8 models/artifacts/detector/defect-detector-int8.manifest.json \\
        --data var/datasets/defects-320/data.yaml --split heldout --threads 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import cv2
import numpy as np

from edge.vision.letterbox import preprocess_batch
from models.detector.dataset import load_dataset
from models.detector.evaluation import cpu_backend, evaluate_edge_path
from proto.artifacts import ImageNormalization, load_manifest


def _rate(manifest: Path, batches: list[np.ndarray], threads: int, warmup: int = 5) -> float:
    """Images per second of one pass over `batches` (after `warmup` runs)."""
    with cpu_backend(manifest, threads) as backend:
        name = backend.input_specs[0].name
        for batch in batches[:warmup]:
            backend.run({name: batch})
        start = time.perf_counter()
        for batch in batches:
            backend.run({name: batch})
        return len(batches) / (time.perf_counter() - start)


def _size(norm: object) -> tuple[int, int]:
    if not isinstance(norm, ImageNormalization):
        raise TypeError("not an image model")
    return norm.letterbox_size


def main() -> None:
    """Time both models in interleaved rounds, measure mAP50 of each, print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fp32", type=Path, required=True, help="FP32 manifest")
    parser.add_argument("--int8", type=Path, required=True, help="INT8 manifest")
    parser.add_argument("--data", type=Path, required=True, help="data.yaml of the dataset")
    parser.add_argument("--split", default="heldout", help="split for mAP50 and timing images")
    parser.add_argument("--n", type=int, default=100, help="images per timing round")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds per model")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime intra-op threads (both models)")
    parser.add_argument("--map-limit", type=int, default=None, help="at most this many images for mAP50")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()

    dataset = load_dataset(args.data)
    sizes = [load_manifest(m).normalization for m in (args.fp32, args.int8)]
    if not all(isinstance(n, ImageNormalization) for n in sizes):
        parser.error("both manifests must describe image models")
    size = _size(sizes[0])
    if _size(sizes[1]) != size:
        parser.error("the two models take different input sizes")
    files = dataset.images(args.split, limit=args.n)
    batches = [preprocess_batch([np.asarray(cv2.imread(str(p)), np.uint8)], size)[0] for p in files]

    rates: dict[str, list[float]] = {"fp32": [], "int8": []}
    for _ in range(args.rounds):
        rates["fp32"].append(_rate(args.fp32, batches, args.threads))
        rates["int8"].append(_rate(args.int8, batches, args.threads))
    ratios = [i / f for f, i in zip(rates["fp32"], rates["int8"], strict=True)]

    images = dataset.images(args.split, limit=args.map_limit)
    maps = {
        k: evaluate_edge_path(m, images, threads=args.threads)
        for k, m in (("fp32", args.fp32), ("int8", args.int8))
    }

    print(
        f"images: {len(files)} x {args.rounds} rounds at {size[1]}x{size[0]}, batch 1, threads {args.threads}"
    )
    header = f"{'model':<6}{'images/s':>10}{'min':>8}{'max':>8}{'mAP50':>9}{'mAP50-95':>10}"
    print(f"{header}  ({args.split}, {len(images)} images)")
    for key in ("fp32", "int8"):
        r = rates[key]
        print(
            f"{key:<6}{statistics.median(r):>10.1f}{min(r):>8.1f}{max(r):>8.1f}"
            f"{100 * maps[key].map50:>9.2f}{100 * maps[key].map50_95:>10.2f}"
        )
    speedup = statistics.median(ratios)
    drop = 100 * (maps["fp32"].map50 - maps["int8"].map50)
    print(
        f"INT8 speed-up: {speedup:.2f}x (median of per-round ratios {', '.join(f'{x:.2f}' for x in ratios)})"
    )
    print(f"INT8 mAP50 change: {-drop:+.2f} points")
    if args.json:
        result = {
            "rates": rates,
            "speedup": speedup,
            "map50": {k: v.map50 for k, v in maps.items()},
            "map50_95": {k: v.map50_95 for k, v in maps.items()},
            "split": args.split,
            "threads": args.threads,
        }
        args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
