"""The vision pipeline: frames → letterbox → batched inference across cameras → NMS → DetectionEvents.

Three stages run at once, each on its own worker thread, joined by queues of one batch:
preprocess (JPEG decode + letterbox), inference (through the model slot, so a model swap
happens between batches) and postprocess (NMS, boxes back to frame pixels, crops, events). A
batch closes when it holds `max_batch` frames or its oldest frame waited `max_wait_s`; frames
of all cameras share it. Under overload the stages fill up, frames pile up in the per-camera
mailbox, and the oldest are dropped and counted there: nothing queues without bound. Every
step is timed on its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from edge.errors import SourceError
from edge.frame_mailbox import FrameMailbox
from edge.inference.base import InferenceBackend, warmup
from edge.model_slot import LoadedModel, ModelSlot
from edge.pipelines.batching import BatchPolicy
from edge.records import Frame
from edge.vision.detections import Detections
from edge.vision.detector import Detector, DetectorConfig
from edge.vision.letterbox import LetterboxTransform
from proto.artifacts import ModelManifest
from proto.messages import Box, Detection, DetectionEvent, ModelRef

log = logging.getLogger(__name__)


def load_detector(
    open_backend: Callable[[], InferenceBackend],
    manifest: ModelManifest,
    warmup_runs: int = 2,
    warmup_batch: int = 1,
    **overrides: Any,
) -> LoadedModel[Detector]:
    """Open, configure from the manifest and warm up a detector (call off the hot path)."""
    backend = open_backend()
    try:
        config = DetectorConfig.from_manifest(
            manifest, **{k: v for k, v in overrides.items() if v is not None}
        )
        detector = Detector(backend, config)
        if warmup_runs:
            warmup(backend, runs=warmup_runs, batch=warmup_batch)
    except Exception:
        backend.close()
        raise
    return LoadedModel(detector, manifest, backend.close)


def preprocess_key(config: DetectorConfig) -> tuple[Any, ...]:
    """What a batch tensor depends on: if two models agree on it, one's batch fits the other."""
    return (
        config.input_size,
        config.pad_value,
        config.channel_order,
        config.frame_order,
        config.scale,
        config.mean,
        config.std,
    )


@dataclass(frozen=True, slots=True)
class CropSettings:
    """The optional JPEG crop around a frame's detections."""

    enabled: bool = True
    margin: float = 0.1
    max_side: int = 320
    quality: int = 80


@dataclass(frozen=True, slots=True)
class DefectConfig:
    """Identity, batching and event options of the vision pipeline."""

    group_id: str
    edge_node: str
    batch: BatchPolicy = field(default_factory=BatchPolicy)
    publish_empty: bool = False
    crop: CropSettings = field(default_factory=CropSettings)


@dataclass(frozen=True, slots=True)
class BatchTimings:
    """Milliseconds per step of one batch, and how long its oldest frame waited before it."""

    size: int
    decode_ms: float
    preprocess_ms: float
    inference_ms: float
    postprocess_ms: float
    queue_wait_ms: float


@dataclass(frozen=True, slots=True)
class DefectBatch:
    """What one batch produced: an event per frame (empty ones included) and the timings."""

    events: tuple[DetectionEvent, ...]
    timings: BatchTimings
    model_version: str


@dataclass(slots=True)
class DefectCounters:
    """Frames processed and defects found, per camera and per (line, class)."""

    frames: Counter[str] = field(default_factory=Counter)
    defects: Counter[str] = field(default_factory=Counter)
    by_class: Counter[tuple[str, str]] = field(default_factory=Counter)
    by_line: Counter[tuple[str, str]] = field(default_factory=Counter)
    lines: dict[str, str] = field(default_factory=dict)

    def count(self, event: DetectionEvent) -> None:
        """Account for one frame's event."""
        self.frames[event.camera_id] += 1
        self.lines[event.camera_id] = event.line_id
        for detection in event.detections:
            self.defects[event.camera_id] += 1
            self.by_class[(event.camera_id, detection.class_name)] += 1
            self.by_line[(event.line_id, detection.class_name)] += 1

    def camera_values(self, camera_id: str, dropped: int, class_names: Sequence[str]) -> dict[str, Any]:
        """The camera's Sparkplug metric values (see `metric_map.camera_specs`)."""
        values: dict[str, Any] = {
            "line": self.lines.get(camera_id, ""),
            "frames/processed": self.frames[camera_id],
            "frames/dropped": dropped,
            "defects/total": self.defects[camera_id],
        }
        for name in class_names:
            values[f"defects/{name}"] = self.by_class[(camera_id, name)]
        return values


