"""Benchmark: fault-predictor windows per second, one batched ONNX Runtime run vs a per-machine torch loop.

One edge tick for 1,000 machines: 1,000 windows ``[48, 12]`` through the shipped ONNX file in ONE
batch (the edge's ONNX Runtime backend, CPU provider), against calling the torch model once per
machine (batch 1) the way a naive agent would. Goal: batched ≥ 20× the per-machine loop.

OMP_NUM_THREADS=1 .venv/bin/python bench/fault_throughput.py --machines 1000
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
import onnx  # noqa: E402
import torch  # noqa: E402

from edge.inference.base import InferenceBackend  # noqa: E402
from edge.inference.factory import open_backend  # noqa: E402
from edge.inference.options import BackendOptions, OrtOptions  # noqa: E402
from models.fault.model import EdgeOutputs, FaultPredictor, ModelConfig, load_checkpoint  # noqa: E402
from proto.artifacts import load_manifest  # noqa: E402

GOAL_RATIO = 20.0
ARTIFACTS = Path("models/artifacts/fault")


def best_seconds(run: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Fastest wall and CPU seconds of ``repeats`` timed calls after one warm-up call."""
    run()
    wall = cpu = float("inf")
    for _ in range(repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        run()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - cpu_start)
    return wall, cpu


def torch_model(checkpoint: Path, onnx_path: Path, n_features: int, n_classes: int) -> FaultPredictor:
    """The trained torch model if its checkpoint is here, else the same architecture (timing only)."""
    if checkpoint.is_file():
        model, _ = load_checkpoint(checkpoint)
        return model
    lstm = next(n for n in onnx.load(str(onnx_path)).graph.node if n.op_type == "LSTM")
    hidden = next(a.i for a in lstm.attribute if a.name == "hidden_size")
    print(f"(no checkpoint at {checkpoint}: torch side uses the same architecture, hidden {hidden})")
    return FaultPredictor(ModelConfig(n_features=n_features, n_classes=n_classes, hidden=hidden)).eval()


def main() -> None:
    """Time both paths on the same random windows and print windows/s and the ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=1000, help="windows in one tick")
    parser.add_argument("--repeats", type=int, default=5, help="timed repeats (best is reported)")
    parser.add_argument("--threads", type=int, default=1, help="threads for ONNX Runtime and torch")
    parser.add_argument("--artifacts", type=Path, default=ARTIFACTS)
    parser.add_argument("--checkpoint", type=Path, default=Path("var/fault/run/fault_predictor.pt"))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    manifest_path = args.artifacts / "fault_lstm.manifest.json"
    manifest = load_manifest(manifest_path)
    _, length, channels = manifest.inputs[0].shape
    windows = (
        np.random.default_rng(0).normal(size=(args.machines, int(length), int(channels))).astype(np.float32)
    )
    options = BackendOptions(
        onnxruntime=OrtOptions(
            providers=("CPUExecutionProvider",), intra_op_threads=args.threads, inter_op_threads=1
        )
    )
    model = EdgeOutputs(
        torch_model(
            args.checkpoint, manifest.artifact_path(manifest_path), int(channels), len(manifest.class_names)
        )
    ).eval()
    results: dict[str, tuple[float, float]] = {}
    for name in ("fault_lstm", "fault_lstm_int8"):
        manifest_file = args.artifacts / f"{name}.manifest.json"
        with open_backend(manifest_file, kind="onnxruntime", options=options) as backend:

            def tick(backend: InferenceBackend = backend) -> object:
                return backend.run({"windows": windows})

            results[f"onnxruntime {name}, one batch"] = best_seconds(tick, args.repeats)
    with torch.no_grad():
        batched = torch.from_numpy(windows)
        singles = [batched[i : i + 1] for i in range(args.machines)]
        results["torch, one batch"] = best_seconds(lambda: model(batched), args.repeats)
        loop = best_seconds(lambda: [model(x) for x in singles], max(1, args.repeats // 2))
        results["torch per-machine loop (batch 1)"] = loop
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"{args.machines} windows of {length} x {channels}, {args.threads} thread(s), load average {load:.1f}"
    )
    print(f"{'':<40} {'wall windows/s':>15} {'per CPU-s':>12}")
    for name, (wall, cpu) in results.items():
        print(f"{name:<40} {args.machines / wall:>15,.0f} {args.machines / cpu:>12,.0f}")
    fp32 = results["onnxruntime fault_lstm, one batch"]
    print(
        f"ratio batched ONNX Runtime fp32 / per-machine torch loop: {loop[0] / fp32[0]:.1f}x wall, "
        f"{loop[1] / fp32[1]:.1f}x CPU (goal {GOAL_RATIO:.0f}x)"
    )


if __name__ == "__main__":
    main()
