"""Vision pipeline: batching across cameras, boxes in frame pixels, crops, overload drops, swap under load."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_edge_fakes import CPU, build_grid_detector, synthetic_frame

from edge.frame_mailbox import FrameMailbox
from edge.inference.base import ClosingContext, InferenceBackend, Inputs, Outputs, TensorSpec
from edge.inference.factory import open_backend
from edge.model_slot import LoadedModel, ModelSlot
from edge.pipelines.batching import BatchPolicy
from edge.pipelines.defects import CropSettings, DefectBatch, DefectConfig, DefectPipeline, load_detector
from edge.records import Frame
from edge.vision.detector import Detector
from proto import codec
from proto.artifacts import load_manifest
from proto.messages import DetectionEvent


def frame(camera: str, seq: int, boxes: list[tuple[int, int, int, int]], jpeg: bool = False) -> Frame:
    image = synthetic_frame(96, 128, boxes)
    if jpeg:
        ok, data = cv2.imencode(".jpg", image)
        assert ok
        return Frame(
            camera, "line-1", 1000 + seq, seq, jpeg=data.tobytes(), machine_id="m1", part_id=f"p{seq}"
        )
    return Frame(camera, "line-1", 1000 + seq, seq, image=image, machine_id="m1", part_id=f"p{seq}")


def grid_model(folder: Path, version: str = "1.0.0") -> LoadedModel[Detector]:
    path = build_grid_detector(folder, size=128, cell=16, version=version)
    return load_detector(lambda: open_backend(path, "onnxruntime", CPU), load_manifest(path))


class Collector:
    def __init__(self) -> None:
        self.batches: list[DefectBatch] = []

    async def __call__(self, batch: DefectBatch) -> None:
        self.batches.append(batch)

    @property
    def events(self) -> list[DetectionEvent]:
        return [e for b in self.batches for e in b.events]


async def run_until(pipeline: DefectPipeline, done: Callable[[], bool], within_s: float = 20.0) -> None:
    task = asyncio.create_task(pipeline.run())
    deadline = time.monotonic() + within_s
    try:
        while not done():
            assert time.monotonic() < deadline, "pipeline did not finish in time"
            assert not task.done(), task.exception() if task.done() else ""
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


async def test_events_with_boxes_in_frame_pixels_and_crops(tmp_path: Path) -> None:
    slot = ModelSlot(grid_model(tmp_path))
    mailbox, sink = FrameMailbox(per_camera=4), Collector()
    config = DefectConfig("plant", "edge-1", BatchPolicy(max_batch=4, max_wait_s=0.01), crop=CropSettings())
    pipeline = DefectPipeline(slot, mailbox, config, sink)
    # the 128x96 frame is letterboxed into 128x128 with 16 px bars: a 16-px cell of the model is
    # 16 frame pixels, so a square on the frame's grid (offset by the bar) fills exactly one cell
    mailbox.put(frame("cam-a", 1, [(32, 0, 48, 16)]))
    mailbox.put(frame("cam-b", 1, [(64, 48, 80, 64)], jpeg=True))
    mailbox.put(frame("cam-a", 2, []))
    await run_until(pipeline, lambda: len(sink.events) == 3)
    events = {(e.camera_id, e.seq): e for e in sink.events}
    a1, b1, a2 = events[("cam-a", 1)], events[("cam-b", 1)], events[("cam-a", 2)]
    assert [d.class_name for d in a1.detections] == ["bright"]
    box = a1.detections[0].box
    assert iou((box.x1, box.y1, box.x2, box.y2), (32, 0, 48, 16)) > 0.5
    assert (
        iou(tuple(getattr(b1.detections[0].box, k) for k in ("x1", "y1", "x2", "y2")), (64, 48, 80, 64)) > 0.5
    )
    assert len(a2.detections) == 0
    assert not a2.crop_jpeg
    assert a1.crop_jpeg.startswith(b"\xff\xd8")
    assert a1.crop_box.x2 > a1.crop_box.x1
    for event in (a1, b1, a2):
        assert codec.is_valid(event)
        assert (event.image_width, event.image_height) == (128, 96)
        assert event.model.version == "1.0.0"
        assert event.inference_ms > 0
    assert pipeline.counters.frames["cam-a"] == 2
    assert pipeline.counters.by_line[("line-1", "bright")] == 2


async def test_frames_of_all_cameras_share_batches(tmp_path: Path) -> None:
    slot = ModelSlot(grid_model(tmp_path))
    mailbox, sink = FrameMailbox(per_camera=8), Collector()
    pipeline = DefectPipeline(slot, mailbox, DefectConfig("plant", "e", BatchPolicy(4, 0.5)), sink)
    for seq in range(4):
        for camera in ("a", "b", "c"):
            mailbox.put(frame(camera, seq, []))
    await run_until(pipeline, lambda: len(sink.events) == 12)
    sizes = [b.timings.size for b in sink.batches]
    assert sizes == [4, 4, 4]
    assert {e.camera_id for e in sink.batches[0].events} == {"a", "b", "c"}
    timings = sink.batches[0].timings
    assert min(timings.preprocess_ms, timings.inference_ms, timings.postprocess_ms) > 0


class SlowBackend(ClosingContext):
    """Delegates to a real backend after sleeping, to make the pipeline the bottleneck."""

    def __init__(self, inner: InferenceBackend, delay_s: float) -> None:
        self.inner, self.delay_s = inner, delay_s

    @property
    def input_specs(self) -> tuple[TensorSpec, ...]:
        return self.inner.input_specs

    @property
    def output_specs(self) -> tuple[TensorSpec, ...]:
        return self.inner.output_specs

    def run(self, inputs: Inputs) -> Outputs:
        time.sleep(self.delay_s)
        return self.inner.run(inputs)


async def test_overload_drops_oldest_frames_and_counts_every_one(tmp_path: Path) -> None:
    model = grid_model(tmp_path)
    slow = Detector(SlowBackend(model.runner.backend, 0.05), model.runner.config)
    slot = ModelSlot(LoadedModel(slow, model.manifest, model.close))
    mailbox, sink = FrameMailbox(per_camera=2), Collector()
    pipeline = DefectPipeline(slot, mailbox, DefectConfig("plant", "e", BatchPolicy(2, 0.001)), sink)
    produced = 150
    depth_seen: list[int] = []

    def produce() -> None:
        for seq in range(produced):
            mailbox.put(frame("a" if seq % 2 else "b", seq, []))
            depth_seen.append(max(mailbox.depths().values()))
            time.sleep(0.001)

    task = asyncio.create_task(pipeline.run())
    await asyncio.to_thread(produce)
    deadline = time.monotonic() + 20
    while len(sink.events) + sum(mailbox.dropped.values()) < produced:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    dropped = sum(mailbox.dropped.values())
    assert dropped > 50  # the model is far slower than the cameras
    assert len(sink.events) + dropped == produced  # every frame is processed or counted as dropped
    assert max(depth_seen) <= 2  # queues stay bounded
    for camera in ("a", "b"):
        seqs = [e.seq for e in sink.events if e.camera_id == camera]
        assert seqs == sorted(seqs)  # the newest frames win, in order


async def test_model_swap_under_load_drops_no_frame(tmp_path: Path) -> None:
    slot = ModelSlot(grid_model(tmp_path / "v1"), probation_batches=3)
    mailbox, sink = FrameMailbox(per_camera=1000), Collector()  # no overload drops: only the swap matters
    pipeline = DefectPipeline(slot, mailbox, DefectConfig("plant", "e", BatchPolicy(4, 0.002)), sink)
    v2 = grid_model(tmp_path / "v2", version="2.0.0")

    class Failing(ClosingContext):
        input_specs = v2.runner.backend.input_specs
        output_specs = v2.runner.backend.output_specs

        def run(self, inputs: Inputs) -> Outputs:
            raise RuntimeError("bad engine")

    broken = LoadedModel(
        Detector(Failing(), v2.runner.config), v2.manifest.model_copy(update={"version": "3"})
    )
    produced = 120
    stop = threading.Event()

    def produce() -> None:
        for seq in range(produced):
            mailbox.put(frame("a", seq, [(32, 0, 48, 16)] if seq % 3 == 0 else []))
            time.sleep(0.002)
        stop.set()

    task = asyncio.create_task(pipeline.run())
    producer = asyncio.create_task(asyncio.to_thread(produce))
    await asyncio.sleep(0.05)
    slot.stage(v2)
    await asyncio.sleep(0.05)
    slot.stage(broken)
    await producer
    deadline = time.monotonic() + 20
    while len(sink.events) < produced:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sorted(e.seq for e in sink.events) == list(range(produced))
    versions = {e.model.version for e in sink.events}
    assert {"1.0.0", "2.0.0"} <= versions
    assert "3" not in versions
    assert slot.current.version in ("1.0.0", "2.0.0")


def test_batch_policy_table() -> None:
    policy = BatchPolicy(max_batch=4, max_wait_s=0.02)
    assert policy.wait_s(0, 0.0) is None
    assert policy.wait_s(4, 0.0) == 0.0
    assert policy.wait_s(1, 0.03) == 0.0
    assert policy.wait_s(2, 0.005) == pytest.approx(0.015)


def test_mailbox_round_robin_and_drop_oldest() -> None:
    box = FrameMailbox(per_camera=2)
    for seq in range(3):
        box.put(frame("a", seq, []))
    box.put(frame("b", 0, []))
    assert box.dropped == {"a": 1}
    assert [(f.camera_id, f.seq) for f in box.take(3)] == [("a", 1), ("b", 0), ("a", 2)]
    assert box.depth() == 0
    assert np.asarray(box.take(5)).size == 0
