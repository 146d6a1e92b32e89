"""Building TensorRT engines from ONNX on the device, into the engine cache.

`build_engine(plan, cache_dir)` is what `iiot models build-engine` and the factory call: it returns
the cached engine when one with the same key exists (and verifies it), and otherwise parses the
ONNX file, applies the plan (precision, batch profile, workspace, DLA, INT8 calibration, timing
cache), serializes the engine and stores it with its metadata. Without TensorRT it raises
`BackendUnavailable`. The equivalent trtexec command is logged with every build.

Not yet run on a GPU: written against the TensorRT 8.6/10 Python API documentation.
"""

from __future__ import annotations

import logging
import shlex
import time
from pathlib import Path
from typing import Any

from edge.inference.errors import ArtifactError, EngineMismatch, InferenceError
from edge.inference.tensorrt_backend import import_tensorrt, trt_major
from edge.inference.trt_build_plan import BuildPlan
from edge.inference.trt_calibration import CalibrationBatches, CalibrationCache, make_entropy_calibrator
from edge.inference.trt_engine_cache import DeviceInfo, EngineCache, EngineKey, EnginePath, engine_key
from proto.artifacts import file_digest

log = logging.getLogger(__name__)


def current_device(device_id: int = 0) -> DeviceInfo:
    """GPU name, compute capability and TensorRT version of this machine (BackendUnavailable if none)."""
    from edge.inference import cuda_runtime

    trt = import_tensorrt()
    name, capability = cuda_runtime.device_properties(device_id)
    return DeviceInfo(gpu_name=name, compute_capability=capability, trt_version=str(trt.__version__))


def key_for(plan: BuildPlan, device_id: int = 0) -> EngineKey:
    """The engine cache key of `plan` on this machine."""
    if not plan.onnx_path.is_file():
        raise ArtifactError(f"ONNX file {plan.onnx_path} does not exist")
    digest, _ = file_digest(plan.onnx_path)
    return engine_key(plan, current_device(device_id), digest)


def find_engine(plan: BuildPlan, cache_dir: str | Path, *, device_id: int = 0) -> EnginePath | None:
    """The verified cached engine for `plan` on this machine, None if not built yet."""
    return EngineCache(cache_dir).lookup(key_for(plan, device_id))


def build_engine(
    plan: BuildPlan, cache_dir: str | Path, *, device_id: int = 0, force: bool = False
) -> EnginePath:
    """The engine for `plan`: from the cache if a matching one exists, else built and cached."""
    trt = import_tensorrt()
    cache = EngineCache(cache_dir)
    key = key_for(plan, device_id)
    if not force:
        try:
            found = cache.lookup(key)
        except EngineMismatch as exc:
            log.warning("%s; rebuilding", exc)
            found = None
        if found is not None:
            log.info("using cached TensorRT engine %s", found.engine)
            return found
    target = cache.path_for(key)
    command = shlex.join(plan.to_trtexec_args(target))
    log.info(
        "building TensorRT %s engine for %s (trtexec equivalent: %s)", plan.precision, plan.onnx_path, command
    )
    started = time.monotonic()
    engine = _build_serialized(trt, plan)
    seconds = time.monotonic() - started
    log.info("built %s in %.0f s", target.name, seconds)
    return cache.store(key, engine, {"trtexec": command, "build_seconds": round(seconds, 1)})


def _build_serialized(trt: Any, plan: BuildPlan) -> bytes:
    logger = trt.Logger(trt.Logger.WARNING)
    builder = trt.Builder(logger)
    # TensorRT 10 networks are always explicit-batch; 8.x must ask for it.
    flags = 0 if trt_major(trt) >= 10 else 1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse(plan.onnx_path.read_bytes()):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ArtifactError(f"TensorRT cannot parse {plan.onnx_path}: {errors}")

    config = builder.create_builder_config()
    workspace = plan.workspace_mb << 20
    if hasattr(config, "set_memory_pool_limit"):
        config.set_memory_pool_limit(trt.MemoryPoolType.WORKSPACE, workspace)
    else:  # TensorRT < 8.4
        config.max_workspace_size = workspace

    profile = None
    if plan.dynamic_batch:
        profile = builder.create_optimization_profile()
        shapes = [plan.shape_for(b) for b in plan.batch_profile]
        profile.set_shape(plan.input_name, *shapes)
        config.add_optimization_profile(profile)

    if plan.precision in ("fp16", "int8"):
        if not getattr(builder, "platform_has_fast_fp16", True):
            log.warning("this GPU has no fast fp16; building anyway")
        config.set_flag(trt.BuilderFlag.FP16)
    calibrator = None
    if plan.precision == "int8":
        config.set_flag(trt.BuilderFlag.INT8)
        if not plan.explicit_quantization:
            calibration_batch = _calibration_batch_size(plan)
            calibrator = _calibrator(plan, calibration_batch)
            config.int8_calibrator = calibrator
            if plan.dynamic_batch:  # calibrate at one fixed shape: the calibrator's batch size
                calibration_profile = builder.create_optimization_profile()
                fixed = plan.shape_for(calibration_batch)
                calibration_profile.set_shape(plan.input_name, fixed, fixed, fixed)
                config.set_calibration_profile(calibration_profile)

    if plan.dla_core is not None:
        config.default_device_type = trt.DeviceType.DLA
        config.DLA_core = plan.dla_core
        config.set_flag(trt.BuilderFlag.GPU_FALLBACK)

    if plan.timing_cache is not None:
        data = plan.timing_cache.read_bytes() if plan.timing_cache.is_file() else b""
        config.set_timing_cache(config.create_timing_cache(data), False)

    try:
        serialized = builder.build_serialized_network(network, config)
    finally:
        if calibrator is not None:
            calibrator.free()
    if serialized is None:
        raise InferenceError(f"TensorRT failed to build an engine from {plan.onnx_path}; see its log above")

    if plan.timing_cache is not None:
        plan.timing_cache.parent.mkdir(parents=True, exist_ok=True)
        plan.timing_cache.write_bytes(bytes(config.get_timing_cache().serialize()))
    return bytes(serialized)


def _calibration_batch_size(plan: BuildPlan) -> int:
    """A fixed-batch engine calibrates at its batch; a dynamic one at the plan's calibration batch."""
    return plan.calibration_batch_size if plan.dynamic_batch else plan.max_batch


def _calibrator(plan: BuildPlan, batch_size: int) -> Any:
    if plan.calibration_cache is None:  # BuildPlan refuses this; kept for the type checker
        raise ArtifactError("int8 build without a calibration cache path")
    cache = CalibrationCache(plan.calibration_cache)
    batches = None
    if plan.calibration_images is not None and cache.read() is None:
        if len(plan.sample_shape) != 3:
            raise ArtifactError("image calibration needs a (3, H, W) input")
        batches = CalibrationBatches.from_folder(
            plan.calibration_images,
            batch_size,
            (plan.sample_shape[1], plan.sample_shape[2]),
            max_images=plan.calibration_max_images,
        )
        if len(batches) == 0:
            raise ArtifactError(f"{plan.calibration_images}: fewer than {batch_size} calibration images")
    return make_entropy_calibrator(batches, cache)
