"""Native TensorRT backend: deserialize a verified engine, device buffers, one stream, async copies.

TensorRT 8.5+ (JetPack 6 ships 8.6) and 10 name I/O tensors (`num_io_tensors`,
`set_input_shape`, `set_tensor_address`, `execute_async_v3`); TensorRT 10 removed the older
binding-index API (`num_bindings`, `set_binding_shape`, `execute_async_v2`) that is all 8.4 and
earlier have. `_EngineIO` hides that difference behind four calls. Buffers are sized once for
the largest batch of the engine's profile; a run copies in, executes and copies out on one stream
and synchronizes once.

Not yet run on a GPU: written against the TensorRT 8.6/10 and cuda-python documentation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edge.inference.base import ClosingContext, Inputs, Outputs, TensorSpec
from edge.inference.batching import Arrays, normalize_inputs, run_in_fixed_batches
from edge.inference.errors import (
    BackendUnavailable,
    EngineMismatch,
    ExecutionError,
    InferenceError,
    InputShapeError,
)
from edge.inference.trt_engine_cache import EngineKey, verify_engine

log = logging.getLogger(__name__)


def import_tensorrt() -> Any:
    """The tensorrt module, or BackendUnavailable saying how to get it."""
    try:
        import tensorrt
    except ImportError as exc:
        raise BackendUnavailable(
            f"tensorrt is not importable ({exc}); on a Jetson install python3-libnvinfer (JetPack), "
            "elsewhere pip install tensorrt cuda-python"
        ) from exc
    return tensorrt


def trt_major(trt: Any) -> int:
    """The TensorRT major version."""
    return int(str(trt.__version__).split(".")[0])


@dataclass(frozen=True, slots=True)
class _Tensor:
    name: str
    index: int
    is_input: bool
    shape: tuple[int, ...]  # -1 for dynamic axes
    dtype: np.dtype[Any]


class _EngineIO:
    """The I/O calls that differ between TensorRT's tensor-name API (8.5+, 10) and binding API (<8.5)."""

    def __init__(self, trt: Any, engine: Any, context: Any) -> None:
        self.trt, self.engine, self.context = trt, engine, context
        self.named = hasattr(engine, "num_io_tensors")
        self.tensors = self._describe()

    def _describe(self) -> list[_Tensor]:
        trt, engine = self.trt, self.engine
        out = []
        if self.named:
            for i in range(engine.num_io_tensors):
                name = engine.get_tensor_name(i)
                is_input = engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT
                shape, dtype = engine.get_tensor_shape(name), engine.get_tensor_dtype(name)
                out.append(_Tensor(name, i, is_input, tuple(shape), np.dtype(trt.nptype(dtype))))
        else:
            for i in range(engine.num_bindings):
                name, is_input = engine.get_binding_name(i), engine.binding_is_input(i)
                shape, dtype = engine.get_binding_shape(i), engine.get_binding_dtype(i)
                out.append(_Tensor(name, i, is_input, tuple(shape), np.dtype(trt.nptype(dtype))))
        return out

    def max_input_shape(self, t: _Tensor) -> tuple[int, ...]:
        """The largest shape profile 0 allows for an input."""
        if -1 not in t.shape:
            return t.shape
        if self.named:
            return tuple(self.engine.get_tensor_profile_shape(t.name, 0)[2])
        return tuple(self.engine.get_profile_shape(0, t.index)[2])

    def set_input_shape(self, t: _Tensor, shape: tuple[int, ...]) -> None:
        """Tell the context the concrete shape of a dynamic input."""
        ok = (
            self.context.set_input_shape(t.name, shape)
            if self.named
            else self.context.set_binding_shape(t.index, shape)
        )
        if ok is False:
            raise InputShapeError(f"{t.name}: shape {shape} is outside the engine's optimization profile")

    def shape_of(self, t: _Tensor) -> tuple[int, ...]:
        """The concrete shape of a tensor under the current input shapes."""
        if self.named:
            return tuple(self.context.get_tensor_shape(t.name))
        return tuple(self.context.get_binding_shape(t.index))

    def bind(self, addresses: dict[str, int]) -> None:
        """Give the context the device address of every tensor (tensor-name API only)."""
        if self.named:
            for name, ptr in addresses.items():
                self.context.set_tensor_address(name, ptr)

    def execute(self, addresses: dict[str, int], stream: int) -> bool:
        """Enqueue the network on a stream."""
        if self.named:
            return bool(self.context.execute_async_v3(stream))
        bindings = [addresses[t.name] for t in sorted(self.tensors, key=lambda t: t.index)]
        return bool(self.context.execute_async_v2(bindings=bindings, stream_handle=stream))


