"""Evaluation of any fault predictor (torch, ONNX, quantized ONNX, baseline) on a held-out split.

A predictor is a function from normalized windows ``[B, T, C]`` to (fail probability ``[B]``, fault
class probabilities ``[B, K]``, RUL seconds ``[B]``), so every variant is scored by the same code.
Thresholds are chosen on the validation split only: the window threshold (best F1 with FPR within
the target) and the alarm policy (enter, exit, dwell) that flags the most faults before failure
with few false alarms; the test splits are then scored with those fixed thresholds.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from models.fault.dataset import SplitData, WindowConfig
from models.fault.features import Normalization
from models.fault.hysteresis import AlarmPolicy
from models.fault.metrics import (
    EventOutcome,
    MachineSeries,
    best_f1_threshold,
    binary_metrics,
    confusion_matrix,
    event_summary,
    fault_periods,
    rul_mae_h,
)
from models.fault.windows import gather_windows

Outputs = tuple[NDArray[np.float32], NDArray[np.float32], NDArray[np.float32]]
Predictor = Callable[[NDArray[np.float32]], Outputs]

TARGET_F1 = 0.90
TARGET_FPR = 0.02
TARGET_EVENT_RECALL = 0.95
TARGET_LEAD_FRACTION = 0.25
MAX_FALSE_ALARMS_PER_MACHINE_DAY = 0.02


@dataclass(frozen=True, slots=True)
class SplitPredictions:
    """A predictor's outputs at every window end of a split (valid or not)."""

    fail_prob: NDArray[np.float32]
    fault_probs: NDArray[np.float32]
    rul_s: NDArray[np.float32]


@dataclass(frozen=True, slots=True)
class Thresholds:
    """What validation chose: the window threshold and the alarm policy."""

    window: float
    alarm: AlarmPolicy

    def to_dict(self) -> dict[str, float]:
        """Flat dict for JSON."""
        return {
            "window_threshold": self.window,
            "alarm_enter": self.alarm.enter,
            "alarm_exit": self.alarm.exit,
            "alarm_min_duration_s": self.alarm.min_duration_s,
        }


def predict_split(
    predictor: Predictor, split: SplitData, norm: Normalization, window: int, batch: int = 2048
) -> SplitPredictions:
    """Run ``predictor`` over every window of ``split`` in batches."""
    rows = norm.apply(split.rows)
    fail, fault, rul = [], [], []
    for start in range(0, split.n_windows, batch):
        windows = np.ascontiguousarray(gather_windows(rows, split.ends[start : start + batch], window))
        f, k, r = predictor(windows)
        fail.append(np.asarray(f, dtype=np.float32).reshape(-1))
        fault.append(np.asarray(k, dtype=np.float32))
        rul.append(np.asarray(r, dtype=np.float32).reshape(-1))
    return SplitPredictions(np.concatenate(fail), np.concatenate(fault), np.concatenate(rul))


def alarm_series(split: SplitData, predictions: SplitPredictions) -> list[MachineSeries]:
    """Per machine: window-end times, fail probabilities and the fault events to score."""
    events = split.events()
    series = []
    for m, machine_id in enumerate(split.machine_ids):
        mine = split.machine_of == m
        rows = split.machine_rows(m)
        series.append(
            MachineSeries(
                machine_id=machine_id,
                t_s=split.t_s[split.ends[mine]],
                prob=predictions.fail_prob[mine].astype(np.float64),
                events=tuple(events[m]),
                periods=tuple(fault_periods(split.t_s[rows], split.fault_active[rows])),
            )
        )
    return series


def policy_grid(step_s: float) -> list[AlarmPolicy]:
    """Candidate alarm policies: enter 0.3..0.95, exit up to 0.3 lower, dwell 0..3 evaluations."""
    grid = []
    for enter, gap, dwell in itertools.product(np.arange(0.30, 0.951, 0.05), (0.0, 0.1, 0.2, 0.3), range(4)):
        exit_ = max(0.05, float(enter) - gap)
        grid.append(AlarmPolicy(round(float(enter), 2), round(min(exit_, float(enter)), 2), dwell * step_s))
    return list(dict.fromkeys(grid))


