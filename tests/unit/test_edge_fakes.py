"""Tiny ONNX stand-ins for the trained models (built with onnx.helper) and synthetic frames.

Until models/artifacts/ holds the real detector and fault predictor, the edge tests use these:
* a fault model [B, T, C] -> fault_probability [B, 1], class_logits [B, 3], rul [B, 1], driven by
  the mean of channel 0 over the window (so a test controls it through the samples);
* a grid "detector" with the YOLOv8 output layout [B, 4 + 1, N]: one anchor per 16x16 cell, its
  score the cell's mean brightness, its box the cell — bright squares on a dark frame are defects.
Other edge tests import the builders from here; the tests below check the fakes themselves.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edge.inference.factory import open_backend
from edge.inference.options import BackendOptions, OrtOptions
from proto.artifacts import (
    AlarmThresholds,
    DetectionThresholds,
    ImageNormalization,
    ModelManifest,
    SeriesNormalization,
    TensorDecl,
    file_digest,
    manifest_path_for,
    save_manifest,
)

FAULT_CHANNELS = ("temperature_c", "vib_rms_g")
FAULT_CLASSES = ("normal", "bearing_outer", "imbalance")
CPU = BackendOptions(onnxruntime=OrtOptions(providers=("CPUExecutionProvider",), intra_op_threads=1))


def _save(model: onnx.ModelProto, path: Path) -> None:
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))


def build_fault_model(
    folder: Path,
    *,
    window: int = 8,
    stride: int = 4,
    version: str = "1.0.0",
    gain: float = 10.0,
    center: float = 0.5,
    name: str = "fault",
    channels: tuple[str, ...] = FAULT_CHANNELS,
    metrics: dict[str, float] | None = None,
) -> Path:
    """fault_probability = sigmoid(gain * (mean of channel 0 - center)); returns the manifest path."""
    c = len(channels)
    x = helper.make_tensor_value_info("windows", TensorProto.FLOAT, ["batch", window, c])
    outputs = [
        helper.make_tensor_value_info("fault_probability", TensorProto.FLOAT, ["batch", 1]),
        helper.make_tensor_value_info("class_logits", TensorProto.FLOAT, ["batch", len(FAULT_CLASSES)]),
        helper.make_tensor_value_info("rul", TensorProto.FLOAT, ["batch", 1]),
    ]
    inits = [
        numpy_helper.from_array(np.array(0, np.int64), "channel0"),
        numpy_helper.from_array(np.array([gain], np.float32), "gain"),
        numpy_helper.from_array(np.array([-gain * center], np.float32), "bias"),
        numpy_helper.from_array(np.array([[-1.0, 1.0, 0.2]], np.float32), "class_w"),
        numpy_helper.from_array(np.array([0.0, -0.0, -1.0], np.float32), "class_b"),
        numpy_helper.from_array(np.array([-3600.0], np.float32), "rul_w"),
        numpy_helper.from_array(np.array([3600.0], np.float32), "rul_b"),
    ]
    nodes = [
        helper.make_node("Gather", ["windows", "channel0"], ["ch0"], axis=2),
        helper.make_node("ReduceMean", ["ch0"], ["level"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["level", "gain"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], ["z"]),
        helper.make_node("Sigmoid", ["z"], ["fault_probability"]),
        helper.make_node("MatMul", ["z", "class_w"], ["zw"]),
        helper.make_node("Add", ["zw", "class_b"], ["class_logits"]),
        helper.make_node("Mul", ["fault_probability", "rul_w"], ["rul_scaled"]),
        helper.make_node("Add", ["rul_scaled", "rul_b"], ["rul_raw"]),
        helper.make_node("Relu", ["rul_raw"], ["rul"]),
    ]
    graph = helper.make_graph(nodes, "fake_fault", [x], outputs, inits)
    onnx_path = folder / f"{name}-{version}.onnx"
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), onnx_path)
    digest, size = file_digest(onnx_path)
    manifest = ModelManifest(
        name=name,
        version=version,
        task="fault",
        file=onnx_path.name,
        sha256=digest,
        size_bytes=size,
        inputs=(TensorDecl(name="windows", shape=("batch", window, c), layout="NTC"),),
        outputs=(
            TensorDecl(name="fault_probability", shape=("batch", 1)),
            TensorDecl(name="class_logits", shape=("batch", len(FAULT_CLASSES))),
            TensorDecl(name="rul", shape=("batch", 1)),
        ),
        normalization=SeriesNormalization(
            channel_names=channels, mean=(0.0,) * c, std=(1.0,) * c, window_length=window, stride=stride
        ),
        metrics=metrics or {},
        class_names=FAULT_CLASSES,
        thresholds=AlarmThresholds(enter=0.8, exit=0.5),
        training_data="none: a test stand-in",
    )
    return save_manifest(manifest, manifest_path_for(onnx_path))


def build_grid_detector(
    folder: Path, *, size: int = 128, cell: int = 16, version: str = "1.0.0", name: str = "defects"
) -> Path:
    """A detector whose anchors are grid cells scored by brightness; returns the manifest path."""
    grid = size // cell
    n = grid * grid
    ys, xs = np.meshgrid(np.arange(grid), np.arange(grid), indexing="ij")
    centers = np.stack(
        [
            (xs.ravel() + 0.5) * cell,
            (ys.ravel() + 0.5) * cell,
            np.full(n, cell, np.float64),
            np.full(n, cell, np.float64),
        ]
    )[None].astype(np.float32)
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])
    y = helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", 5, n])
    inits = [
        numpy_helper.from_array(centers, "centers"),
        numpy_helper.from_array(np.array([0, 1, -1], np.int64), "flat"),
        numpy_helper.from_array(np.array([0.0], np.float32), "zero"),
    ]
    nodes = [
        helper.make_node("ReduceMean", ["images"], ["gray"], axes=[1], keepdims=1),
        helper.make_node("AveragePool", ["gray"], ["cells"], kernel_shape=[cell, cell], strides=[cell, cell]),
        helper.make_node("Reshape", ["cells", "flat"], ["scores"]),
        helper.make_node("Mul", ["scores", "zero"], ["nothing"]),
        helper.make_node("Add", ["nothing", "centers"], ["boxes"]),
        helper.make_node("Concat", ["boxes", "scores"], ["output0"], axis=1),
    ]
    graph = helper.make_graph(nodes, "grid_detector", [x], [y], inits)
    onnx_path = folder / f"{name}-{version}.onnx"
    _save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), onnx_path)
    digest, nbytes = file_digest(onnx_path)
    manifest = ModelManifest(
        name=name,
        version=version,
        task="detect",
        file=onnx_path.name,
        sha256=digest,
        size_bytes=nbytes,
        inputs=(TensorDecl(name="images", shape=("batch", 3, size, size), layout="NCHW"),),
        outputs=(TensorDecl(name="output0", shape=("batch", 5, n)),),
        normalization=ImageNormalization(letterbox_size=(size, size)),
        class_names=("bright",),
        thresholds=DetectionThresholds(conf=0.6, iou=0.45, max_det=50),
        training_data="none: a test stand-in",
    )
    return save_manifest(manifest, manifest_path_for(onnx_path))


def synthetic_frame(
    height: int, width: int, boxes: list[tuple[int, int, int, int]], value: int = 255
) -> np.ndarray:
    """A dark BGR frame with bright filled rectangles (x1, y1, x2, y2) as the defects."""
    frame = np.full((height, width, 3), 10, np.uint8)
    for x1, y1, x2, y2 in boxes:
        cv2.rectangle(frame, (x1, y1), (x2 - 1, y2 - 1), (value, value, value), thickness=-1)
    return frame


def test_fault_model_tracks_channel_zero(tmp_path: Path) -> None:
    manifest = build_fault_model(tmp_path, window=4)
    with open_backend(manifest, "onnxruntime", CPU) as backend:
        x = np.zeros((2, 4, 2), np.float32)
        x[1, :, 0] = 1.0
        out = backend.run({"windows": x})
    p = out["fault_probability"].ravel()
    assert p[0] < 0.01
    assert p[1] > 0.99
    assert out["class_logits"].shape == (2, 3)
    assert out["rul"].ravel()[1] < out["rul"].ravel()[0]


def test_grid_detector_scores_bright_cells(tmp_path: Path) -> None:
    manifest = build_grid_detector(tmp_path, size=64)
    frame = synthetic_frame(64, 64, [(16, 32, 32, 48)]).astype(np.float32) / 255
    with open_backend(manifest, "onnxruntime", CPU) as backend:
        raw = backend.run({"images": frame.transpose(2, 0, 1)[None]})["output0"]
    assert raw.shape == (1, 5, 16)
    best = int(np.argmax(raw[0, 4]))
    np.testing.assert_allclose(raw[0, :4, best], [24, 40, 16, 16])
