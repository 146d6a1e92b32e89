"""ONNX Runtime backend on tiny graphs built here, compared with numpy; provider choice without a GPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edge.inference.errors import ArtifactError, BackendUnavailable, InferenceError, InputShapeError
from edge.inference.onnxruntime_backend import (
    CPU_EP,
    CUDA_EP,
    TENSORRT_EP,
    OnnxRuntimeBackend,
    provider_options,
    select_providers,
)
from edge.inference.options import OrtOptions

RNG = np.random.default_rng(0)
W = RNG.normal(size=(4, 3)).astype(np.float32)
B = RNG.normal(size=(3,)).astype(np.float32)
K = RNG.normal(size=(2, 3, 3, 3)).astype(np.float32)
CPU_ONLY = OrtOptions(providers=(CPU_EP,), intra_op_threads=1, inter_op_threads=1)


def save(model: object, path: Path) -> Path:
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_model(nodes: list, inputs: list, outputs: list, initializers: list) -> object:
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, initializer=initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)


@pytest.fixture(scope="module")
def matmul_add(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """y = x @ W + B with a dynamic batch axis."""
    model = make_model(
        [helper.make_node("MatMul", ["x", "w"], ["xw"]), helper.make_node("Add", ["xw", "b"], ["y"])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])],
        [numpy_helper.from_array(W, "w"), numpy_helper.from_array(B, "b")],
    )
    return save(model, tmp_path_factory.mktemp("onnx") / "matmul_add.onnx")


@pytest.fixture(scope="module")
def conv_fixed_batch(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 3x3 'same' convolution, 3 -> 2 channels, on a fixed batch of 2."""
    model = make_model(
        [helper.make_node("Conv", ["x", "k"], ["y"], pads=[1, 1, 1, 1])],
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3, 6, 6])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 2, 6, 6])],
        [numpy_helper.from_array(K, "k")],
    )
    return save(model, tmp_path_factory.mktemp("onnx") / "conv.onnx")


def conv_reference(x: np.ndarray) -> np.ndarray:
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3, 3), axis=(2, 3))  # n, c, h, w, 3, 3
    return np.einsum("nchwij,ocij->nohw", windows, K)


def test_matmul_add_matches_numpy_for_any_batch(matmul_add: Path) -> None:
    with OnnxRuntimeBackend(matmul_add, CPU_ONLY) as backend:
        assert backend.providers == (CPU_EP,)
        assert [s.name for s in backend.input_specs] == ["x"]
        assert backend.input_specs[0].shape == (None, 4)
        assert backend.output_specs[0].shape == (None, 3)
        for batch in (1, 5):
            x = RNG.normal(size=(batch, 4)).astype(np.float32)
            out = backend.run(x)
            assert list(out) == ["y"]
            np.testing.assert_allclose(out["y"], x @ W + B, rtol=1e-5, atol=1e-5)


def test_fixed_batch_model_is_split_and_padded(conv_fixed_batch: Path) -> None:
    with OnnxRuntimeBackend(conv_fixed_batch, CPU_ONLY) as backend:
        assert backend.input_specs[0].fixed_batch == 2
        for batch in (1, 2, 3):
            x = RNG.normal(size=(batch, 3, 6, 6)).astype(np.float32)
            y = backend.run({"x": x})["y"]
            assert y.shape == (batch, 2, 6, 6)
            np.testing.assert_allclose(y, conv_reference(x), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("mode", ["sequential", "parallel"])
@pytest.mark.parametrize("level", ["disable", "basic", "all"])
def test_session_settings_and_io_binding(matmul_add: Path, mode: str, level: str) -> None:
    options = OrtOptions(
        providers=(CPU_EP,),
        execution_mode=mode,  # type: ignore[arg-type]
        graph_optimization=level,  # type: ignore[arg-type]
        io_binding=True,
        intra_op_threads=1,
    )
    x = RNG.normal(size=(3, 4)).astype(np.float32)
    with OnnxRuntimeBackend(matmul_add, options) as backend:
        np.testing.assert_allclose(backend.run(x)["y"], x @ W + B, rtol=1e-5, atol=1e-5)


def test_float64_input_is_cast(matmul_add: Path) -> None:
    x = RNG.normal(size=(2, 4))
    with OnnxRuntimeBackend(matmul_add, CPU_ONLY) as backend:
        np.testing.assert_allclose(backend.run(x)["y"], x.astype(np.float32) @ W + B, rtol=1e-5, atol=1e-5)


def test_closed_backend_refuses_to_run(matmul_add: Path) -> None:
    backend = OnnxRuntimeBackend(matmul_add, CPU_ONLY)
    backend.close()
    with pytest.raises(InferenceError, match="closed"):
        backend.run(np.zeros((1, 4), np.float32))


def test_wrong_input_shape(matmul_add: Path) -> None:
    with OnnxRuntimeBackend(matmul_add, CPU_ONLY) as backend, pytest.raises(InputShapeError, match="axis 1"):
        backend.run(np.zeros((2, 5), np.float32))


def test_broken_file_is_an_artifact_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"definitely not protobuf")
    with pytest.raises(ArtifactError, match=r"bad\.onnx"):
        OnnxRuntimeBackend(bad, CPU_ONLY)


