"""ONNX Runtime backend: TensorRT, CUDA or CPU execution provider, whichever is first available.

Imported only when chosen (the factory imports it lazily). Provider selection and provider
options are pure functions of the available providers and `OrtOptions`, so they are tested
without a GPU.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from edge.inference.base import ClosingContext, Inputs, Outputs, TensorSpec
from edge.inference.batching import Arrays, normalize_inputs, run_in_fixed_batches
from edge.inference.errors import (
    ArtifactError,
    BackendUnavailable,
    ExecutionError,
    InferenceError,
    InputShapeError,
)
from edge.inference.options import OrtOptions

log = logging.getLogger(__name__)

TENSORRT_EP = "TensorrtExecutionProvider"
CUDA_EP = "CUDAExecutionProvider"
CPU_EP = "CPUExecutionProvider"

ProviderConfig = tuple[str, dict[str, str]]

_ORT_TYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(int64)": "int64",
    "tensor(int32)": "int32",
    "tensor(int8)": "int8",
    "tensor(uint8)": "uint8",
    "tensor(bool)": "bool",
}
_GRAPH_LEVELS = {
    "disable": "ORT_DISABLE_ALL",
    "basic": "ORT_ENABLE_BASIC",
    "extended": "ORT_ENABLE_EXTENDED",
    "all": "ORT_ENABLE_ALL",
}


def provider_options(provider: str, options: OrtOptions) -> dict[str, str]:
    """The provider options ONNX Runtime gets for one execution provider (strings, as the C API wants)."""
    if provider == TENSORRT_EP:
        opts = {
            "device_id": str(options.device_id),
            "trt_fp16_enable": str(options.trt_precision in ("fp16", "int8")),
            "trt_int8_enable": str(options.trt_precision == "int8"),
            "trt_max_workspace_size": str(options.trt_workspace_mb * (1 << 20)),
        }
        if options.trt_cache_dir is not None:
            cache = str(options.trt_cache_dir)
            opts |= {
                "trt_engine_cache_enable": "True",
                "trt_engine_cache_path": cache,
                "trt_timing_cache_enable": "True",
                "trt_timing_cache_path": cache,
            }
        if options.trt_precision == "int8" and options.trt_int8_calibration_table:
            opts["trt_int8_calibration_table_name"] = options.trt_int8_calibration_table
        if options.trt_dla_core is not None:
            opts |= {"trt_dla_enable": "True", "trt_dla_core": str(options.trt_dla_core)}
        return opts
    if provider == CUDA_EP:
        return {"device_id": str(options.device_id)}
    return {}


def select_providers(available: Collection[str], options: OrtOptions) -> list[ProviderConfig]:
    """The preferred providers that are available, in preference order, each with its options."""
    chosen = [p for p in options.providers if p in available]
    if not chosen:
        raise BackendUnavailable(
            f"none of the configured ONNX Runtime providers {list(options.providers)} is available "
            f"(this build offers {sorted(available)})"
        )
    return [(p, provider_options(p, options)) for p in chosen]


def _spec(node: Any) -> TensorSpec:
    dims = tuple(d if isinstance(d, int) and d > 0 else None for d in node.shape)
    return TensorSpec(name=node.name, shape=dims, dtype=_ORT_TYPES.get(node.type, "float32"))


def _import_ort() -> Any:
    try:
        import onnxruntime
    except ImportError as exc:
        raise BackendUnavailable(f"onnxruntime is not importable: {exc}") from exc
    return onnxruntime


class OnnxRuntimeBackend(ClosingContext):
    """An ONNX Runtime session behind the `InferenceBackend` interface."""

    def __init__(self, model_path: str | Path, options: OrtOptions | None = None) -> None:
        ort = _import_ort()
        self._options = options or OrtOptions()
        providers = select_providers(ort.get_available_providers(), self._options)
        session_options = ort.SessionOptions()
        session_options.intra_op_num_threads = self._options.intra_op_threads
        session_options.inter_op_num_threads = self._options.inter_op_threads
        session_options.execution_mode = (
            ort.ExecutionMode.ORT_PARALLEL
            if self._options.execution_mode == "parallel"
            else ort.ExecutionMode.ORT_SEQUENTIAL
        )
        session_options.graph_optimization_level = getattr(
            ort.GraphOptimizationLevel, _GRAPH_LEVELS[self._options.graph_optimization]
        )
        if not self._options.allow_spinning:
            session_options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            session_options.add_session_config_entry("session.inter_op.allow_spinning", "0")
        for name, opts in providers:
            if name == TENSORRT_EP and "trt_engine_cache_path" in opts:
                Path(opts["trt_engine_cache_path"]).mkdir(parents=True, exist_ok=True)
        try:
            self._session: Any = ort.InferenceSession(
                str(model_path),
                sess_options=session_options,
                providers=[name for name, _ in providers],
                provider_options=[opts for _, opts in providers],
            )
        except Exception as exc:  # onnxruntime's pybind errors derive from Exception only
            raise ArtifactError(f"ONNX Runtime cannot load {model_path}: {exc}") from exc
        self.providers: tuple[str, ...] = tuple(self._session.get_providers())
        self._inputs = tuple(_spec(n) for n in self._session.get_inputs())
        self._outputs = tuple(_spec(n) for n in self._session.get_outputs())
        self._output_names = [s.name for s in self._outputs]
        self._device = "cuda" if self.providers[0] in (TENSORRT_EP, CUDA_EP) else "cpu"
        log.info("ONNX Runtime %s loaded %s on %s", ort.__version__, Path(model_path).name, self.providers)

    @property
    def input_specs(self) -> tuple[TensorSpec, ...]:
        """The model's inputs as ONNX Runtime reports them."""
        return self._inputs

    @property
    def output_specs(self) -> tuple[TensorSpec, ...]:
        """The model's outputs in `run` order."""
        return self._outputs

    def run(self, inputs: Inputs) -> Outputs:
        """Run a batch of any size: split or padded to a fixed model batch when the model has one."""
        if self._session is None:
            raise InferenceError("the ONNX Runtime backend is closed")
        arrays = normalize_inputs(inputs, self._inputs)
        return run_in_fixed_batches(self._run_once, arrays, self._inputs[0].fixed_batch)

    def _run_once(self, arrays: Arrays) -> Outputs:
        try:
            if self._options.io_binding:
                outputs = self._run_bound(arrays)
            else:
                outputs = self._session.run(self._output_names, arrays)
        except Exception as exc:
            if type(exc).__name__ == "InvalidArgument":
                raise InputShapeError(f"ONNX Runtime refused the inputs: {exc}") from exc
            raise ExecutionError(f"ONNX Runtime run failed: {exc}") from exc
        return {name: np.asarray(out) for name, out in zip(self._output_names, outputs, strict=True)}

    def _run_bound(self, arrays: Arrays) -> list[Any]:
        binding = self._session.io_binding()
        for name, array in arrays.items():
            binding.bind_cpu_input(name, array)
        for name in self._output_names:
            binding.bind_output(name, self._device, self._options.device_id)
        self._session.run_with_iobinding(binding)
        return list(binding.copy_outputs_to_cpu())

    def close(self) -> None:
        """Drop the session (ONNX Runtime frees it with the last reference)."""
        self._session = None
