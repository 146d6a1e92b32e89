"""Static INT8 quantization of the detector for ONNX Runtime on CPU: QDQ, per-channel, calibrated.

Why some nodes stay in float: YOLOv8's head ends by joining box coordinates (0 to the input size,
in pixels) and class scores (0-1) in one Concat. One INT8 scale over that tensor rounds every score
to zero (mAP 0). The same goes, more mildly, for the DFL softmax -> expected-distance conv and the
anchor arithmetic (Sub/Add/Div/Mul by stride): they decode positions, where a quantization step
is a fraction of a pixel times the stride. These ops are cheap, so keeping them in float costs
little time. The recipes below differ in how much of the head they keep in float
(`head_float_nodes`); everything else (backbone, neck, the head's conv towers) is INT8.

The pipeline: ONNX Runtime's `quant_pre_process` (shape inference and basic graph optimization)
-> `quantize_static` in QDQ format with the recipe's options, calibrated on training images
preprocessed exactly as the edge does (`edge.vision.letterbox.preprocess_batch`).
"""

from __future__ import annotations

import logging
import re
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import cv2
import numpy as np

from edge.vision.letterbox import preprocess_batch
from models.detector.errors import QuantizationError

log = logging.getLogger(__name__)

Calibration = Literal["minmax", "entropy", "percentile"]
FloatRegion = Literal["none", "decode", "head-post", "head-post+out-conv", "all-but-conv"]

_HEAD = re.compile(r"^/(model\.\d+)/")
_TOWER = re.compile(r"/cv[23]\.\d+/")  # the head's box (cv2) and class (cv3) conv towers
_OUT_CONV = re.compile(r"/cv[23]\.\d+\.2/Conv$")  # the last 1x1 conv of each tower


@dataclass(frozen=True, slots=True)
class QuantRecipe:
    """One way to quantize: which head nodes stay float, and the quantizer's options."""

    name: str
    float_region: FloatRegion = "head-post"
    per_channel: bool = True
    reduce_range: bool = False
    activation_symmetric: bool = False
    calibration: Calibration = "minmax"
    percentile: float = 99.999
    preprocess: bool = True  # quant_pre_process: shape inference and ORT graph optimization first

    def describe(self) -> dict[str, Any]:
        """The recipe as plain values (for manifests and reports)."""
        return asdict(self)


RECIPES: dict[str, QuantRecipe] = {
    r.name: r
    for r in (
        QuantRecipe("whole-graph", float_region="none"),
        QuantRecipe("decode-float", float_region="decode"),
        QuantRecipe("head-post-float", float_region="head-post"),
        QuantRecipe("head-post-float-tensor", float_region="head-post", per_channel=False),
        QuantRecipe("head-post-float-percentile", float_region="head-post", calibration="percentile"),
        QuantRecipe("head-post-float-entropy", float_region="head-post", calibration="entropy"),
        QuantRecipe("head-post-float-symmetric", float_region="head-post", activation_symmetric=True),
        QuantRecipe("head-post-float-reduce-range", float_region="head-post", reduce_range=True),
        QuantRecipe("head-out-conv-float", float_region="head-post+out-conv"),
        QuantRecipe("head-post-float-no-preprocess", float_region="head-post", preprocess=False),
        # what ultralytics' own `export(format="onnx", quantize=8)` does: only Conv/Gemm/MatMul in INT8
        QuantRecipe("conv-only", float_region="all-but-conv"),
    )
}
DEFAULT_RECIPE = "head-post-float"


def detect_head_prefix(output_producer: str) -> str:
    """The `/model.N/` prefix of the Detect head: the module of the node that writes the output."""
    match = _HEAD.match(output_producer)
    if match is None:
        raise QuantizationError(f"cannot find the Detect head: output written by {output_producer!r}")
    return f"/{match.group(1)}/"


def head_float_nodes(node_names: Sequence[str], output_producer: str, region: FloatRegion) -> list[str]:
    """Names of the nodes to keep in float for a region of the head (see the module docstring).

    - none: nothing (the whole graph INT8; scores collapse to 0);
    - decode: the DFL and the anchor/stride arithmetic, the class Sigmoid and the final Concat;
    - head-post: everything in the head outside the conv towers (also the per-level Reshape/Concat);
    - head-post+out-conv: and the last 1x1 conv of every tower (the raw box logits and class logits);
    - all-but-conv: every node except Conv/Gemm/MatMul (ultralytics' own ONNX INT8 policy).
    """
    if region == "none":
        return []
    if region == "all-but-conv":
        raise ValueError("all-but-conv needs op types: use float_node_names")
    prefix = detect_head_prefix(output_producer)
    head = [n for n in node_names if n.startswith(prefix)]
    post = [n for n in head if not _TOWER.search(n)]
    if region == "decode":  # drop the per-level glue: Reshape.._5 of the tower outputs, Concat, Concat_1
        glue = re.compile(re.escape(prefix) + r"(Reshape(_[1-5])?|Concat(_1)?)$")
        return [n for n in post if not glue.match(n)]
    if region == "head-post":
        return post
    return post + [n for n in head if _OUT_CONV.search(n)]


