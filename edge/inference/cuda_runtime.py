"""A thin adapter over cuda-python's runtime API: device and pinned buffers, a stream, device facts.

Imported lazily by the TensorRT modules. cuda-python 12.6+ names the module
`cuda.bindings.runtime`; older releases (and JetPack's wheels) `cuda.cudart`. Every call returns
an error code first; `check` turns a failure into `ExecutionError`.
"""

from __future__ import annotations

import ctypes
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.inference.errors import BackendUnavailable, ExecutionError


def import_cudart() -> Any:
    """The cudart module of cuda-python, or BackendUnavailable."""
    try:
        from cuda.bindings import runtime  # cuda-python >= 12.6

        return runtime
    except ImportError:
        pass
    try:
        from cuda import cudart  # cuda-python < 12.6

        return cudart
    except ImportError as exc:
        raise BackendUnavailable(
            f"cuda-python is not importable ({exc}); install it: pip install cuda-python"
        ) from exc


def check(result: Any, what: str) -> Any:
    """Raise ExecutionError if a cudart call failed; return its value(s) otherwise."""
    cudart = import_cudart()
    err, *values = result if isinstance(result, tuple) else (result,)
    if err != cudart.cudaError_t.cudaSuccess:
        _, text = cudart.cudaGetErrorString(err)
        raise ExecutionError(f"{what} failed: {err} {text!r}")
    if not values:
        return None
    return values[0] if len(values) == 1 else tuple(values)


def device_properties(device_id: int = 0) -> tuple[str, str]:
    """(GPU name, compute capability "major.minor") of a CUDA device."""
    cudart = import_cudart()
    props = check(cudart.cudaGetDeviceProperties(device_id), "cudaGetDeviceProperties")
    name = props.name
    if isinstance(name, bytes):
        name = name.split(b"\0", 1)[0].decode(errors="replace")
    return str(name).strip(), f"{props.major}.{props.minor}"


def set_device(device_id: int) -> None:
    """Make `device_id` the current CUDA device of this thread."""
    check(import_cudart().cudaSetDevice(device_id), "cudaSetDevice")


class Stream:
    """A CUDA stream."""

    def __init__(self) -> None:
        self._cudart = import_cudart()
        self._stream = check(self._cudart.cudaStreamCreate(), "cudaStreamCreate")

    @property
    def handle(self) -> int:
        """The raw cudaStream_t as an integer, as TensorRT wants it."""
        return int(self._stream)

    def synchronize(self) -> None:
        """Wait until all work queued on the stream is done."""
        check(self._cudart.cudaStreamSynchronize(self._stream), "cudaStreamSynchronize")

    def destroy(self) -> None:
        """Release the stream (idempotent)."""
        if self._stream is not None:
            check(self._cudart.cudaStreamDestroy(self._stream), "cudaStreamDestroy")
            self._stream = None


class DeviceBuffer:
    """A block of device memory."""

    def __init__(self, nbytes: int) -> None:
        self._cudart = import_cudart()
        self.nbytes = nbytes
        self.ptr: int = int(check(self._cudart.cudaMalloc(max(nbytes, 1)), "cudaMalloc"))

    def copy_from(self, host: npt.NDArray[Any], stream: Stream | None = None) -> None:
        """Copy a C-contiguous host array to the start of the buffer (async if a stream is given)."""
        self._copy(self.ptr, host.ctypes.data, host.nbytes, "cudaMemcpyHostToDevice", stream)

    def copy_to(self, host: npt.NDArray[Any], stream: Stream | None = None) -> None:
        """Copy the start of the buffer into a C-contiguous host array (async if a stream is given)."""
        self._copy(host.ctypes.data, self.ptr, host.nbytes, "cudaMemcpyDeviceToHost", stream)

    def _copy(self, dst: int, src: int, nbytes: int, kind: str, stream: Stream | None) -> None:
        if nbytes > self.nbytes:
            raise ExecutionError(f"copy of {nbytes} bytes into a {self.nbytes}-byte device buffer")
        direction = getattr(self._cudart.cudaMemcpyKind, kind)
        if stream is None:
            check(self._cudart.cudaMemcpy(dst, src, nbytes, direction), "cudaMemcpy")
        else:
            check(self._cudart.cudaMemcpyAsync(dst, src, nbytes, direction, stream.handle), "cudaMemcpyAsync")

    def free(self) -> None:
        """Release the memory (idempotent)."""
        if self.ptr:
            check(self._cudart.cudaFree(self.ptr), "cudaFree")
            self.ptr = 0


class PinnedArray:
    """Page-locked host memory viewed as a flat numpy array, so async copies really are async."""

    def __init__(self, size: int, dtype: np.dtype[Any]) -> None:
        self._cudart = import_cudart()
        nbytes = max(size, 1) * dtype.itemsize
        self._ptr = int(check(self._cudart.cudaMallocHost(nbytes), "cudaMallocHost"))
        raw = np.ctypeslib.as_array(ctypes.cast(self._ptr, ctypes.POINTER(ctypes.c_uint8)), (nbytes,))
        self.array: npt.NDArray[Any] = raw.view(dtype)  # bytes viewed as dtype: works for float16 too

    def view(self, shape: tuple[int, ...]) -> npt.NDArray[Any]:
        """The first prod(shape) elements reshaped to `shape` (no copy)."""
        count = int(np.prod(shape))
        return self.array[:count].reshape(shape)

    def free(self) -> None:
        """Release the memory (idempotent)."""
        if self._ptr:
            check(self._cudart.cudaFreeHost(self._ptr), "cudaFreeHost")
            self._ptr = 0
