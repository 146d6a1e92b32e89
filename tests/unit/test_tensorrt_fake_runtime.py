"""The TensorRT runtime and builder code paths against stand-ins for `tensorrt` and cudart.

No GPU here, so these fakes mimic the documented TensorRT 8.4 (binding API), 8.6/10 (tensor API)
and cuda-python calls with host memory: they check our control flow (shapes set, buffers sized,
copies and execution in order, chunking by the profile's max batch, cache reuse, calibration
feeding, refusal before deserializing), not TensorRT itself.
"""

from __future__ import annotations

import ctypes
import logging
import sys
import types
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from edge.inference import cuda_runtime
from edge.inference.errors import ArtifactError, EngineMismatch, InferenceError, InputShapeError
from edge.inference.trt_build_plan import BuildPlan
from edge.inference.trt_engine_cache import EngineCache, engine_key

FEATURES, MAX_BATCH = 4, 4


def as_floats(address: int, count: int) -> np.ndarray:
    return np.ctypeslib.as_array((ctypes.c_float * count).from_address(address))


class FakeCudart:
    """cuda-python's runtime calls over ctypes buffers: (error, value) tuples, real memcpy."""

    class cudaError_t:
        cudaSuccess = 0

    class cudaMemcpyKind:
        cudaMemcpyHostToDevice = 1
        cudaMemcpyDeviceToHost = 2

    def __init__(self) -> None:
        self.blocks: dict[int, Any] = {}
        self.copies: list[str] = []

    def _alloc(self, nbytes: int) -> tuple[int, int]:
        block = ctypes.create_string_buffer(nbytes)
        self.blocks[ctypes.addressof(block)] = block
        return 0, ctypes.addressof(block)

    def _free(self, ptr: int) -> tuple[int]:
        del self.blocks[ptr]
        return (0,)

    cudaMalloc = cudaMallocHost = _alloc
    cudaFree = cudaFreeHost = _free

    def cudaMemcpy(self, dst: int, src: int, nbytes: int, kind: int) -> tuple[int]:
        ctypes.memmove(dst, src, nbytes)
        return (0,)

    def cudaMemcpyAsync(self, dst: int, src: int, nbytes: int, kind: int, stream: int) -> tuple[int]:
        self.copies.append("H2D" if kind == 1 else "D2H")
        return self.cudaMemcpy(dst, src, nbytes, kind)

    def cudaStreamCreate(self) -> tuple[int, int]:
        return 0, 7

    def cudaStreamSynchronize(self, stream: int) -> tuple[int]:
        self.copies.append("sync")
        return (0,)

    def cudaStreamDestroy(self, stream: int) -> tuple[int]:
        return (0,)

    def cudaSetDevice(self, device: int) -> tuple[int]:
        return (0,)

    def cudaGetDeviceProperties(self, device: int) -> tuple[int, Any]:
        return 0, types.SimpleNamespace(name=b"Orin\0\0\0", major=8, minor=7)

    def cudaGetErrorString(self, err: int) -> tuple[int, bytes]:
        return 0, b"fake error"


class NamedEngine:
    """TensorRT 8.5+/10 tensor-name API; the network computes y = 2x + 1 on [batch, 4]."""

    num_io_tensors = 2

    def get_tensor_name(self, i: int) -> str:
        return ["x", "y"][i]

    def get_tensor_mode(self, name: str) -> str:
        return "in" if name == "x" else "out"

    def get_tensor_shape(self, name: str) -> tuple[int, int]:
        return (-1, FEATURES)

    def get_tensor_dtype(self, name: str) -> str:
        return "float"

    def get_tensor_profile_shape(self, name: str, profile: int) -> list[tuple[int, int]]:
        return [(1, FEATURES), (2, FEATURES), (MAX_BATCH, FEATURES)]

    def create_execution_context(self) -> NamedContext:
        return NamedContext()


