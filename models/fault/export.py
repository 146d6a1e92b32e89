"""ONNX export of the fault predictor, its int8 variants, the parity check and the manifest.

The ONNX graph takes normalized windows ``windows[batch, time, channels]`` (layout NTC, batch
dynamic, time and channels fixed) and returns ``fail_prob[batch]``, ``fault_probs[batch, K]`` and
``rul_s[batch]``. It is exported with the TorchScript exporter (``dynamo=False``), which writes the
recurrent layer as one ONNX ``LSTM`` node that ONNX Runtime runs with its fused kernel and that
``quantize_dynamic`` turns into ``DynamicQuantizeLSTM``.

Two int8 variants are measured: dynamic (int8 weights of LSTM and MatMul, activations quantized on
the fly) and static QDQ (MatMul/Gemm with activation ranges calibrated on validation windows; the
LSTM stays float because static quantization does not cover it). The manifest carries what the edge
needs; two values the schema has no field for yet travel in ``metrics``: ``feature_step_s`` (the
time one feature row covers) and ``alarm_min_duration_s`` (the alarm dwell).
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from numpy.typing import NDArray

from models.fault.errors import ExportError, ParityError
from models.fault.evaluate import Outputs, Predictor
from models.fault.model import EdgeOutputs, FaultPredictor
from proto.artifacts import (
    AlarmThresholds,
    ModelManifest,
    ParentArtifact,
    SeriesNormalization,
    TensorDecl,
    file_digest,
    manifest_path_for,
    save_manifest,
)

log = logging.getLogger(__name__)

OPSET = 17
INPUT_NAME = "windows"
INPUT_LAYOUT = "NTC"
MODEL_NAME = "fault-lstm"
FP32_FILE = "fault_lstm.onnx"
INT8_FILE = "fault_lstm_int8.onnx"
PROB_ATOL = 1e-4
RUL_ATOL_SHARE = 1e-4  # of the RUL cap


def export_onnx(model: FaultPredictor, path: Path, window: int) -> Path:
    """Write the fp32 ONNX file with a dynamic batch axis."""
    wrapper = EdgeOutputs(model).eval()
    example = torch.zeros(2, window, model.config.n_features)
    names = list(EdgeOutputs.OUTPUT_NAMES)
    axes = {INPUT_NAME: {0: "batch"}, **{name: {0: "batch"} for name in names}}
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with warnings.catch_warnings():
            # The TorchScript exporter is deprecated but writes the single fused LSTM node we want;
            # its batch-size warning does not apply: h0/c0 are built from the input's batch size.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*batch_size other than 1.*")
            warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)  # nn.LSTM's shape checks
            torch.onnx.export(
                wrapper,
                (example,),
                str(path),
                input_names=[INPUT_NAME],
                output_names=names,
                dynamic_axes=axes,
                opset_version=OPSET,
                dynamo=False,
            )
    except Exception as exc:  # torch raises many unrelated types from the exporter
        raise ExportError(f"torch.onnx.export failed for {path}: {exc}") from exc
    return path


def quantize_dynamic_int8(source: Path, target: Path) -> Path:
    """int8 weights for LSTM and MatMul, activations quantized at run time."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    try:
        quantize_dynamic(source, target, op_types_to_quantize=["LSTM", "MatMul"], weight_type=QuantType.QInt8)
    except Exception as exc:
        raise ExportError(f"dynamic quantization of {source} failed: {exc}") from exc
    return target


def quantize_static_int8(
    source: Path, target: Path, calibration: NDArray[np.float32], batch: int = 256
) -> Path:
    """QDQ int8 for MatMul/Gemm with activation ranges from ``calibration`` windows (LSTM stays fp32)."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self._batches: Iterator[dict[str, NDArray[np.float32]]] = (
                {INPUT_NAME: calibration[i : i + batch]} for i in range(0, len(calibration), batch)
            )

        def get_next(self) -> dict[str, NDArray[np.float32]] | None:
            return next(self._batches, None)

    try:
        quantize_static(
            source,
            target,
            Reader(),
            quant_format=QuantFormat.QDQ,
            op_types_to_quantize=["MatMul", "Gemm"],
            activation_type=QuantType.QInt8,
            weight_type=QuantType.QInt8,
        )
    except Exception as exc:
        raise ExportError(f"static quantization of {source} failed: {exc}") from exc
    return target


def onnx_predictor(path: Path, threads: int = 1) -> Predictor:
    """A predictor running an ONNX file on ONNX Runtime's CPU provider."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ExportError(f"ONNX Runtime cannot load {path}: {exc}") from exc

    def run(windows: NDArray[np.float32]) -> Outputs:
        fail, fault, rul = session.run(None, {INPUT_NAME: np.ascontiguousarray(windows, dtype=np.float32)})
        return fail, fault, rul

    return run


