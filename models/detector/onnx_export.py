"""ONNX files from a trained checkpoint: FP32 static, FP32 dynamic-batch, FP16 (for GPUs).

The FP32 graph comes from ultralytics' exporter (torch -> ONNX at the given opset, slimmed with
onnxslim), input `images` float32 [1, 3, S, S] RGB 0-1, output `output0` [1, 4 + nc, anchors]: centre
boxes in input pixels and per-class sigmoid scores, no NMS. The dynamic-batch variant is exported
with ultralytics' dynamic axes (batch, height, width) and then has height and width pinned back to
S, so only the batch axis stays dynamic (what a TensorRT optimisation profile over batch wants).
The FP16 file converts weights and activations to float16 and keeps float32 inputs and outputs,
so the same preprocessing and NMS serve every precision.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path
from typing import Any

from models.detector.errors import ExportError
from models.detector.offline import DEFAULT_CONFIG_DIR, configure_offline

log = logging.getLogger(__name__)

DEFAULT_OPSET = 17
INPUT_NAME = "images"
OUTPUT_NAME = "output0"


def _ultralytics_export(weights: Path, imgsz: int, opset: int, dynamic: bool, config_dir: Path) -> Path:
    configure_offline(config_dir)
    from ultralytics import YOLO

    try:
        exported = YOLO(str(weights), task="detect").export(
            format="onnx", imgsz=imgsz, opset=opset, simplify=True, dynamic=dynamic, batch=1, device="cpu"
        )
    except Exception as exc:  # the exporter raises whatever torch.onnx or onnxslim raised
        raise ExportError(f"ultralytics could not export {weights} to ONNX: {exc}") from exc
    if not exported or not Path(exported).is_file():
        raise ExportError(f"ultralytics exported nothing for {weights}")
    return Path(exported)


def export_fp32(
    weights: Path,
    out: Path,
    imgsz: int,
    *,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = False,
    config_dir: Path = DEFAULT_CONFIG_DIR,
) -> Path:
    """Export `weights` (.pt) to an FP32 ONNX file at `out` (static, or with a dynamic batch axis)."""
    exported = _ultralytics_export(weights, imgsz, opset, dynamic_batch, config_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    if dynamic_batch:
        pin_spatial_dims(exported, out, imgsz)
        exported.unlink(missing_ok=True)
    else:
        shutil.move(str(exported), out)
    log.info("exported %s (opset %d%s)", out, opset, ", dynamic batch" if dynamic_batch else "")
    return out


def pin_spatial_dims(source: Path, out: Path, imgsz: int) -> Path:
    """Fix height and width of a dynamic-shape YOLO ONNX to `imgsz`, keep a symbolic `batch`; slim it."""
    import onnx
    import onnxslim

    model = onnx.load(str(source))
    n_out = _dims(model.graph.output[0])[1]
    anchors = sum((imgsz // s) ** 2 for s in (8, 16, 32))
    targets: tuple[tuple[Any, list[int | str]], ...] = (
        (model.graph.input[0], ["batch", 3, imgsz, imgsz]),
        (model.graph.output[0], ["batch", n_out, anchors]),
    )
    for value, dims in targets:
        shape = value.type.tensor_type.shape
        for dim, new in zip(shape.dim, dims, strict=True):
            if isinstance(new, int):
                dim.ClearField("dim_param")
                dim.dim_value = new
            else:
                dim.ClearField("dim_value")
                dim.dim_param = new
    try:
        model = onnxslim.slim(model)
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ExportError(f"could not pin the spatial dims of {source}: {exc}") from exc
    onnx.save(model, str(out))
    return out


def _dims(value: Any) -> list[int | str]:
    return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]


def convert_fp16(source: Path, out: Path) -> Path:
    """An FP16 copy of an FP32 ONNX file with float32 inputs and outputs kept (casts at the edges)."""
    import onnx
    import onnxslim
    from onnxruntime.transformers.float16 import convert_float_to_float16

    try:
        model = convert_float_to_float16(onnx.load(str(source)), keep_io_types=True)
        model = onnxslim.slim(model)  # the converter appends its input casts last: re-sort the graph
        onnx.checker.check_model(model)
    except Exception as exc:
        raise ExportError(f"could not convert {source} to FP16: {exc}") from exc
    onnx.save(model, str(out))
    return out


def io_shapes(path: Path) -> tuple[tuple[str, list[int | str]], tuple[str, list[int | str]], int]:
    """(input name, dims), (output name, dims) and the default-domain opset of an ONNX file."""
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)
    first_in, first_out = model.graph.input[0], model.graph.output[0]
    return (first_in.name, _dims(first_in)), (first_out.name, _dims(first_out)), opset