@pytest.mark.parametrize(
    ("available", "preference", "chosen"),
    [
        ({CPU_EP}, (TENSORRT_EP, CUDA_EP, CPU_EP), [CPU_EP]),
        ({CUDA_EP, CPU_EP}, (TENSORRT_EP, CUDA_EP, CPU_EP), [CUDA_EP, CPU_EP]),
        ({TENSORRT_EP, CUDA_EP, CPU_EP}, (TENSORRT_EP, CUDA_EP, CPU_EP), [TENSORRT_EP, CUDA_EP, CPU_EP]),
        ({TENSORRT_EP, CUDA_EP, CPU_EP}, (CPU_EP,), [CPU_EP]),
        ({TENSORRT_EP, CUDA_EP, CPU_EP}, (CUDA_EP, TENSORRT_EP), [CUDA_EP, TENSORRT_EP]),
    ],
)
def test_select_providers(available: set[str], preference: tuple[str, ...], chosen: list[str]) -> None:
    got = select_providers(available, OrtOptions(providers=preference))
    assert [name for name, _ in got] == chosen


def test_select_providers_refuses_when_none_is_available() -> None:
    with pytest.raises(BackendUnavailable, match="CUDAExecutionProvider"):
        select_providers({CPU_EP}, OrtOptions(providers=(CUDA_EP,)))


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (
            OrtOptions(),
            {
                "device_id": "0",
                "trt_fp16_enable": "True",
                "trt_int8_enable": "False",
                "trt_max_workspace_size": str(1 << 30),
            },
        ),
        (
            OrtOptions(
                trt_precision="int8",
                trt_cache_dir=Path("/var/trt"),
                trt_int8_calibration_table="calib.table",
                trt_dla_core=1,
                trt_workspace_mb=256,
                device_id=1,
            ),
            {
                "device_id": "1",
                "trt_fp16_enable": "True",
                "trt_int8_enable": "True",
                "trt_max_workspace_size": str(256 << 20),
                "trt_engine_cache_enable": "True",
                "trt_engine_cache_path": "/var/trt",
                "trt_timing_cache_enable": "True",
                "trt_timing_cache_path": "/var/trt",
                "trt_int8_calibration_table_name": "calib.table",
                "trt_dla_enable": "True",
                "trt_dla_core": "1",
            },
        ),
        (OrtOptions(trt_precision="fp32"), {"trt_fp16_enable": "False", "trt_int8_enable": "False"}),
    ],
)
def test_tensorrt_provider_options(options: OrtOptions, expected: dict[str, str]) -> None:
    got = provider_options(TENSORRT_EP, options)
    assert {k: got[k] for k in expected} == expected


def test_cuda_and_cpu_provider_options() -> None:
    assert provider_options(CUDA_EP, OrtOptions(device_id=2)) == {"device_id": "2"}
    assert provider_options(CPU_EP, OrtOptions()) == {}


def test_spinning_off_reaches_the_session_and_results_stay_the_same(matmul_add: Path) -> None:
    from dataclasses import replace

    x = RNG.normal(size=(5, 4)).astype(np.float32)
    with OnnxRuntimeBackend(matmul_add, replace(CPU_ONLY, allow_spinning=False)) as backend:
        options = backend._session.get_session_options()
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "0"
        assert options.get_session_config_entry("session.inter_op.allow_spinning") == "0"
        np.testing.assert_allclose(backend.run({"x": x})["y"], x @ W + B, rtol=1e-5)
    with OnnxRuntimeBackend(matmul_add, CPU_ONLY) as backend:  # ORT's default: the entry is not set
        options = backend._session.get_session_options()
    with pytest.raises(RuntimeError):
        options.get_session_config_entry("session.intra_op.allow_spinning")


def test_agent_settings_turn_spinning_off_by_default() -> None:
    from edge.settings import BackendSettings

    assert BackendSettings().options().onnxruntime.allow_spinning is False
    assert BackendSettings(spin_wait=True).options().onnxruntime.allow_spinning is True