class NamedContext:
    def __init__(self) -> None:
        self.batch = 0
        self.addresses: dict[str, int] = {}
        self.executed: list[int] = []

    def set_input_shape(self, name: str, shape: tuple[int, ...]) -> bool:
        if not 1 <= shape[0] <= MAX_BATCH:
            return False
        self.batch = shape[0]
        return True

    def get_tensor_shape(self, name: str) -> tuple[int, int]:
        return (self.batch, FEATURES)

    def set_tensor_address(self, name: str, ptr: int) -> None:
        self.addresses[name] = ptr

    def execute_async_v3(self, stream: int) -> bool:
        n = self.batch * FEATURES
        as_floats(self.addresses["y"], n)[:] = 2 * as_floats(self.addresses["x"], n) + 1
        self.executed.append(self.batch)
        return True


class LegacyEngine:
    """TensorRT <= 8.4 binding-index API, same network."""

    num_bindings = 2

    def get_binding_name(self, i: int) -> str:
        return ["x", "y"][i]

    def binding_is_input(self, i: int) -> bool:
        return i == 0

    def get_binding_shape(self, i: int) -> tuple[int, int]:
        return (-1, FEATURES)

    def get_binding_dtype(self, i: int) -> str:
        return "float"

    def get_profile_shape(self, profile: int, i: int) -> list[tuple[int, int]]:
        return [(1, FEATURES), (2, FEATURES), (MAX_BATCH, FEATURES)]

    def create_execution_context(self) -> LegacyContext:
        return LegacyContext()


class LegacyContext:
    def __init__(self) -> None:
        self.batch = 0

    def set_binding_shape(self, i: int, shape: tuple[int, ...]) -> bool:
        self.batch = shape[0]
        return shape[0] <= MAX_BATCH

    def get_binding_shape(self, i: int) -> tuple[int, int]:
        return (self.batch, FEATURES)

    def execute_async_v2(self, bindings: list[int], stream_handle: int) -> bool:
        n = self.batch * FEATURES
        as_floats(bindings[1], n)[:] = 2 * as_floats(bindings[0], n) + 1
        return True


class Recorder:
    """What the fake builder was asked to do."""

    def __init__(self) -> None:
        self.calls: list[tuple[Any, ...]] = []

    def __call__(self, *call: Any) -> None:
        self.calls.append(call)

    def named(self, name: str) -> list[tuple[Any, ...]]:
        return [c[1:] for c in self.calls if c[0] == name]