def float_node_names(model_path: Path, region: FloatRegion) -> list[str]:
    """`head_float_nodes` for an ONNX file."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    if region == "all-but-conv":
        return sorted(n.name for n in graph.node if n.op_type not in {"Conv", "Gemm", "MatMul"})
    output = graph.output[0].name
    producer = next((n.name for n in graph.node if output in n.output), "")
    return sorted(set(head_float_nodes([n.name for n in graph.node], producer, region)))


class CalibrationImages:
    """ONNX Runtime calibration reader: images letterboxed and scaled as on the edge, one per batch."""

    def __init__(self, images: Sequence[Path], input_name: str, imgsz: int) -> None:
        if not images:
            raise QuantizationError("calibration needs at least one image")
        self.images, self.input_name, self.imgsz = list(images), input_name, imgsz
        self._iter: Iterator[Path] = iter(self.images)

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next calibration input, None at the end."""
        path = next(self._iter, None)
        if path is None:
            return None
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise QuantizationError(f"cannot read calibration image {path}")
        batch, _ = preprocess_batch([np.asarray(frame, np.uint8)], (self.imgsz, self.imgsz))
        return {self.input_name: batch}

    def rewind(self) -> None:
        """Start over (some calibrators make two passes)."""
        self._iter = iter(self.images)

    def __len__(self) -> int:
        return len(self.images)


def _reader(images: Sequence[Path], input_name: str, imgsz: int) -> Any:
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationImages, CalibrationDataReader):  # ORT checks isinstance
        pass

    return Reader(images, input_name, imgsz)


def _dynamic_batch(model_path: Path) -> bool:
    """Whether the model's first input has a symbolic (or unknown) batch dimension."""
    import onnx

    model = onnx.load(str(model_path), load_external_data=False)
    dim = model.graph.input[0].type.tensor_type.shape.dim[0]
    return not dim.HasField("dim_value")


def quantize_int8(
    fp32: Path,
    out: Path,
    calibration_images: Sequence[Path],
    imgsz: int,
    recipe: QuantRecipe,
    *,
    input_name: str = "images",
) -> list[str]:
    """Write a QDQ INT8 model of `fp32` to `out` following `recipe`; return the nodes kept in float."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    methods = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="quant-") as tmp:
        source = fp32
        if recipe.preprocess:
            source = Path(tmp) / "preprocessed.onnx"
            try:
                # ORT's symbolic shape inference gives up on the dynamic batch axis (the head's
                # Reshape); ONNX's own shape inference and the graph optimisation still run
                quant_pre_process(str(fp32), str(source), skip_symbolic_shape=_dynamic_batch(fp32))
            except Exception as exc:
                raise QuantizationError(f"quant_pre_process failed on {fp32}: {exc}") from exc
        exclude = float_node_names(source, recipe.float_region)
        extra: dict[str, Any] = {
            "ActivationSymmetric": recipe.activation_symmetric,
            "WeightSymmetric": True,
        }
        if recipe.calibration == "percentile":
            extra["CalibPercentile"] = recipe.percentile
        log.info(
            "quantizing %s with %s on %d images, %d nodes kept in float",
            fp32.name,
            recipe.name,
            len(calibration_images),
            len(exclude),
        )
        try:
            quantize_static(
                str(source),
                str(out),
                _reader(calibration_images, input_name, imgsz),
                quant_format=QuantFormat.QDQ,
                per_channel=recipe.per_channel,
                reduce_range=recipe.reduce_range,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                nodes_to_exclude=exclude,
                calibrate_method=methods[recipe.calibration],
                extra_options=extra,
            )
        except Exception as exc:  # onnxruntime raises plain exceptions of many kinds here
            raise QuantizationError(f"quantize_static failed for {fp32} ({recipe.name}): {exc}") from exc
    return exclude


def calibration_subset(images: Sequence[Path], n: int, seed: int = 0) -> list[Path]:
    """`n` images spread over a split (a fixed random draw, sorted), for calibration."""
    if n >= len(images):
        return list(images)
    rng = np.random.default_rng(seed)
    picked = rng.choice(len(images), size=n, replace=False)
    return [images[i] for i in sorted(picked.tolist())]
