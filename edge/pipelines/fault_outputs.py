"""What a fault model's outputs mean: any-fault probability, fault class, remaining useful life.

The manifest names the outputs; they are recognized by name and shape (case-insensitive):

* a name with "rul"                                     → remaining useful life in seconds [B] or [B, 1]
* last dimension == number of class names (> 1)         → per-class scores [B, K]; softmax if the
                                                           name says "logit", else taken as probabilities
* a name with "prob" or "fault" and one value per item   → any-fault probability [B] or [B, 1];
                                                           sigmoid if the name says "logit"

Without an any-fault output, the probability is 1 − p(normal) from the class scores (the class
named normal/none/healthy, else class 0). The fault type is the most likely class, "normal" for the
no-fault class. Pure code.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.errors import PipelineError
from edge.inference.base import TensorSpec
from proto.artifacts import ModelManifest

NORMAL = "normal"
NORMAL_NAMES = frozenset({"normal", "none", "healthy", "ok"})
"""Class names that mean "no fault"; the prediction's fault_type is "normal" for them."""


@dataclass(frozen=True, slots=True)
class FaultScore:
    """The model's verdict on one window."""

    probability: float
    fault_type: str
    class_probabilities: Mapping[str, float]
    rul_s: float | None


@dataclass(frozen=True, slots=True)
class OutputMap:
    """Which output carries what, and whether it needs a sigmoid or softmax."""

    probability: str | None
    probability_logit: bool
    classes: str | None
    classes_logit: bool
    rul: str | None
    class_names: tuple[str, ...]

    @classmethod
    def from_specs(cls, specs: Sequence[TensorSpec], class_names: Sequence[str]) -> OutputMap:
        """Recognize the outputs of a backend (names and shapes) for these class names."""
        names = tuple(class_names)
        probability = classes = rul = None
        for spec in specs:
            lower = spec.name.lower()
            last = spec.shape[-1] if len(spec.shape) > 1 else 1
            if "rul" in lower and rul is None:
                rul = spec.name
            elif len(names) > 1 and last == len(names) and classes is None:
                classes = spec.name
            elif last in (1, None) and ("prob" in lower or "fault" in lower) and probability is None:
                probability = spec.name
        if probability is None and classes is None:
            raise PipelineError(
                f"no output gives a fault probability: outputs {[s.name for s in specs]}, classes {names}"
            )
        return cls(
            probability=probability,
            probability_logit=probability is not None and "logit" in probability.lower(),
            classes=classes,
            classes_logit=classes is not None and "logit" in classes.lower(),
            rul=rul,
            class_names=names,
        )

    @classmethod
    def from_manifest(cls, manifest: ModelManifest) -> OutputMap:
        """The same, from the outputs a manifest declares."""
        specs = [
            TensorSpec(o.name, tuple(d if isinstance(d, int) and d > 0 else None for d in o.shape))
            for o in manifest.outputs
        ]
        return cls.from_specs(specs, manifest.class_names)


def sigmoid(x: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Logistic function, overflow-safe."""
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-np.logaddexp(0.0, -x))


def softmax(x: npt.NDArray[Any]) -> npt.NDArray[np.float64]:
    """Softmax over the last axis."""
    x = np.asarray(x, dtype=np.float64)
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def interpret(outputs: Mapping[str, npt.NDArray[Any]], mapping: OutputMap, batch: int) -> list[FaultScore]:
    """One FaultScore per window from the raw outputs of a batch."""
    classes: npt.NDArray[np.float64] | None = None
    if mapping.classes is not None:
        raw = np.asarray(outputs[mapping.classes], dtype=np.float64).reshape(batch, -1)
        classes = softmax(raw) if mapping.classes_logit else np.clip(raw, 0.0, 1.0)
    if mapping.probability is not None:
        raw_p = np.asarray(outputs[mapping.probability], dtype=np.float64).reshape(batch)
        probability = sigmoid(raw_p) if mapping.probability_logit else raw_p
    elif classes is not None:
        names = mapping.class_names
        normal = next((k for k, name in enumerate(names) if name in NORMAL_NAMES), 0)
        probability = 1.0 - classes[:, normal]
    else:  # from_specs refuses this
        raise PipelineError("no fault probability output")
    probability = np.nan_to_num(np.clip(probability, 0.0, 1.0), nan=0.0)
    rul = None
    if mapping.rul is not None:
        rul = np.asarray(outputs[mapping.rul], dtype=np.float64).reshape(batch)
    scores = []
    for i in range(batch):
        if classes is not None:
            per_class = {name: float(classes[i, k]) for k, name in enumerate(mapping.class_names)}
            fault_type = mapping.class_names[int(np.argmax(classes[i]))]
            fault_type = NORMAL if fault_type in NORMAL_NAMES else fault_type
        else:
            per_class = {}
            fault_type = "fault" if probability[i] >= 0.5 else NORMAL
        rul_s = None
        if rul is not None and np.isfinite(rul[i]):
            rul_s = max(0.0, float(rul[i]))
        scores.append(FaultScore(float(probability[i]), fault_type, per_class, rul_s))
    return scores
