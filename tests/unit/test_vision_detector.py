"""Detector: the three steps, timings, manifest config, and one run through ONNX Runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from edge.inference.base import ClosingContext, Inputs, Outputs, TensorSpec
from edge.inference.batching import normalize_inputs
from edge.inference.factory import open_backend
from edge.inference.options import BackendOptions, OrtOptions
from edge.vision.detector import Detector, DetectorConfig, Timings
from proto.artifacts import (
    AlarmThresholds,
    DetectionThresholds,
    ImageNormalization,
    ModelManifest,
    SeriesNormalization,
    TensorDecl,
    file_digest,
    save_manifest,
)

SIZE = 64
# Raw YOLOv8 output for 3 anchors, 2 classes: rows cx, cy, w, h, score(class 0), score(class 1).
# Anchor 1 overlaps anchor 0 in class 0 with a lower score and is suppressed.
RAW = np.array(
    [
        [32, 33, 10],
        [32, 32, 50],
        [20, 20, 8],
        [10, 10, 8],
        [0.9, 0.6, 0.1],
        [0.05, 0.1, 0.8],
    ],
    np.float32,
)


class CannedBackend(ClosingContext):
    """Returns RAW for every image of the batch and remembers the batch it got."""

    input_specs = (TensorSpec("images", (None, 3, SIZE, SIZE)),)
    output_specs = (TensorSpec("output0", (None, 6, 3)),)

    def __init__(self) -> None:
        self.seen: np.ndarray | None = None

    def run(self, inputs: Inputs) -> Outputs:
        batch = normalize_inputs(inputs, self.input_specs)["images"]
        self.seen = batch
        return {"output0": np.repeat(RAW[None], batch.shape[0], axis=0)}


def ticking_clock(values: list[float]) -> Iterator[float]:
    yield from values


CONFIG = DetectorConfig(class_names=("scratch", "dent"), input_size=(SIZE, SIZE), output_name="output0")


def test_steps_and_boxes_in_frame_pixels() -> None:
    backend = CannedBackend()
    detector = Detector(backend, CONFIG)
    wide = np.zeros((32, 64, 3), np.uint8)  # ratio 1, pad (0, 16)
    big = np.zeros((128, 128, 3), np.uint8)  # ratio 0.5, no pad
    result = detector([wide, big])
    assert backend.seen is not None
    assert backend.seen.shape == (2, 3, SIZE, SIZE)
    first, second = result.detections
    np.testing.assert_allclose(first.boxes, [[22, 11, 42, 21], [6, 30, 14, 32]])  # second box clipped
    np.testing.assert_allclose(first.scores, [0.9, 0.8])
    assert first.labels(CONFIG.class_names) == ["scratch", "dent"]
    np.testing.assert_allclose(second.boxes, [[44, 54, 84, 74], [12, 92, 28, 108]])


def test_each_step_is_timed() -> None:
    ticks = ticking_clock([10.0, 10.001, 10.004, 10.010])
    detector = Detector(CannedBackend(), CONFIG, clock=lambda: next(ticks))
    timings = detector([np.zeros((64, 64, 3), np.uint8)]).timings
    assert timings.preprocess_ms == pytest.approx(1.0)
    assert timings.inference_ms == pytest.approx(3.0)
    assert timings.postprocess_ms == pytest.approx(6.0)
    assert timings.total_ms == pytest.approx(10.0)
    assert Timings(1, 2, 3).total_ms == 6


def test_steps_can_run_separately() -> None:
    detector = Detector(CannedBackend(), CONFIG)
    frame = np.zeros((64, 64, 3), np.uint8)
    frame[...] = (0, 0, 255)  # pure red in BGR
    batch, transforms = detector.preprocess([frame])
    np.testing.assert_allclose(batch[0, :, 5, 5], [1, 0, 0])  # red first: the model wants RGB
    raw = detector.inference(batch)
    assert raw.shape == (1, 6, 3)
    (dets,) = detector.postprocess(raw, transforms)
    assert len(dets) == 2


def test_thresholds_come_from_the_config() -> None:
    strict = DetectorConfig(class_names=("scratch", "dent"), input_size=(SIZE, SIZE), conf=0.85)
    (dets,) = Detector(CannedBackend(), strict)([np.zeros((64, 64, 3), np.uint8)]).detections
    assert dets.class_ids.tolist() == [0]
    only_dents = DetectorConfig(class_names=("scratch", "dent"), input_size=(SIZE, SIZE), classes=(1,))
    (dets,) = Detector(CannedBackend(), only_dents)([np.zeros((64, 64, 3), np.uint8)]).detections
    assert dets.class_ids.tolist() == [1]


def detector_manifest(sha256: str = "0" * 64, size: int = 1) -> ModelManifest:
    return ModelManifest(
        name="defects",
        version="0.0.1",
        task="detect",
        file="defects.onnx",
        sha256=sha256,
        size_bytes=size,
        inputs=(TensorDecl(name="images", shape=("batch", 3, SIZE, SIZE), layout="NCHW"),),
        outputs=(TensorDecl(name="output0", shape=("batch", 6, 3)),),
        normalization=ImageNormalization(letterbox_size=(SIZE, SIZE), pad_value=0),
        class_names=("scratch", "dent"),
        thresholds=DetectionThresholds(conf=0.5, iou=0.6, max_det=10),
    )


def test_config_from_manifest() -> None:
    config = DetectorConfig.from_manifest(detector_manifest(), conf=0.3)
    assert config.class_names == ("scratch", "dent")
    assert config.input_size == (SIZE, SIZE)
    assert (config.conf, config.iou, config.max_det, config.pad_value) == (0.3, 0.6, 10, 0)
    assert config.output_name == "output0"
    assert config.mean is None
    assert config.std is None


def test_config_refuses_a_fault_manifest() -> None:
    fault = ModelManifest(
        name="lstm",
        version="1",
        task="fault",
        file="lstm.onnx",
        sha256="0" * 64,
        size_bytes=1,
        inputs=(TensorDecl(name="w", shape=(-1, 8, 1)),),
        outputs=(TensorDecl(name="p", shape=(-1, 1)),),
        normalization=SeriesNormalization(
            channel_names=("v",), mean=(0,), std=(1,), window_length=8, stride=1
        ),
        thresholds=AlarmThresholds(enter=0.5, exit=0.5),
    )
    with pytest.raises(ValueError, match="not a detector"):
        DetectorConfig.from_manifest(fault)


def test_end_to_end_through_onnxruntime(tmp_path: Path) -> None:
    """A stand-in ONNX 'detector' whose output is RAW whatever the image (0 * mean(image) + RAW)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceMean", ["images"], ["mean"], axes=[1, 2, 3], keepdims=1),
        helper.make_node("Reshape", ["mean", "shape"], ["mean3"]),
        helper.make_node("Mul", ["mean3", "zero"], ["zeros"]),
        helper.make_node("Add", ["zeros", "raw"], ["output0"]),
    ]
    graph = helper.make_graph(
        nodes,
        "fake_yolo",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, SIZE, SIZE])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 6, 3])],
        initializer=[
            numpy_helper.from_array(np.array([-1, 1, 1], np.int64), "shape"),
            numpy_helper.from_array(np.zeros((), np.float32), "zero"),
            numpy_helper.from_array(RAW[None], "raw"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    onnx_path = tmp_path / "defects.onnx"
    onnx.save(model, str(onnx_path))
    digest, size = file_digest(onnx_path)
    manifest_path = save_manifest(detector_manifest(digest, size), tmp_path / "defects.manifest.json")

    options = BackendOptions(onnxruntime=OrtOptions(providers=("CPUExecutionProvider",), intra_op_threads=1))
    with open_backend(manifest_path, "onnxruntime", options) as backend:
        detector = Detector(backend, DetectorConfig.from_manifest(detector_manifest()))
        result = detector([np.zeros((32, 64, 3), np.uint8), np.zeros((128, 128, 3), np.uint8)])
    first, second = result.detections
    np.testing.assert_allclose(first.boxes, [[22, 11, 42, 21], [6, 30, 14, 32]])
    np.testing.assert_allclose(second.boxes, [[44, 54, 84, 74], [12, 92, 28, 108]])
    assert result.timings.total_ms > 0
