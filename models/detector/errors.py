"""Errors of detector training, evaluation and export; third-party exceptions are translated here.

DetectorError                  base
├── OfflineSetupError          ultralytics cannot be kept off the network (imported too early, no font)
├── DatasetError               data.yaml or a split is missing or malformed
├── ExportError                ONNX export, FP16 conversion or a manifest could not be written
├── QuantizationError          INT8 calibration or quantization failed
└── AgreementError             ultralytics' metrics and the edge path's metrics differ beyond tolerance
"""

from __future__ import annotations


class DetectorError(Exception):
    """Base of all detector training and export errors."""


class OfflineSetupError(DetectorError):
    """Ultralytics could not be configured to stay offline."""


class DatasetError(DetectorError):
    """A dataset description or split is missing or malformed."""


class ExportError(DetectorError):
    """An ONNX file or its manifest could not be produced."""


class QuantizationError(DetectorError):
    """INT8 calibration or quantization failed."""


class AgreementError(DetectorError):
    """Two evaluations of the same model disagree beyond the allowed tolerance."""
