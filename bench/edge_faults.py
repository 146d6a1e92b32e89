"""Fault path speed: 1,000 machines per tick as ONE batch vs one inference call per machine.

    OMP_NUM_THREADS=1 .venv/bin/python bench/edge_faults.py --machines 1000 --ticks 5

Both sides run the same artifact (models/artifacts/fault/*.manifest.json, ONNX Runtime CPU, the
given number of intra-op threads). (a) the edge's `FaultPipeline.tick()`: every machine has one new
window per tick (a new feature step), all windows are cut from the ring buffers, normalized, run as
one [1000, T, C] batch and turned into predictions with hysteresis — the full tick, timed per step;
(b) the same windows, one `backend.run([1, T, C])` per machine (inference only, so the comparison
favours (b)). Prints machine-windows per second and the ratio, in wall time and in this process's CPU
time (on a shared machine the CPU-time figures are the meaningful ones).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from edge.inference.factory import open_backend
from edge.inference.options import BackendOptions, OrtOptions
from edge.model_slot import ModelSlot
from edge.pipelines.faults import FaultPipeline, hysteresis_config, load_fault_model
from edge.records import SensorSamples
from proto.artifacts import load_manifest

ROOT = Path(__file__).resolve().parents[1]


def synthetic_samples(
    machine: str, channels: tuple[str, ...], start_ms: int, steps: int, step_ms: int, rng: np.random.Generator
) -> SensorSamples:
    """Five samples per feature step with plausible magnitudes."""
    per_step = 5
    n = steps * per_step
    t = start_ms + np.arange(n, dtype=np.int64) * (step_ms // per_step)
    base = rng.uniform(0.5, 2.0, size=len(channels)) * np.array(
        [50 if c.startswith("temp") else 1.0 for c in channels]
    )
    values = base * (1 + 0.05 * rng.standard_normal((n, len(channels))))
    return SensorSamples(machine, "line-0", channels, t, values, machine_kind="motor")


def run(manifest_path: Path, machines: int, ticks: int, threads: int) -> dict[str, float]:
    manifest = load_manifest(manifest_path)
    options = BackendOptions(
        onnxruntime=OrtOptions(providers=("CPUExecutionProvider",), intra_op_threads=threads)
    )
    model = load_fault_model(lambda: open_backend(manifest_path, "onnxruntime", options), manifest)
    runner = model.runner
    spec, recipe = runner.spec, runner.recipe
    step_ms = recipe.step_ms or 1000
    channels = recipe.value_channels or spec.channels
    pipeline = FaultPipeline(
        ModelSlot(model),
        hysteresis_config(manifest),
        group_id="bench",
        edge_node="bench",
        max_batch=machines * 2,
        pending_per_machine=1,
    )
    rng = np.random.default_rng(0)
    ids = [f"m{i:05d}" for i in range(machines)]
    t0 = 1_700_000_000_000 - 1_700_000_000_000 % step_ms
    history = spec.length + 1
    for machine in ids:  # fill every ring buffer with one window of history
        pipeline.ingest(synthetic_samples(machine, channels, t0, history, step_ms, rng))
    pipeline.tick()
    cursor = t0 + history * step_ms
    tick_ms: list[float] = []
    tick_cpu_ms: list[float] = []
    per_machine_cpu_ms: list[float] = []
    steps: dict[str, list[float]] = {"assemble": [], "inference": [], "postprocess": []}
    batches: list[np.ndarray] = []
    for _ in range(ticks):
        for machine in ids:  # one more feature step each: one new window per machine
            pipeline.ingest(synthetic_samples(machine, channels, cursor, 1, step_ms, rng))
        cursor += step_ms
        pending = pipeline.assembler.pending()
        batches.append(pipeline.assembler.assemble(pending))
        started, cpu = time.perf_counter(), time.process_time()
        result = pipeline.tick()
        tick_ms.append((time.perf_counter() - started) * 1e3)
        tick_cpu_ms.append((time.process_time() - cpu) * 1e3)
        assert result.batch_size == machines, result.batch_size
        steps["assemble"].append(result.timings.assemble_ms)
        steps["inference"].append(result.timings.inference_ms)
        steps["postprocess"].append(result.timings.postprocess_ms)
    per_machine_ms = []
    name = runner.input_name
    with open_backend(manifest_path, "onnxruntime", options) as backend:
        backend.run({name: batches[0][:1]})
        for batch in batches:
            started, cpu = time.perf_counter(), time.process_time()
            for i in range(batch.shape[0]):
                backend.run({name: batch[i : i + 1]})
            per_machine_ms.append((time.perf_counter() - started) * 1e3)
            per_machine_cpu_ms.append((time.process_time() - cpu) * 1e3)
    batched = statistics.median(tick_ms)
    single = statistics.median(per_machine_ms)
    model.close()
    return {
        "tick_ms": batched,
        "assemble_ms": statistics.median(steps["assemble"]),
        "inference_ms": statistics.median(steps["inference"]),
        "postprocess_ms": statistics.median(steps["postprocess"]),
        "per_machine_ms": single,
        "batched_windows_per_s": machines / batched * 1e3,
        "single_windows_per_s": machines / single * 1e3,
        "ratio": single / batched,
        "tick_cpu_ms": statistics.median(tick_cpu_ms),
        "per_machine_cpu_ms": statistics.median(per_machine_cpu_ms),
        "cpu_ratio": statistics.median(per_machine_cpu_ms) / statistics.median(tick_cpu_ms),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--manifest",
        type=Path,
        action="append",
        help="fault manifest(s); default: all in models/artifacts/fault",
    )
    parser.add_argument("--machines", type=int, default=1000)
    parser.add_argument("--ticks", type=int, default=5)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "1")))
    args = parser.parse_args()
    manifests = args.manifest or sorted((ROOT / "models" / "artifacts" / "fault").glob("*.manifest.json"))
    header = (
        "artifact",
        "tick ms",
        "assemble",
        "infer",
        "post",
        "1-by-1 ms",
        "batched w/s",
        "1-by-1 w/s",
        "ratio",
        "tick CPU ms",
        "1-by-1 CPU",
        "CPU ratio",
    )
    print(f"{header[0]:<34}" + "".join(f"{h:>12}" for h in header[1:]))
    for path in manifests:
        r = run(path, args.machines, args.ticks, args.threads)
        keys = ("tick_ms", "assemble_ms", "inference_ms", "postprocess_ms", "per_machine_ms")
        rates = (r["batched_windows_per_s"], r["single_windows_per_s"])
        cells = [f"{r[k]:>12.1f}" for k in keys] + [f"{v:>12.0f}" for v in rates] + [f"{r['ratio']:>11.1f}x"]
        cells += [
            f"{r['tick_cpu_ms']:>12.1f}",
            f"{r['per_machine_cpu_ms']:>12.1f}",
            f"{r['cpu_ratio']:>11.1f}x",
        ]
        print(f"{path.name:<34}" + "".join(cells))


if __name__ == "__main__":
    main()
