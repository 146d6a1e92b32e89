"""Vision path speed and accuracy: ultralytics vs our path on the same FP32 model vs our path as deployed.

    OMP_NUM_THREADS=2 .venv/bin/python bench/edge_vision.py --frames 200 --rounds 3
    .venv/bin/python bench/edge_vision.py --fp32 models/artifacts/detector/<fp32>.manifest.json \
        --deployed models/artifacts/detector/<int8>.manifest.json --batch 4 --cameras 4

(a) ultralytics `YOLO(<fp32 onnx>).predict(frame)` one frame at a time (its own letterbox, ONNX
    Runtime session and NMS); (b) our `Detector` (edge/vision) on the same FP32 file, one frame at a
    time, preprocess → inference → postprocess in sequence; (c) our path as deployed: the INT8
    artifact in the `DefectPipeline`, frames of `--cameras` cameras batched (`--batch`, 5 ms max
    wait) with decode/letterbox, inference and NMS overlapped on three worker threads. Frames are
    rendered by the twin's `CameraRig` (a degrading spindle, about a third of the parts defective)
    with exact boxes, so each path also gets a mAP50 (conf 0.001, as ultralytics' val). Prints frames
    per second, the ratio to (a), and mAP50. ONNX Runtime CPU unless --providers says otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from edge.frame_mailbox import FrameMailbox
from edge.inference.factory import open_backend
from edge.inference.options import BackendOptions, OrtOptions
from edge.model_slot import ModelSlot
from edge.pipelines.batching import BatchPolicy
from edge.pipelines.defects import CropSettings, DefectBatch, DefectConfig, DefectPipeline, load_detector
from edge.records import Frame
from edge.vision.detector import Detector, DetectorConfig
from models.detector.metrics import DetectionStats
from proto.artifacts import load_manifest

ROOT = Path(__file__).resolve().parents[1]
CONF = 0.001


@dataclass
class Stopwatch:
    """Wall and process CPU time of one timed stretch (CPU: all threads; neighbours do not count)."""

    wall0: float = field(default_factory=time.perf_counter)
    cpu0: float = field(default_factory=time.process_time)

    def rates(self, frames: int) -> tuple[float, float]:
        """Frames per wall second and per CPU second since the stopwatch started."""
        return frames / (time.perf_counter() - self.wall0), frames / (time.process_time() - self.cpu0)


def render(frames: int, size: int, seed: int = 11) -> list[Any]:
    """Frames of a degrading spindle with their exact defect boxes."""
    from simulators.camera import CameraRig

    rig = CameraRig("cam-bench", "line-1", "spindle-1", seed, width=size, height=size)
    return [rig.capture(1_700_000_000_000 + i * 2000, 0.3, "bearing_outer", "spindle") for i in range(frames)]


def truth(frame: Any) -> tuple[np.ndarray, np.ndarray]:
    boxes = np.array([[b.x1, b.y1, b.x2, b.y2] for b in frame.labels], np.float64).reshape(-1, 4)
    return boxes, np.array([b.class_id for b in frame.labels], np.int64)


def ultralytics_path(
    onnx: Path, frames: Sequence[Any], names: Sequence[str], imgsz: int
) -> tuple[tuple[float, float], float]:
    """(a): frames per wall and CPU second, and mAP50, of ultralytics' predictor on the ONNX file."""
    from ultralytics import YOLO

    model = YOLO(str(onnx), task="detect")
    model.predict(frames[0].image, imgsz=imgsz, conf=CONF, verbose=False)
    stats = DetectionStats(names)
    watch = Stopwatch()
    for frame in frames:
        (result,) = model.predict(frame.image, imgsz=imgsz, conf=CONF, verbose=False)
        boxes: Any = result.boxes  # type: ignore[union-attr]
        stats.add(boxes.xyxy.cpu().numpy(), boxes.conf.cpu().numpy(), boxes.cls.cpu().numpy(), *truth(frame))
    return watch.rates(len(frames)), stats.summary().map50


def our_path(
    manifest: Path, frames: Sequence[Any], options: BackendOptions
) -> tuple[tuple[float, float], float, dict[str, float]]:
    """(b): our Detector on one frame at a time; rates, mAP50 and the median ms of each step."""
    m = load_manifest(manifest)
    with open_backend(manifest, "onnxruntime", options) as backend:
        detector = Detector(backend, DetectorConfig.from_manifest(m, conf=CONF))
        detector([frames[0].image])
        stats = DetectionStats(m.class_names)
        steps: dict[str, list[float]] = {"preprocess": [], "inference": [], "postprocess": []}
        watch = Stopwatch()
        for frame in frames:
            result = detector([frame.image])
            d = result.detections[0]
            stats.add(d.boxes, d.scores, d.class_ids, *truth(frame))
            steps["preprocess"].append(result.timings.preprocess_ms)
            steps["inference"].append(result.timings.inference_ms)
            steps["postprocess"].append(result.timings.postprocess_ms)
        rates = watch.rates(len(frames))
    return rates, stats.summary().map50, {k: statistics.median(v) for k, v in steps.items()}