@dataclass(frozen=True, slots=True, eq=False)
class _Prepared:
    frames: tuple[Frame, ...]
    images: tuple[npt.NDArray[np.uint8], ...]
    batch: npt.NDArray[np.float32]
    transforms: tuple[LetterboxTransform, ...]
    key: tuple[Any, ...]
    decode_ms: float
    preprocess_ms: float
    taken_s: float


@dataclass(frozen=True, slots=True, eq=False)
class _Inferred:
    prepared: _Prepared
    raw: npt.NDArray[np.float32]
    transforms: tuple[LetterboxTransform, ...]
    model: LoadedModel[Detector]
    inference_ms: float


Sink = Callable[[DefectBatch], Awaitable[None]]


class DefectPipeline:
    """Runs the three stages until cancelled; hands every batch's events to `sink`."""

    def __init__(
        self,
        slot: ModelSlot[Detector],
        mailbox: FrameMailbox,
        config: DefectConfig,
        sink: Sink,
        *,
        clock: Callable[[], float] = time.perf_counter,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.slot = slot
        self.mailbox = mailbox
        self.config = config
        self._sink = sink
        self._clock = clock
        self._monotonic = monotonic
        self.counters = DefectCounters()
        self.decode_errors = 0
        self.batches = 0
        self._workers = {
            name: ThreadPoolExecutor(1, thread_name_prefix=f"defects-{name}")
            for name in ("preprocess", "inference", "postprocess")
        }

    async def run(self) -> None:
        """Run until cancelled."""
        self.mailbox.bind(asyncio.get_running_loop())
        prepared: asyncio.Queue[_Prepared] = asyncio.Queue(maxsize=1)
        inferred: asyncio.Queue[_Inferred] = asyncio.Queue(maxsize=1)
        tasks = [
            asyncio.create_task(self._gather_and_preprocess(prepared), name="defects-preprocess"),
            asyncio.create_task(self._infer(prepared, inferred), name="defects-inference"),
            asyncio.create_task(self._postprocess(inferred), name="defects-postprocess"),
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()
            for task in tasks:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            for worker in self._workers.values():
                worker.shutdown(wait=True)

    # ------------------------------------------------------------------ stages

    async def _next_batch(self) -> list[Frame]:
        policy = self.config.batch
        while True:
            await self.mailbox.wait()
            oldest = self.mailbox.oldest_received()
            age = 0.0 if oldest is None else self._monotonic() - oldest
            wait = policy.wait_s(self.mailbox.depth(), age)
            if wait is None:
                continue
            if wait > 0:
                await asyncio.sleep(wait)
            frames = self.mailbox.take(policy.max_batch)
            if frames:
                return frames

    async def _gather_and_preprocess(self, out: asyncio.Queue[_Prepared]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            frames = await self._next_batch()
            detector = self.slot.current.runner
            prepared = await loop.run_in_executor(
                self._workers["preprocess"], self._prepare, frames, detector
            )
            if prepared is not None:
                await out.put(prepared)

    async def _infer(self, inp: asyncio.Queue[_Prepared], out: asyncio.Queue[_Inferred]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            prepared = await inp.get()
            inferred = await loop.run_in_executor(self._workers["inference"], self._run_inference, prepared)
            await out.put(inferred)

    async def _postprocess(self, inp: asyncio.Queue[_Inferred]) -> None:
        loop = asyncio.get_running_loop()
        while True:
            inferred = await inp.get()
            batch = await loop.run_in_executor(self._workers["postprocess"], self._finish, inferred)
            self.batches += 1
            await self._sink(batch)

    # ------------------------------------------------------------------ steps (worker threads)

    def _prepare(self, frames: Sequence[Frame], detector: Detector) -> _Prepared | None:
        taken = self._monotonic()
        t0 = self._clock()
        good, images = [], []
        for frame in frames:
            try:
                images.append(frame.decoded())
                good.append(frame)
            except SourceError as exc:
                self.decode_errors += 1
                log.warning("%s", exc)
        if not good:
            return None
        t1 = self._clock()
        batch, transforms = detector.preprocess(images)
        t2 = self._clock()
        return _Prepared(
            tuple(good),
            tuple(images),
            batch,
            transforms,
            preprocess_key(detector.config),
            (t1 - t0) * 1e3,
            (t2 - t1) * 1e3,
            taken,
        )

    def _run_inference(self, prepared: _Prepared) -> _Inferred:
        def on(model: LoadedModel[Detector]) -> _Inferred:
            detector = model.runner
            batch, transforms = prepared.batch, prepared.transforms
            if preprocess_key(detector.config) != prepared.key:  # a swapped-in model wants other input
                batch, transforms = detector.preprocess(list(prepared.images))
            t0 = self._clock()
            raw = detector.inference(batch)
            return _Inferred(prepared, raw, transforms, model, (self._clock() - t0) * 1e3)

        return self.slot.run(on)

    def _finish(self, inferred: _Inferred) -> DefectBatch:
        t0 = self._clock()
        detector = inferred.model.runner
        per_frame = detector.postprocess(inferred.raw, inferred.transforms)
        prepared = inferred.prepared
        size = len(prepared.frames)
        ref = ModelRef(name=inferred.model.name, version=inferred.model.version)
        events = []
        for frame, image, detections in zip(prepared.frames, prepared.images, per_frame, strict=True):
            events.append(self._event(frame, image, detections, detector.config.class_names, ref))
        t1 = self._clock()
        share = (prepared.decode_ms + prepared.preprocess_ms + inferred.inference_ms + (t1 - t0) * 1e3) / size
        for event in events:
            event.inference_ms = share
            self.counters.count(event)
        wait_ms = max(0.0, (prepared.taken_s - min(f.received_s for f in prepared.frames)) * 1e3)
        timings = BatchTimings(
            size, prepared.decode_ms, prepared.preprocess_ms, inferred.inference_ms, (t1 - t0) * 1e3, wait_ms
        )
        return DefectBatch(tuple(events), timings, inferred.model.version)

    def _event(
        self,
        frame: Frame,
        image: npt.NDArray[np.uint8],
        detections: Detections,
        class_names: Sequence[str],
        model: ModelRef,
    ) -> DetectionEvent:
        height, width = image.shape[:2]
        event = DetectionEvent(
            group_id=self.config.group_id,
            edge_node=self.config.edge_node,
            camera_id=frame.camera_id,
            line_id=frame.line_id,
            machine_id=frame.machine_id,
            timestamp_ms=frame.timestamp_ms,
            seq=frame.seq,
            part_id=frame.part_id,
            image_width=width,
            image_height=height,
            model=model,
        )
        labels = detections.labels(class_names)
        for box, score, class_id, label in zip(
            detections.boxes.tolist(),
            detections.scores.tolist(),
            detections.class_ids.tolist(),
            labels,
            strict=True,
        ):
            event.detections.append(
                Detection(
                    class_id=int(class_id),
                    class_name=label,
                    score=min(1.0, max(0.0, float(score))),
                    box=Box(x1=box[0], y1=box[1], x2=box[2], y2=box[3]),
                )
            )
        if len(detections) and self.config.crop.enabled:
            crop = crop_around(image, detections.boxes, self.config.crop)
            if crop is not None:
                event.crop_jpeg, (x1, y1, x2, y2) = crop
                event.crop_box.CopyFrom(Box(x1=x1, y1=y1, x2=x2, y2=y2))
        return event


def crop_around(
    image: npt.NDArray[np.uint8], boxes: npt.NDArray[np.float32], settings: CropSettings
) -> tuple[bytes, tuple[float, float, float, float]] | None:
    """A JPEG of the region around all boxes (with margin, downscaled to max_side) and that region."""
    height, width = image.shape[:2]
    x1, y1 = float(boxes[:, 0].min()), float(boxes[:, 1].min())
    x2, y2 = float(boxes[:, 2].max()), float(boxes[:, 3].max())
    mx, my = (x2 - x1) * settings.margin, (y2 - y1) * settings.margin
    left, top = max(0, int(np.floor(x1 - mx))), max(0, int(np.floor(y1 - my)))
    right, bottom = min(width, int(np.ceil(x2 + mx))), min(height, int(np.ceil(y2 + my)))
    if right <= left or bottom <= top:
        return None
    region: npt.NDArray[Any] = image[top:bottom, left:right]
    scale = settings.max_side / max(region.shape[:2])
    if scale < 1:
        size = (max(1, round(region.shape[1] * scale)), max(1, round(region.shape[0] * scale)))
        region = cv2.resize(region, size, interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", region, [cv2.IMWRITE_JPEG_QUALITY, settings.quality])
    if not ok:
        return None
    return encoded.tobytes(), (float(left), float(top), float(right), float(bottom))