def make_fake_tensorrt(version: str, record: Recorder) -> types.ModuleType:
    trt = types.ModuleType("tensorrt")
    trt.__version__ = version  # type: ignore[attr-defined]
    ns = types.SimpleNamespace

    class Logger:
        WARNING = 2

        def __init__(self, level: int) -> None:
            pass

    class Runtime:
        def __init__(self, logger: Logger) -> None:
            pass

        def deserialize_cuda_engine(self, data: bytes) -> Any:
            record("deserialize", data)
            return {b"NAMED": NamedEngine, b"LEGACY": LegacyEngine}.get(data, lambda: None)()

    class IInt8EntropyCalibrator2:
        def __init__(self) -> None:
            pass

    class Profile:
        def set_shape(self, name: str, *shapes: tuple[int, ...]) -> None:
            record("profile", name, *shapes)

    class Config:
        int8_calibrator: Any = None

        def set_memory_pool_limit(self, pool: str, size: int) -> None:
            record("workspace", size)

        def set_flag(self, flag: str) -> None:
            record("flag", flag)

        def add_optimization_profile(self, profile: Profile) -> None:
            record("add_profile")

        def set_calibration_profile(self, profile: Profile) -> None:
            record("calibration_profile")

        def create_timing_cache(self, data: bytes) -> bytes:
            return data

        def set_timing_cache(self, cache: bytes, ignore_mismatch: bool) -> None:
            record("timing_cache_in", cache)

        def get_timing_cache(self) -> Any:
            return ns(serialize=lambda: b"timing")

    class Builder:
        def __init__(self, logger: Logger) -> None:
            pass

        def create_network(self, flags: int) -> str:
            record("network_flags", flags)
            return "network"

        def create_optimization_profile(self) -> Profile:
            return Profile()

        def create_builder_config(self) -> Config:
            return Config()

        def build_serialized_network(self, network: str, config: Config) -> bytes:
            calibrator = config.int8_calibrator
            if calibrator is not None and calibrator.read_calibration_cache() is None:
                while (pointers := calibrator.get_batch(["images"])) is not None:
                    batch = calibrator.get_batch_size()
                    record("calibration_batch", float(as_floats(pointers[0], batch * 3 * 8 * 8)[0]))
                calibrator.write_calibration_cache(memoryview(b"calibration table"))
            record("build")
            return b"NAMED"

    class OnnxParser:
        def __init__(self, network: str, logger: Logger) -> None:
            self.num_errors = 0

        def parse(self, data: bytes) -> bool:
            if data == b"broken":
                self.num_errors = 1
                return False
            return True

        def get_error(self, i: int) -> str:
            return "Unsupported op: FancyOp"

    trt.Logger = Logger  # type: ignore[attr-defined]
    trt.Runtime = Runtime  # type: ignore[attr-defined]
    trt.Builder = Builder  # type: ignore[attr-defined]
    trt.OnnxParser = OnnxParser  # type: ignore[attr-defined]
    trt.IInt8EntropyCalibrator2 = IInt8EntropyCalibrator2  # type: ignore[attr-defined]
    trt.TensorIOMode = ns(INPUT="in", OUTPUT="out")  # type: ignore[attr-defined]
    trt.nptype = lambda dtype: np.float32  # type: ignore[attr-defined]
    trt.NetworkDefinitionCreationFlag = ns(EXPLICIT_BATCH=0)  # type: ignore[attr-defined]
    trt.MemoryPoolType = ns(WORKSPACE="workspace")  # type: ignore[attr-defined]
    trt.BuilderFlag = ns(FP16="FP16", INT8="INT8", GPU_FALLBACK="GPU_FALLBACK")  # type: ignore[attr-defined]
    trt.DeviceType = ns(DLA="DLA")  # type: ignore[attr-defined]
    return trt


@pytest.fixture
def cudart(monkeypatch: pytest.MonkeyPatch) -> FakeCudart:
    fake = FakeCudart()
    monkeypatch.setattr(cuda_runtime, "import_cudart", lambda: fake)
    return fake


