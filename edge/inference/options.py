"""Explicit value objects that configure the backends (the agent's settings map onto these)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

Precision = Literal["fp32", "fp16", "int8"]

DEFAULT_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


@dataclass(frozen=True, slots=True)
class OrtOptions:
    """ONNX Runtime: provider preference (first available wins), threads, graph optimization, TRT EP."""

    providers: tuple[str, ...] = DEFAULT_PROVIDERS
    device_id: int = 0
    intra_op_threads: int = 0  # 0: ONNX Runtime decides
    inter_op_threads: int = 0
    execution_mode: Literal["sequential", "parallel"] = "sequential"
    graph_optimization: Literal["disable", "basic", "extended", "all"] = "all"
    # worker threads busy-wait for work between runs: lowest latency when inference owns the cores,
    # CPU burnt when decode and NMS threads share them (the agent's overlapped vision path)
    allow_spinning: bool = True
    io_binding: bool = False
    # TensorRT execution provider, used only when that provider is chosen.
    trt_precision: Precision = "fp16"
    trt_cache_dir: Path | None = None  # engine and timing caches; None: no caching
    trt_workspace_mb: int = 1024
    trt_int8_calibration_table: str | None = None  # file name inside trt_cache_dir
    trt_dla_core: int | None = None


@dataclass(frozen=True, slots=True)
class TensorRTOptions:
    """Native TensorRT: where engines are cached, the precision and batch profile to build them with."""

    cache_dir: Path = Path("var/engines")
    precision: Precision = "fp16"
    min_batch: int = 1
    opt_batch: int = 1
    max_batch: int = 1
    workspace_mb: int = 1024
    dla_core: int | None = None
    build_if_missing: bool = True
    calibration_images: Path | None = None  # a folder of images for INT8 calibration
    calibration_cache: Path | None = None
    timing_cache: Path | None = None
    device_id: int = 0


@dataclass(frozen=True, slots=True)
class BackendOptions:
    """Options for every backend; the factory hands each backend its own part."""

    onnxruntime: OrtOptions = field(default_factory=OrtOptions)
    tensorrt: TensorRTOptions = field(default_factory=TensorRTOptions)