def deployed_path(
    manifest: Path, frames: Sequence[Any], options: BackendOptions, batch: int, cameras: int
) -> tuple[tuple[float, float], float]:
    """(c): the DefectPipeline with batching across cameras and overlapped stages; rates and mAP50."""
    m = load_manifest(manifest)
    model = load_detector(
        lambda: open_backend(manifest, "onnxruntime", options), m, warmup_batch=batch, conf=CONF
    )
    mailbox = FrameMailbox(per_camera=len(frames))  # no drops: every frame is measured
    events: list[Any] = []

    async def sink(result: DefectBatch) -> None:
        events.extend(result.events)

    config = DefectConfig("bench", "bench", BatchPolicy(batch, 0.005), crop=CropSettings(enabled=False))
    pipeline = DefectPipeline(ModelSlot(model), mailbox, config, sink)

    async def run() -> tuple[float, float]:
        task = asyncio.create_task(pipeline.run())
        watch = Stopwatch()
        for i, frame in enumerate(frames):  # JPEG in, as a camera over MQTT delivers it
            mailbox.put(Frame(f"cam-{i % cameras}", "line-1", frame.t_ms, i, jpeg=frame.jpeg(90)))
        while len(events) < len(frames):  # noqa: ASYNC110 (a bench: polling is the measurement's clock)
            await asyncio.sleep(0.002)
        rates = watch.rates(len(frames))
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return rates

    rates = asyncio.run(run())
    model.close()
    stats = DetectionStats(m.class_names)
    for event in events:
        boxes = np.array([[d.box.x1, d.box.y1, d.box.x2, d.box.y2] for d in event.detections]).reshape(-1, 4)
        stats.add(
            boxes,
            np.array([d.score for d in event.detections]),
            np.array([d.class_id for d in event.detections]),
            *truth(frames[event.seq]),
        )
    return rates, stats.summary().map50


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    found = sorted((ROOT / "models" / "artifacts" / "detector").glob("*.manifest.json"))
    static_fp32 = [p for p in found if p.name.endswith("fp32.manifest.json")]  # not the dynamic-batch one
    parser.add_argument("--fp32", type=Path, default=next(iter(static_fp32), None))
    parser.add_argument("--deployed", type=Path, default=next((p for p in found if "int8" in p.name), None))
    parser.add_argument("--frames", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (a, b, c, a, b, c, ...)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--cameras", type=int, default=4)
    parser.add_argument("--threads", type=int, default=int(os.environ.get("OMP_NUM_THREADS", "2")))
    parser.add_argument("--providers", nargs="+", default=["CPUExecutionProvider"])
    parser.add_argument(
        "--spin", action=argparse.BooleanOptionalAction, default=False, help="ORT busy-wait in (c)"
    )
    args = parser.parse_args()
    if args.fp32 is None:
        raise SystemExit("no detector artifact in models/artifacts/detector/; pass --fp32 (and --deployed)")
    deployed = args.deployed or args.fp32
    fp32 = load_manifest(args.fp32)
    size = fp32.normalization.letterbox_size[0]  # type: ignore[union-attr]
    options = BackendOptions(
        onnxruntime=OrtOptions(providers=tuple(args.providers), intra_op_threads=args.threads)
    )
    deployed_options = BackendOptions(onnxruntime=replace(options.onnxruntime, allow_spinning=args.spin))
    frames = render(args.frames, size)
    labels = sum(len(f.labels) for f in frames)
    print(
        f"{args.frames} frames {size}x{size}, {labels} defects; ORT {args.providers}, {args.threads} threads"
    )
    wall: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    cpu: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    steps: dict[str, float] = {}
    for _ in range(args.rounds):  # interleaved, so a busy neighbour slows every path alike
        rates_a, map_a = ultralytics_path(fp32.artifact_path(args.fp32), frames, fp32.class_names, size)
        rates_b, map_b, steps = our_path(args.fp32, frames, options)
        rates_c, map_c = deployed_path(deployed, frames, deployed_options, args.batch, args.cameras)
        for key, (w, c) in zip("abc", (rates_a, rates_b, rates_c), strict=True):
            wall[key].append(w)
            cpu[key].append(c)
    med = {k: statistics.median(v) for k, v in wall.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    label = f"(c) edge DefectPipeline, {load_manifest(deployed).precision}, batch {args.batch}, overlapped"
    rows = (
        ("a", "(a) ultralytics YOLO(fp32 onnx).predict, 1 frame", map_a),
        ("b", "(b) edge Detector, same fp32 onnx, 1 frame", map_b),
        ("c", label, map_c),
    )
    print(f"{'path':<58}{'fps':>7}{'min':>7}{'max':>7}{'vs (a)':>8}{'f/CPU-s':>9}{'vs (a)':>8}{'mAP50':>8}")
    for key, name, map50 in rows:
        lo, hi = min(wall[key]), max(wall[key])
        print(
            f"{name:<58}{med[key]:>7.1f}{lo:>7.1f}{hi:>7.1f}{med[key] / med['a']:>7.2f}x"
            f"{med_cpu[key]:>9.1f}{med_cpu[key] / med_cpu['a']:>7.2f}x{map50:>8.3f}"
        )
    print(
        f"median of {args.rounds} interleaved rounds of {args.frames} frames; f/CPU-s: frames per second "
        "of this process's CPU time (all its threads), which the neighbours' load does not change"
    )
    print("(b) median ms: " + ", ".join(f"{k} {v:.1f}" for k, v in steps.items()))


if __name__ == "__main__":
    main()