@pytest.fixture(params=["10.3.0", "8.6.2"])
def trt(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Recorder:
    record = Recorder()
    monkeypatch.setitem(sys.modules, "tensorrt", make_fake_tensorrt(request.param, record))
    return record


def onnx_file(tmp_path: Path, data: bytes = b"pretend onnx") -> Path:
    path = tmp_path / "model.onnx"
    path.write_bytes(data)
    return path


def plan_for(onnx_path: Path, **overrides: Any) -> BuildPlan:
    fields: dict[str, Any] = {
        "onnx_path": onnx_path,
        "input_name": "x",
        "sample_shape": (FEATURES,),
        "max_batch": MAX_BATCH,
        "opt_batch": 2,
    }
    fields.update(overrides)
    return BuildPlan(**fields)


def cached_engine(tmp_path: Path, data: bytes, onnx_path: Path) -> tuple[Path, Any]:
    from edge.inference.trt_builder import current_device

    key = engine_key(plan_for(onnx_path), current_device(), "ab" * 32)
    return EngineCache(tmp_path / "engines").store(key, data).engine, key


@pytest.mark.usefixtures("cudart")
@pytest.mark.parametrize("engine_bytes", [b"NAMED", b"LEGACY"], ids=["tensor-api", "binding-api"])
def test_runtime_runs_and_chunks_by_profile(tmp_path: Path, trt: Recorder, engine_bytes: bytes) -> None:
    from edge.inference.tensorrt_backend import TensorRTBackend

    path, key = cached_engine(tmp_path, engine_bytes, onnx_file(tmp_path))
    with TensorRTBackend(path, key) as backend:
        assert backend.input_specs[0].shape == (None, FEATURES)
        assert backend.output_specs[0].name == "y"
        for batch in (1, 3, 6):  # 6 > the profile's max of 4: two chunks
            x = np.arange(batch * FEATURES, dtype=np.float32).reshape(batch, FEATURES)
            np.testing.assert_allclose(backend.run(x)["y"], 2 * x + 1)


@pytest.mark.usefixtures("trt")
def test_runtime_copies_in_executes_copies_out_syncs_once(tmp_path: Path, cudart: FakeCudart) -> None:
    from edge.inference.tensorrt_backend import TensorRTBackend

    path, key = cached_engine(tmp_path, b"NAMED", onnx_file(tmp_path))
    backend = TensorRTBackend(path, key)
    live = len(cudart.blocks)
    assert live == 4  # device + pinned host buffer for x and for y
    cudart.copies.clear()
    backend.run(np.ones((2, FEATURES), np.float32))
    assert cudart.copies == ["H2D", "D2H", "sync"]
    backend.close()
    assert cudart.blocks == {}
    with pytest.raises(InferenceError, match="closed"):
        backend.run(np.ones((1, FEATURES), np.float32))


@pytest.mark.usefixtures("cudart")
def test_runtime_refuses_a_foreign_engine_before_deserializing(tmp_path: Path, trt: Recorder) -> None:
    import dataclasses

    from edge.inference.tensorrt_backend import TensorRTBackend

    path, key = cached_engine(tmp_path, b"NAMED", onnx_file(tmp_path))
    with pytest.raises(EngineMismatch, match="gpu_name"):
        TensorRTBackend(path, dataclasses.replace(key, gpu_name="Xavier"))
    assert trt.named("deserialize") == []


@pytest.mark.usefixtures("cudart")
def test_runtime_reports_an_engine_tensorrt_cannot_read(tmp_path: Path, trt: Recorder) -> None:
    from edge.inference.tensorrt_backend import TensorRTBackend

    path, key = cached_engine(tmp_path, b"garbage", onnx_file(tmp_path))
    with pytest.raises(EngineMismatch, match="could not deserialize"):
        TensorRTBackend(path, key)


@pytest.mark.usefixtures("cudart", "trt")
def test_runtime_shape_outside_profile(tmp_path: Path) -> None:
    from edge.inference.tensorrt_backend import TensorRTBackend

    path, key = cached_engine(tmp_path, b"NAMED", onnx_file(tmp_path))
    with TensorRTBackend(path, key) as backend, pytest.raises(InputShapeError, match="axis 1"):
        backend.run(np.ones((1, FEATURES + 1), np.float32))


@pytest.mark.usefixtures("cudart")
def test_build_then_reuse(tmp_path: Path, trt: Recorder, caplog: pytest.LogCaptureFixture) -> None:
    from edge.inference.trt_builder import build_engine

    caplog.set_level(logging.INFO, logger="edge.inference.trt_builder")
    timing = tmp_path / "timing.cache"
    plan = plan_for(onnx_file(tmp_path), workspace_mb=64, timing_cache=timing)
    built = build_engine(plan, tmp_path / "engines")
    assert built.built
    assert built.key.gpu_name == "Orin"
    assert built.key.compute_capability == "8.7"
    assert trt.named("network_flags") == [(0 if sys.modules["tensorrt"].__version__.startswith("10") else 1,)]
    assert trt.named("workspace") == [(64 << 20,)]
    assert trt.named("profile") == [("x", (1, FEATURES), (2, FEATURES), (MAX_BATCH, FEATURES))]
    assert trt.named("flag") == [("FP16",)]
    assert timing.read_bytes() == b"timing"
    assert "trtexec --onnx=" in caplog.text

    again = build_engine(plan, tmp_path / "engines")
    assert not again.built
    assert again.engine == built.engine
    assert len(trt.named("build")) == 1


@pytest.mark.usefixtures("cudart")
def test_build_replaces_a_refused_engine(
    tmp_path: Path, trt: Recorder, caplog: pytest.LogCaptureFixture
) -> None:
    from edge.inference.trt_builder import build_engine

    plan = plan_for(onnx_file(tmp_path))
    built = build_engine(plan, tmp_path / "engines")
    built.metadata.unlink()
    rebuilt = build_engine(plan, tmp_path / "engines")
    assert rebuilt.built
    assert "refusing it; rebuilding" in caplog.text
    assert len(trt.named("build")) == 2


@pytest.mark.usefixtures("cudart")
def test_int8_build_calibrates_once_then_uses_the_cache(tmp_path: Path, trt: Recorder) -> None:
    from edge.inference.trt_builder import build_engine

    images = tmp_path / "calib"
    images.mkdir()
    for i in range(5):
        cv2.imwrite(str(images / f"{i}.png"), np.full((8, 8, 3), 255, np.uint8))
    calib = tmp_path / "model.calib"
    plan = plan_for(
        onnx_file(tmp_path),
        input_name="images",
        sample_shape=(3, 8, 8),
        precision="int8",
        calibration_images=images,
        calibration_cache=calib,
        calibration_batch_size=2,
        dla_core=1,
    )
    build_engine(plan, tmp_path / "engines")
    assert trt.named("calibration_batch") == [(1.0,), (1.0,)]  # 5 images, batches of 2
    assert calib.read_bytes() == b"calibration table"
    assert ("INT8",) in trt.named("flag")
    assert ("GPU_FALLBACK",) in trt.named("flag")
    assert trt.named("calibration_profile") == [()]

    build_engine(plan, tmp_path / "engines", force=True)
    assert len(trt.named("calibration_batch")) == 2  # the cache was read, no new batches


@pytest.mark.usefixtures("cudart", "trt")
def test_build_reports_parse_errors(tmp_path: Path) -> None:
    from edge.inference.trt_builder import build_engine

    with pytest.raises(ArtifactError, match="Unsupported op: FancyOp"):
        build_engine(plan_for(onnx_file(tmp_path, b"broken")), tmp_path / "engines")


@pytest.mark.usefixtures("cudart", "trt")
def test_factory_opens_tensorrt_end_to_end(tmp_path: Path) -> None:
    from edge.inference.factory import open_backend
    from edge.inference.options import BackendOptions, TensorRTOptions
    from proto.artifacts import (
        AlarmThresholds,
        ModelManifest,
        SeriesNormalization,
        TensorDecl,
        file_digest,
        save_manifest,
    )

    onnx_path = onnx_file(tmp_path)
    digest, size = file_digest(onnx_path)
    manifest = ModelManifest(
        name="model",
        version="1",
        task="fault",
        file=onnx_path.name,
        sha256=digest,
        size_bytes=size,
        inputs=(TensorDecl(name="x", shape=("batch", FEATURES)),),
        outputs=(TensorDecl(name="y", shape=("batch", FEATURES)),),
        normalization=SeriesNormalization(
            channel_names=("a", "b", "c", "d"), mean=(0,) * 4, std=(1,) * 4, window_length=1, stride=1
        ),
        thresholds=AlarmThresholds(enter=0.5, exit=0.4),
    )
    manifest_path = save_manifest(manifest, tmp_path / "model.manifest.json")
    options = BackendOptions(tensorrt=TensorRTOptions(cache_dir=tmp_path / "engines", max_batch=MAX_BATCH))
    with open_backend(manifest_path, "tensorrt", options) as backend:
        x = np.ones((5, FEATURES), np.float32)
        np.testing.assert_allclose(backend.run(x)["y"], 3 * x)