def choose_policy(
    series: list[MachineSeries], step_s: float, grace_s: float
) -> tuple[AlarmPolicy, dict[str, float]]:
    """The policy with the most faults flagged within the false-alarm budget (then longest lead)."""
    best: tuple[tuple[float, ...], AlarmPolicy, dict[str, float]] | None = None
    for policy in policy_grid(step_s):
        summary, _ = event_summary(series, policy, grace_s)
        rate = summary["false_alarms_per_machine_day"]
        feasible = rate <= MAX_FALSE_ALARMS_PER_MACHINE_DAY
        recall = summary["event_recall"] if np.isfinite(summary["event_recall"]) else 0.0
        key = (
            float(feasible),
            recall if feasible else -rate,
            summary["lead_fraction_median"],
            -rate,
            -policy.min_duration_s,
            policy.enter,
        )
        if best is None or key > best[0]:
            best = (key, policy, summary)
    if best is None:
        raise ValueError("empty policy grid")
    return best[1], best[2]


def choose_thresholds(
    val: SplitData, predictions: SplitPredictions, config: WindowConfig
) -> tuple[Thresholds, dict[str, float]]:
    """Window threshold and alarm policy from the validation split."""
    valid = val.targets.valid
    window = best_f1_threshold(val.targets.fail_soon[valid], predictions.fail_prob[valid], max_fpr=TARGET_FPR)
    policy, summary = choose_policy(
        alarm_series(val, predictions), config.feature_s * config.eval_stride, config.window_s
    )
    return Thresholds(window, policy), summary


def score_split(
    split: SplitData, predictions: SplitPredictions, thresholds: Thresholds, config: WindowConfig
) -> tuple[dict[str, Any], list[EventOutcome]]:
    """Window, fault-type, RUL and event metrics of one split under fixed thresholds."""
    valid = split.targets.valid
    truth = split.targets.fail_soon[valid]
    prob = predictions.fail_prob[valid]
    window = binary_metrics(truth, prob >= thresholds.window)
    true_fault = split.targets.fault[valid]
    pred_fault = predictions.fault_probs[valid].argmax(axis=1)
    faulty = true_fault > 0
    n_classes = predictions.fault_probs.shape[1]
    degrading = split.targets.rul_s[valid] < config.rul_cap_s
    events, outcomes = event_summary(alarm_series(split, predictions), thresholds.alarm, config.window_s)
    report: dict[str, Any] = {
        "windows": int(valid.sum()),
        "positives": int(truth.sum()),
        "window": window,
        "fault_type": {
            "accuracy": float(np.mean(true_fault == pred_fault)),
            "accuracy_faulty": float(np.mean(true_fault[faulty] == pred_fault[faulty]))
            if faulty.any()
            else 0.0,
            "confusion": confusion_matrix(true_fault, pred_fault, n_classes).tolist(),
        },
        "rul": {
            "mae_h_degrading": rul_mae_h(split.targets.rul_s[valid], predictions.rul_s[valid], degrading),
            "mae_h_all": rul_mae_h(
                split.targets.rul_s[valid], predictions.rul_s[valid], np.ones_like(degrading)
            ),
        },
        "event": events,
        "leads_h": sorted(round(o.lead_s / 3600.0, 3) for o in outcomes if o.flagged),
        "missed": [
            {
                "machine": o.event.machine_id,
                "fault": o.event.fault,
                "degradation_h": o.event.degradation_s / 3600.0,
            }
            for o in outcomes
            if not o.flagged
        ],
    }
    return report, outcomes


def targets_met(report: dict[str, Any]) -> dict[str, bool]:
    """Which of the issue's targets a split's report meets."""
    event = report["event"]
    return {
        "window_f1": report["window"]["f1"] >= TARGET_F1,
        "window_fpr": report["window"]["fpr"] <= TARGET_FPR,
        "event_recall": bool(event["event_recall"] >= TARGET_EVENT_RECALL),
        "lead_fraction": event["lead_fraction_median"] >= TARGET_LEAD_FRACTION,
    }
