"""Errors of the inference layer; runtime exceptions are translated here at each adapter.

InferenceError                 base; `retriable` says whether trying again may help
├── BackendUnavailable         runtime, provider or GPU missing (not retriable: pick another backend)
├── ArtifactError              ONNX/engine file missing, corrupt or not what its manifest says
├── EngineMismatch             a cached TensorRT engine built for another GPU / TensorRT / precision /
│                              ONNX; it is refused, never loaded (rebuild it)
├── InputShapeError            a batch that does not fit the model's inputs (a caller bug)
└── ExecutionError             the runtime failed while running a batch (retriable)
"""

from __future__ import annotations


class InferenceError(Exception):
    """Base of all inference errors."""

    retriable: bool = False


class BackendUnavailable(InferenceError):
    """The requested runtime cannot be used here (not installed, no GPU, provider missing)."""


class ArtifactError(InferenceError):
    """A model file is missing, corrupt, or does not match its manifest."""


class EngineMismatch(InferenceError):
    """A TensorRT engine was built for another device, TensorRT version, precision or ONNX file."""


class InputShapeError(InferenceError):
    """The inputs handed to `run` do not match the model's input specs."""


class ExecutionError(InferenceError):
    """The runtime failed during a run; the same batch may succeed on a retry."""

    retriable = True
