"""BuildPlan: validation, the trtexec equivalent, and plans derived from manifests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from edge.inference.options import TensorRTOptions
from edge.inference.trt_build_plan import BuildPlan
from proto.artifacts import DetectionThresholds, ImageNormalization, ModelManifest, TensorDecl

ONNX = Path("/models/defects.onnx")


def plan(**overrides: Any) -> BuildPlan:
    fields: dict[str, Any] = {"onnx_path": ONNX, "input_name": "images", "sample_shape": (3, 640, 640)}
    fields.update(overrides)
    return BuildPlan(**fields)


@pytest.mark.parametrize(
    ("overrides", "args"),
    [
        (
            {},
            [
                "trtexec",
                "--onnx=/models/defects.onnx",
                "--saveEngine=/e/x.engine",
                "--fp16",
                "--minShapes=images:1x3x640x640",
                "--optShapes=images:1x3x640x640",
                "--maxShapes=images:1x3x640x640",
                "--memPoolSize=workspace:1024",
            ],
        ),
        (
            {"precision": "fp32", "dynamic_batch": False, "workspace_mb": 512},
            [
                "trtexec",
                "--onnx=/models/defects.onnx",
                "--saveEngine=/e/x.engine",
                "--memPoolSize=workspace:512",
            ],
        ),
        (
            {
                "precision": "int8",
                "calibration_cache": Path("/c/defects.calib"),
                "min_batch": 1,
                "opt_batch": 4,
                "max_batch": 8,
                "timing_cache": Path("/c/timing.cache"),
                "dla_core": 0,
            },
            [
                "trtexec",
                "--onnx=/models/defects.onnx",
                "--saveEngine=/e/x.engine",
                "--fp16",
                "--int8",
                "--calib=/c/defects.calib",
                "--minShapes=images:1x3x640x640",
                "--optShapes=images:4x3x640x640",
                "--maxShapes=images:8x3x640x640",
                "--memPoolSize=workspace:1024",
                "--timingCacheFile=/c/timing.cache",
                "--useDLACore=0",
                "--allowGPUFallback",
            ],
        ),
        (
            {"precision": "int8", "explicit_quantization": True, "dynamic_batch": False},
            [
                "trtexec",
                "--onnx=/models/defects.onnx",
                "--saveEngine=/e/x.engine",
                "--fp16",
                "--int8",
                "--memPoolSize=workspace:1024",
            ],
        ),
    ],
    ids=["fp16-dynamic", "fp32-static", "int8-calibrated-dla", "int8-qdq"],
)
def test_trtexec_args(overrides: dict[str, Any], args: list[str]) -> None:
    assert plan(**overrides).to_trtexec_args("/e/x.engine") == args


def test_trtexec_binary_is_configurable() -> None:
    exe = "/usr/src/tensorrt/bin/trtexec"
    assert plan().to_trtexec_args("/e/x.engine", trtexec=exe)[0] == exe


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"min_batch": 2, "opt_batch": 1}, "min <= opt <= max"),
        ({"min_batch": 0}, "min <= opt <= max"),
        ({"dynamic_batch": False, "max_batch": 4}, "one batch size only"),
        ({"sample_shape": (3, 0, 640)}, "positive"),
        ({"sample_shape": ()}, "positive"),
        ({"workspace_mb": 0}, "workspace"),
        ({"dla_core": -1}, "dla_core"),
        ({"precision": "int8"}, "calibration_cache"),
        ({"calibration_batch_size": 0}, "calibration"),
    ],
)
def test_invalid_plans(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        plan(**overrides)


def test_plan_is_frozen_and_shapes() -> None:
    p = plan(opt_batch=2, max_batch=4)
    assert p.batch_profile == (1, 2, 4)
    assert p.shape_for(4) == (4, 3, 640, 640)
    with pytest.raises(AttributeError):
        p.precision = "fp32"  # type: ignore[misc]


def detector(batch: int | str = "batch", precision: str = "fp32", size: int = 640) -> ModelManifest:
    return ModelManifest(
        name="defects",
        version="1.0.0",
        task="detect",
        file="defects.onnx",
        sha256="0" * 64,
        size_bytes=1,
        precision=precision,  # type: ignore[arg-type]
        inputs=(TensorDecl(name="images", shape=(batch, 3, size, size)),),
        outputs=(TensorDecl(name="output0", shape=(batch, 6, 8400)),),
        normalization=ImageNormalization(letterbox_size=(size, size)),
        class_names=("scratch", "dent"),
        thresholds=DetectionThresholds(),
    )


def test_from_manifest_dynamic_batch_uses_options() -> None:
    options = TensorRTOptions(precision="fp16", min_batch=1, opt_batch=2, max_batch=4, workspace_mb=256)
    p = BuildPlan.from_manifest(detector(), ONNX, options)
    assert (p.input_name, p.sample_shape, p.dynamic_batch) == ("images", (3, 640, 640), True)
    assert p.batch_profile == (1, 2, 4)
    assert p.workspace_mb == 256
    assert not p.explicit_quantization


def test_from_manifest_fixed_batch_ignores_option_batches() -> None:
    p = BuildPlan.from_manifest(detector(batch=1, size=320), ONNX, TensorRTOptions(max_batch=8, opt_batch=8))
    assert p.batch_profile == (1, 1, 1)
    assert not p.dynamic_batch
    assert p.sample_shape == (3, 320, 320)


def test_from_manifest_int8_gets_a_calibration_cache_path() -> None:
    options = TensorRTOptions(precision="int8", cache_dir=Path("/var/engines"))
    p = BuildPlan.from_manifest(detector(), ONNX, options)
    assert p.calibration_cache == Path("/var/engines/defects-1.0.0.calib")
    qdq = BuildPlan.from_manifest(detector(precision="int8"), ONNX, options)
    assert qdq.explicit_quantization
    assert qdq.calibration_cache is None


def test_from_manifest_refuses_other_dynamic_axes() -> None:
    manifest = detector().model_copy(
        update={"inputs": (TensorDecl(name="images", shape=("batch", 3, "h", "w")),)}
    )
    with pytest.raises(ValueError, match="only the batch axis"):
        BuildPlan.from_manifest(manifest, ONNX)
