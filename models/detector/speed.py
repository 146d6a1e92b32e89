"""Inference speed of ONNX artifacts on this CPU, measured fairly on a machine shared with others.

Models are timed in interleaved rounds (A, B, A, B, ...) on the same preprocessed images with the
same thread count, so load from other processes hits each model alike; the rate of a model is the
median over its rounds, and its speed-up over a baseline is the median of the per-round ratios.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt

from edge.vision.letterbox import preprocess_batch
from models.detector.evaluation import cpu_backend

Batch = npt.NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class SpeedResult:
    """Images per second of each round, per model, and the settings they were measured with."""

    rates: dict[str, list[float]]
    images: int
    threads: int
    baseline: str

    def median(self, model: str) -> float:
        """Median images/s of a model."""
        return statistics.median(self.rates[model])

    def speedup(self, model: str) -> float:
        """Median over rounds of (model rate / baseline rate)."""
        pairs = zip(self.rates[self.baseline], self.rates[model], strict=True)
        return statistics.median(m / b for b, m in pairs)


def load_batches(images: Sequence[Path], size: tuple[int, int]) -> list[Batch]:
    """One preprocessed batch of one image per file (the edge's letterbox and scaling)."""
    batches = []
    for path in images:
        frame = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if frame is None:
            raise FileNotFoundError(f"cannot read image {path}")
        batches.append(preprocess_batch([np.asarray(frame, np.uint8)], size)[0])
    return batches


def images_per_second(manifest: Path, batches: Sequence[Batch], threads: int, warmup: int = 5) -> float:
    """Inference-only images/s of one pass over `batches` through the edge ONNX Runtime backend."""
    with cpu_backend(manifest, threads) as backend:
        name = backend.input_specs[0].name
        for batch in batches[:warmup]:
            backend.run({name: batch})
        start = time.perf_counter()
        for batch in batches:
            backend.run({name: batch})
        return len(batches) / (time.perf_counter() - start)


def interleaved(
    models: Mapping[str, Path], batches: Sequence[Batch], *, threads: int = 2, rounds: int = 5
) -> SpeedResult:
    """Time every model once per round, round after round; the first model is the baseline."""
    if not models:
        raise ValueError("nothing to time")
    rates: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(rounds):
        for key, manifest in models.items():
            rates[key].append(images_per_second(manifest, batches, threads))
    return SpeedResult(rates=rates, images=len(batches), threads=threads, baseline=next(iter(models)))
