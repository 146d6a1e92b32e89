"""The baseline the LSTM has to beat: gradient-boosted trees on hand-made window features.

Per channel of a normalized window: mean, standard deviation, least-squares slope per step and the
last value. Three sklearn
``HistGradientBoosting`` models answer the same three questions as the LSTM's heads (fail soon with
balanced class weights, fault type, RUL) and are wrapped as a ``Predictor`` so the evaluation scores
both with the same code, splits and threshold selection.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from models.fault.dataset import SplitData
from models.fault.errors import TrainingError
from models.fault.evaluate import Outputs
from models.fault.features import Normalization
from models.fault.windows import gather_windows

log = logging.getLogger(__name__)


def window_features(windows: NDArray[np.floating]) -> NDArray[np.float32]:
    """``[B, 4 * C]`` features of windows ``[B, T, C]``."""
    values = np.asarray(windows, dtype=np.float64)
    steps = values.shape[1]
    centred_t = np.arange(steps) - (steps - 1) / 2.0
    slope = np.einsum("btc,t->bc", values, centred_t) / float(np.sum(centred_t**2))
    parts = [values.mean(axis=1), values.std(axis=1), slope, values[:, -1]]
    return np.concatenate(parts, axis=1).astype(np.float32)


@dataclass(slots=True)
class TreeBaseline:
    """Three boosted-tree models on window features."""

    fail: HistGradientBoostingClassifier
    fault: HistGradientBoostingClassifier
    rul: HistGradientBoostingRegressor
    n_classes: int
    seconds: float = 0.0

    def __call__(self, windows: NDArray[np.float32]) -> Outputs:
        """Fail probability, fault class probabilities (all classes), RUL seconds."""
        x = window_features(windows)
        fail = self.fail.predict_proba(x)[:, 1].astype(np.float32)
        probs = np.zeros((x.shape[0], self.n_classes), dtype=np.float32)
        probs[:, self.fault.classes_] = self.fault.predict_proba(x)
        rul = np.clip(self.rul.predict(x), 0.0, None).astype(np.float32)
        return fail, probs, rul


def fit_baseline(
    train: SplitData,
    norm: Normalization,
    window: int,
    n_classes: int,
    seed: int = 0,
    max_windows: int = 20000,
) -> TreeBaseline:
    """Fit the three models on the valid training windows (subsampled to ``max_windows``)."""
    started = time.monotonic()
    valid = np.flatnonzero(train.targets.valid)
    if valid.size > max_windows:
        valid = np.sort(np.random.default_rng(seed).choice(valid, max_windows, replace=False))
    y_fail = train.targets.fail_soon[valid]
    if not y_fail.any() or y_fail.all():
        raise TrainingError("the baseline needs both fail-soon and healthy training windows")
    x = window_features(gather_windows(norm.apply(train.rows), train.ends[valid], window))
    common = {"max_iter": 150, "learning_rate": 0.1, "early_stopping": True, "random_state": seed}
    fail = HistGradientBoostingClassifier(class_weight="balanced", **common).fit(x, y_fail)
    fault = HistGradientBoostingClassifier(class_weight="balanced", **common).fit(
        x, train.targets.fault[valid]
    )
    rul = HistGradientBoostingRegressor(**common).fit(x, train.targets.rul_s[valid])
    seconds = time.monotonic() - started
    log.info("baseline fitted on %d windows in %.1f s", valid.size, seconds)
    return TreeBaseline(fail, fault, rul, n_classes, seconds)
