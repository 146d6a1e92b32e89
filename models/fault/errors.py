"""Errors of the fault predictor's training side.

    FaultModelError
    ├── DatasetError       a twin export is missing, malformed or too small for the requested windows
    ├── TrainingError      training could not start or produced no usable model (e.g. no positives)
    └── ExportError        ONNX export, quantization or the manifest failed
        └── ParityError    the exported model disagrees with torch beyond the tolerance

Third-party exceptions (OSError, onnx, onnxruntime) are translated here with ``raise ... from exc``.
None of these is retriable: each one means the inputs or the code need a change.
"""

from __future__ import annotations


class FaultModelError(Exception):
    """Base of every fault-predictor error."""

    retriable: bool = False


class DatasetError(FaultModelError):
    """The time-series export cannot be turned into windows."""


class TrainingError(FaultModelError):
    """Training cannot proceed or its result is unusable."""


class ExportError(FaultModelError):
    """The ONNX file, its quantized variant or the manifest could not be produced."""


class ParityError(ExportError):
    """ONNX Runtime outputs differ from torch outputs beyond the tolerance."""
