"""open_backend: manifest verification, explicit kinds, and the fallback to ONNX Runtime CPU."""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge.inference.base import TensorSpec
from edge.inference.errors import ArtifactError, BackendUnavailable
from edge.inference.factory import open_backend, spec_mismatches
from edge.inference.options import BackendOptions, OrtOptions, TensorRTOptions
from proto.artifacts import (
    AlarmThresholds,
    ModelManifest,
    SeriesNormalization,
    TensorDecl,
    file_digest,
    load_manifest,
    save_manifest,
)

W = np.arange(8, dtype=np.float32).reshape(4, 2) / 10
CPU = BackendOptions(onnxruntime=OrtOptions(providers=("CPUExecutionProvider",), intra_op_threads=1))


def write_artifact(folder: Path, input_name: str = "window") -> Path:
    """A tiny 'fault model' y = x @ W as ONNX plus its manifest; returns the manifest path."""
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["window", "w"], ["score"])],
        "fault",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("score", TensorProto.FLOAT, ["batch", 2])],
        initializer=[numpy_helper.from_array(W, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx_path = folder / "fault.onnx"
    onnx.save(model, str(onnx_path))
    digest, size = file_digest(onnx_path)
    manifest = ModelManifest(
        name="fault",
        version="0.1.0",
        task="fault",
        file="fault.onnx",
        sha256=digest,
        size_bytes=size,
        inputs=(TensorDecl(name=input_name, shape=("batch", 4), layout="NC"),),
        outputs=(TensorDecl(name="score", shape=("batch", 2)),),
        normalization=SeriesNormalization(
            channel_names=("a", "b", "c", "d"), mean=(0,) * 4, std=(1,) * 4, window_length=1, stride=1
        ),
        thresholds=AlarmThresholds(enter=0.7, exit=0.5),
    )
    return save_manifest(manifest, folder / "fault.manifest.json")


@pytest.fixture
def manifest_path(tmp_path: Path) -> Path:
    return write_artifact(tmp_path)


@pytest.fixture
def no_tensorrt(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make `import tensorrt` fail even where TensorRT is installed."""
    monkeypatch.setitem(sys.modules, "tensorrt", None)


def test_onnxruntime_kind(manifest_path: Path) -> None:
    x = np.ones((3, 4), np.float32)
    with open_backend(manifest_path, "onnxruntime", CPU) as backend:
        np.testing.assert_allclose(backend.run(x)["score"], x @ W, rtol=1e-6)


@pytest.mark.usefixtures("no_tensorrt")
def test_auto_falls_back_to_onnxruntime_cpu_with_a_log_line(
    manifest_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="edge.inference.factory")
    with open_backend(manifest_path, "auto", CPU) as backend:
        assert type(backend).__name__ == "OnnxRuntimeBackend"
        np.testing.assert_allclose(backend.run(np.ones((1, 4), np.float32))["score"], np.ones((1, 4)) @ W)
    (record,) = caplog.records
    assert "TensorRT backend unavailable for fault" in record.message
    assert "tensorrt is not importable" in record.message
    assert "falling back to ONNX Runtime" in record.message
    assert "CPUExecutionProvider" in record.message


@pytest.mark.usefixtures("no_tensorrt")
def test_tensorrt_kind_without_tensorrt_is_unavailable(manifest_path: Path) -> None:
    with pytest.raises(BackendUnavailable, match="python3-libnvinfer"):
        open_backend(manifest_path, "tensorrt")


@pytest.mark.usefixtures("no_tensorrt")
def test_factory_imports_no_runtime_it_does_not_use(manifest_path: Path) -> None:
    open_backend(manifest_path, "onnxruntime", CPU).close()
    assert sys.modules.get("tensorrt") is None


def test_corrupt_artifact_is_refused(manifest_path: Path) -> None:
    onnx_path = manifest_path.with_name("fault.onnx")
    data = bytearray(onnx_path.read_bytes())
    data[-1] ^= 0xFF
    onnx_path.write_bytes(bytes(data))
    with pytest.raises(ArtifactError, match="sha256"):
        open_backend(manifest_path, "onnxruntime", CPU)


def test_missing_manifest(tmp_path: Path) -> None:
    with pytest.raises(ArtifactError, match="cannot read manifest"):
        open_backend(tmp_path / "nothing.manifest.json", "onnxruntime", CPU)


def test_manifest_that_names_other_inputs_is_refused(tmp_path: Path) -> None:
    path = write_artifact(tmp_path, input_name="series")
    with pytest.raises(ArtifactError, match="does not match its manifest"):
        open_backend(path, "onnxruntime", CPU)


def test_unknown_kind(manifest_path: Path) -> None:
    with pytest.raises(ValueError, match="backend kind"):
        open_backend(manifest_path, "openvino")  # type: ignore[arg-type]


@pytest.mark.usefixtures("no_tensorrt")
def test_no_cached_engine_and_no_build(manifest_path: Path, tmp_path: Path) -> None:
    options = BackendOptions(tensorrt=TensorRTOptions(cache_dir=tmp_path / "engines", build_if_missing=False))
    with pytest.raises(BackendUnavailable):
        open_backend(manifest_path, "tensorrt", options)


def test_spec_mismatches_table(manifest_path: Path) -> None:
    manifest = load_manifest(manifest_path)
    assert spec_mismatches((TensorSpec("window", (None, 4)),), manifest) == []
    assert spec_mismatches((TensorSpec("window", (None, 5)),), manifest) == [
        "window: axis 1 is 5, manifest says 4"
    ]
    three_d = (TensorSpec("window", (None, 4, 1)),)
    assert spec_mismatches(three_d, manifest) == ["window: rank 3 != manifest 2"]
    assert spec_mismatches((TensorSpec("x", (None, 4)),), manifest) == ["inputs ['x'] != manifest ['window']"]