class TensorRTBackend(ClosingContext):
    """A TensorRT engine behind the `InferenceBackend` interface; refuses engines not matching `key`."""

    def __init__(self, engine_path: str | Path, key: EngineKey, *, device_id: int = 0) -> None:
        from edge.inference import cuda_runtime as cuda

        trt = import_tensorrt()
        verify_engine(engine_path, key)  # before any byte of it reaches TensorRT
        cuda.set_device(device_id)
        self._cuda = cuda
        self._logger = trt.Logger(trt.Logger.WARNING)
        self._runtime = trt.Runtime(self._logger)
        engine = self._runtime.deserialize_cuda_engine(Path(engine_path).read_bytes())
        if engine is None:
            raise EngineMismatch(f"TensorRT {trt.__version__} could not deserialize {engine_path}")
        self._engine = engine
        self._context = engine.create_execution_context()
        self._io = _EngineIO(trt, engine, self._context)
        self._stream = cuda.Stream()
        self._allocate()
        log.info(
            "TensorRT %s loaded %s (%s API), batch profile %s",
            trt.__version__,
            Path(engine_path).name,
            "tensor" if self._io.named else "binding",
            (key.min_batch, key.opt_batch, key.max_batch),
        )

    def _allocate(self) -> None:
        io, cuda = self._io, self._cuda
        inputs = [t for t in io.tensors if t.is_input]
        for t in inputs:
            if -1 in t.shape:
                io.set_input_shape(t, io.max_input_shape(t))
        max_shapes = {t.name: io.max_input_shape(t) if t.is_input else io.shape_of(t) for t in io.tensors}
        self._device = {}
        self._host = {}
        for t in io.tensors:
            count = int(np.prod(max_shapes[t.name]))
            self._device[t.name] = cuda.DeviceBuffer(count * t.dtype.itemsize)
            self._host[t.name] = cuda.PinnedArray(count, t.dtype)
        self._addresses = {name: buf.ptr for name, buf in self._device.items()}
        io.bind(self._addresses)
        self._max_batch = max_shapes[inputs[0].name][0]
        self._inputs = tuple(self._spec(t) for t in inputs)
        self._outputs = tuple(self._spec(t) for t in io.tensors if not t.is_input)

    @staticmethod
    def _spec(t: _Tensor) -> TensorSpec:
        return TensorSpec(t.name, tuple(None if d < 0 else d for d in t.shape), t.dtype.name)

    @property
    def input_specs(self) -> tuple[TensorSpec, ...]:
        """The engine's inputs (None for the dynamic batch axis)."""
        return self._inputs

    @property
    def output_specs(self) -> tuple[TensorSpec, ...]:
        """The engine's outputs in `run` order."""
        return self._outputs

    def run(self, inputs: Inputs) -> Outputs:
        """Run a batch of any size, in chunks no larger than the engine's profile allows."""
        if self._context is None:
            raise InferenceError("the TensorRT backend is closed")
        arrays = normalize_inputs(inputs, self._inputs)
        fixed = self._inputs[0].fixed_batch
        return run_in_fixed_batches(self._run_once, arrays, fixed, max_batch=self._max_batch)

    def _run_once(self, arrays: Arrays) -> Outputs:
        io, stream = self._io, self._stream
        for t in (t for t in io.tensors if t.is_input):
            array = arrays[t.name]
            if -1 in t.shape:
                io.set_input_shape(t, array.shape)
            host = self._host[t.name].view(array.shape)
            np.copyto(host, array)
            self._device[t.name].copy_from(host, stream)
        if not io.execute(self._addresses, stream.handle):
            raise ExecutionError("TensorRT execute failed")
        results = {}
        for t in (t for t in io.tensors if not t.is_input):
            host = self._host[t.name].view(io.shape_of(t))
            self._device[t.name].copy_to(host, stream)
            results[t.name] = host
        stream.synchronize()
        return {name: host.copy() for name, host in results.items()}

    def close(self) -> None:
        """Free device and pinned memory, the stream, the context and the engine."""
        for buffer in getattr(self, "_device", {}).values():
            buffer.free()
        for pinned in getattr(self, "_host", {}).values():
            pinned.free()
        if getattr(self, "_stream", None) is not None:
            self._stream.destroy()
        self._device, self._host = {}, {}
        self._context = self._engine = None