def edge_predictor(manifest_path: Path, threads: int = 1) -> Predictor:
    """A predictor running an artifact through the edge's own backend (manifest and sha256 checked)."""
    from edge.inference.errors import InferenceError
    from edge.inference.factory import open_backend
    from edge.inference.options import BackendOptions, OrtOptions

    options = BackendOptions(
        onnxruntime=OrtOptions(
            providers=("CPUExecutionProvider",), intra_op_threads=threads, inter_op_threads=1
        )
    )
    try:
        backend = open_backend(manifest_path, kind="onnxruntime", options=options)
    except InferenceError as exc:
        raise ExportError(f"the edge backend refuses {manifest_path}: {exc}") from exc

    def run(windows: NDArray[np.float32]) -> Outputs:
        out = backend.run({INPUT_NAME: np.ascontiguousarray(windows, dtype=np.float32)})
        return out["fail_prob"], out["fault_probs"], out["rul_s"]

    return run


def torch_predictor(model: FaultPredictor) -> Predictor:
    """A predictor running the torch model (eval mode, no gradients)."""
    wrapper = EdgeOutputs(model).eval()

    def run(windows: NDArray[np.float32]) -> Outputs:
        with torch.no_grad():
            fail, fault, rul = wrapper(torch.from_numpy(np.ascontiguousarray(windows, dtype=np.float32)))
        return fail.numpy(), fault.numpy(), rul.numpy()

    return run


def output_differences(reference: Outputs, candidate: Outputs, rul_cap_s: float) -> dict[str, float]:
    """Largest absolute differences: fail probability, class probabilities, RUL as a share of the cap."""
    return {
        "fail_prob": float(np.max(np.abs(reference[0] - candidate[0]))),
        "fault_probs": float(np.max(np.abs(reference[1] - candidate[1]))),
        "rul_share": float(np.max(np.abs(reference[2] - candidate[2]))) / rul_cap_s,
    }


def check_parity(reference: Outputs, candidate: Outputs, rul_cap_s: float, what: str) -> dict[str, float]:
    """Raise ParityError if ``candidate`` is farther from ``reference`` than the fp32 tolerances."""
    diffs = output_differences(reference, candidate, rul_cap_s)
    limits = {"fail_prob": PROB_ATOL, "fault_probs": PROB_ATOL, "rul_share": RUL_ATOL_SHARE}
    off = {k: v for k, v in diffs.items() if v > limits[k]}
    if off:
        raise ParityError(f"{what} differs from torch beyond tolerance: {off} (limits {limits})")
    return diffs


def throughput(predictor: Predictor, windows: NDArray[np.float32], repeats: int = 5) -> float:
    """Windows per second of one batched call (best of ``repeats`` after a warm-up)."""
    predictor(windows)
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        predictor(windows)
        best = min(best, time.perf_counter() - started)
    return windows.shape[0] / best


def build_manifest(
    onnx_path: Path,
    *,
    version: str,
    precision: str,
    window: int,
    stride: int,
    channel_names: Sequence[str],
    mean: NDArray[np.float32],
    std: NDArray[np.float32],
    class_names: Sequence[str],
    enter: float,
    exit_: float,
    metrics: dict[str, float],
    command: str,
    training_data: str,
    parent: ModelManifest | None = None,
) -> ModelManifest:
    """The manifest of one ONNX file (digest and size read from disk)."""
    digest, size = file_digest(onnx_path)
    n_features, n_classes = len(channel_names), len(class_names)
    fields: dict[str, Any] = {
        "name": MODEL_NAME,
        "version": version,
        "task": "fault",
        "file": onnx_path.name,
        "sha256": digest,
        "size_bytes": size,
        "precision": precision,
        "opset": OPSET,
        "inputs": (TensorDecl(name=INPUT_NAME, shape=("batch", window, n_features), layout=INPUT_LAYOUT),),
        "outputs": (
            TensorDecl(name="fail_prob", shape=("batch",), layout="N"),
            TensorDecl(name="fault_probs", shape=("batch", n_classes), layout="NK"),
            TensorDecl(name="rul_s", shape=("batch",), layout="N"),
        ),
        "normalization": SeriesNormalization(
            channel_names=tuple(channel_names),
            mean=tuple(float(v) for v in mean),
            std=tuple(float(v) for v in std),
            window_length=window,
            stride=stride,
        ),
        "class_names": tuple(class_names),
        "thresholds": AlarmThresholds(enter=enter, exit=exit_),
        "metrics": metrics,
        "command": command,
        "training_data": training_data,
    }
    if parent is not None:
        fields["parent"] = ParentArtifact(name=parent.name, version=parent.version, sha256=parent.sha256)
    try:
        return ModelManifest(**fields)
    except ValueError as exc:
        raise ExportError(f"manifest for {onnx_path.name} does not validate: {exc}") from exc


def write_manifest(manifest: ModelManifest, onnx_path: Path) -> Path:
    """Save ``<stem>.manifest.json`` beside the ONNX file."""
    try:
        return save_manifest(manifest, manifest_path_for(onnx_path))
    except OSError as exc:
        raise ExportError(f"cannot write the manifest of {onnx_path}: {exc}") from exc
