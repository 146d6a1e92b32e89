"""What a TensorRT engine build needs, as one pure record, and the same plan as a `trtexec` command.

A plan describes a single-input model whose only dynamic axis is the batch: the YOLOv8 detector
(3 x H x W) and the fault LSTM (T x C) both fit. The Python builder (`trt_builder.build_engine`)
and `trtexec` get the same settings; the trtexec line is logged with every build and stored in the
engine's metadata, so an engine can be rebuilt (or compared) by hand on a device.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from edge.inference.options import TensorRTOptions
from proto.artifacts import ModelManifest

Precision = Literal["fp32", "fp16", "int8"]


@dataclass(frozen=True, slots=True)
class BuildPlan:
    """ONNX file, precision, batch profile, workspace and caches of one engine build."""

    onnx_path: Path
    input_name: str
    sample_shape: tuple[int, ...]  # input shape without the batch axis, e.g. (3, 640, 640)
    precision: Precision = "fp16"
    dynamic_batch: bool = True  # whether the ONNX batch axis is dynamic
    min_batch: int = 1
    opt_batch: int = 1
    max_batch: int = 1
    workspace_mb: int = 1024
    dla_core: int | None = None
    explicit_quantization: bool = False  # int8 ONNX with Q/DQ nodes: no calibrator needed
    calibration_cache: Path | None = None
    calibration_images: Path | None = None
    calibration_batch_size: int = 8
    calibration_max_images: int = 512
    timing_cache: Path | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.min_batch <= self.opt_batch <= self.max_batch:
            raise ValueError(f"need 1 <= min <= opt <= max batch, got {self.batch_profile}")
        if not self.dynamic_batch and self.min_batch != self.max_batch:
            raise ValueError(f"the ONNX batch axis is fixed; one batch size only, got {self.batch_profile}")
        if not self.sample_shape or any(d <= 0 for d in self.sample_shape):
            raise ValueError(f"sample_shape must be positive sizes, got {self.sample_shape}")
        if self.workspace_mb <= 0:
            raise ValueError("workspace_mb must be positive")
        if self.dla_core is not None and self.dla_core < 0:
            raise ValueError("dla_core must be >= 0")
        if self.precision == "int8" and not self.explicit_quantization and self.calibration_cache is None:
            raise ValueError("an int8 build needs a calibration_cache path (read if there, else written)")
        if self.calibration_batch_size <= 0 or self.calibration_max_images <= 0:
            raise ValueError("calibration batch size and image count must be positive")

    @property
    def batch_profile(self) -> tuple[int, int, int]:
        """(min, opt, max) batch sizes."""
        return self.min_batch, self.opt_batch, self.max_batch

    def shape_for(self, batch: int) -> tuple[int, ...]:
        """The full input shape for a batch size."""
        return (batch, *self.sample_shape)

    def to_trtexec_args(self, engine_path: str | Path, trtexec: str = "trtexec") -> list[str]:
        """The same build as a trtexec argument list (`shlex.join` it to print)."""
        args = [trtexec, f"--onnx={self.onnx_path}", f"--saveEngine={engine_path}"]
        if self.precision in ("fp16", "int8"):
            args.append("--fp16")  # int8 builds let TensorRT fall back to fp16, as the Python builder does
        if self.precision == "int8":
            args.append("--int8")
            if not self.explicit_quantization and self.calibration_cache is not None:
                args.append(f"--calib={self.calibration_cache}")
        if self.dynamic_batch:
            for flag, batch in zip(("min", "opt", "max"), self.batch_profile, strict=True):
                dims = "x".join(str(d) for d in self.shape_for(batch))
                args.append(f"--{flag}Shapes={self.input_name}:{dims}")
        # A bare number is MiB for trtexec 8.6 and 10 alike (10 also takes an M suffix; 8.6 may not).
        args.append(f"--memPoolSize=workspace:{self.workspace_mb}")
        if self.timing_cache is not None:
            args.append(f"--timingCacheFile={self.timing_cache}")
        if self.dla_core is not None:
            args += [f"--useDLACore={self.dla_core}", "--allowGPUFallback"]
        return args

    @classmethod
    def from_manifest(
        cls, manifest: ModelManifest, onnx_path: str | Path, options: TensorRTOptions | None = None
    ) -> BuildPlan:
        """A plan for a manifest's ONNX file with the device's TensorRT options."""
        options = options or TensorRTOptions()
        if len(manifest.inputs) != 1:
            raise ValueError(f"{manifest.name}: engine plans cover single-input models only")
        decl = manifest.inputs[0]
        rest = decl.shape[1:]
        if not all(isinstance(d, int) and d > 0 for d in rest):
            raise ValueError(f"{manifest.name}: only the batch axis may be dynamic, input shape {decl.shape}")
        sample_shape = tuple(int(d) for d in rest)
        dynamic = 0 in decl.dynamic_axes
        explicit = manifest.precision == "int8"
        calibration_cache = options.calibration_cache
        if options.precision == "int8" and calibration_cache is None and not explicit:
            calibration_cache = options.cache_dir / f"{manifest.name}-{manifest.version}.calib"
        return cls(
            onnx_path=Path(onnx_path),
            input_name=decl.name,
            sample_shape=sample_shape,
            precision=options.precision,
            dynamic_batch=dynamic,
            workspace_mb=options.workspace_mb,
            dla_core=options.dla_core,
            explicit_quantization=explicit,
            calibration_cache=calibration_cache,
            calibration_images=options.calibration_images,
            timing_cache=options.timing_cache,
            **_batches(dynamic, decl.shape[0], options),
        )


def _batches(dynamic: bool, dim: int | str, options: TensorRTOptions) -> dict[str, int]:
    if not dynamic:
        fixed = int(dim)
        return {"min_batch": fixed, "opt_batch": fixed, "max_batch": fixed}
    return {"min_batch": options.min_batch, "opt_batch": options.opt_batch, "max_batch": options.max_batch}
