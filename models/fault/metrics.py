"""Scores of the fault predictor: window level, fault-event level (with the edge's alarm), RUL.

Window level counts each evaluated window once against its ``fail_soon`` target. Event level asks
the question a maintenance planner asks: of the faults that ran to failure, which were flagged by
the alarm before the failure, and how early? A fault event runs from its onset (first step with the
fault active) to its failure (onset plus life, from the RUL labels). It is *flagged* when the alarm
is on at an evaluation inside ``[onset, failure)``; its lead time is failure minus the first such
evaluation. An alarm episode that touches no fault period (onset to repair, including faults that
never reach failure inside the series, plus a grace of one window after the repair while the
window still holds the faulty data) is a false alarm.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from models.fault.hysteresis import AlarmPolicy, alarm_episodes, alarm_states

FloatArray = NDArray[np.float64]


def binary_metrics(y_true: NDArray[np.bool_], y_pred: NDArray[np.bool_]) -> dict[str, float]:
    """Precision, recall, F1, false-positive rate and the four counts."""
    y_true = np.asarray(y_true, dtype=bool)
    y_pred = np.asarray(y_pred, dtype=bool)
    tp = int(np.sum(y_true & y_pred))
    fp = int(np.sum(~y_true & y_pred))
    fn = int(np.sum(y_true & ~y_pred))
    tn = int(np.sum(~y_true & ~y_pred))
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    fpr = fp / (fp + tn) if fp + tn else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "fpr": fpr,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "tn": tn,
    }


def best_f1_threshold(y_true: NDArray[np.bool_], prob: NDArray[np.floating], max_fpr: float = 1.0) -> float:
    """The probability threshold with the highest F1 among those with FPR at most ``max_fpr``."""
    candidates = np.unique(np.round(np.asarray(prob, dtype=np.float64), 4))
    if candidates.size > 400:
        candidates = np.quantile(candidates, np.linspace(0.0, 1.0, 401))
    best, best_f1 = 0.5, -1.0
    for threshold in candidates:
        scores = binary_metrics(y_true, prob >= threshold)
        if scores["fpr"] <= max_fpr and scores["f1"] > best_f1:
            best, best_f1 = float(threshold), scores["f1"]
    return best


def confusion_matrix(
    y_true: NDArray[np.integer], y_pred: NDArray[np.integer], n_classes: int
) -> NDArray[np.int64]:
    """Counts ``[true, predicted]``."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(y_true, dtype=np.int64), np.asarray(y_pred, dtype=np.int64)), 1)
    return matrix


def rul_mae_h(true_s: NDArray[np.floating], pred_s: NDArray[np.floating], mask: NDArray[np.bool_]) -> float:
    """Mean absolute RUL error in hours over the masked windows (NaN when none)."""
    if not np.any(mask):
        return float("nan")
    return float(np.mean(np.abs(np.asarray(true_s)[mask] - np.asarray(pred_s)[mask])) / 3600.0)


@dataclass(frozen=True, slots=True)
class FaultEvent:
    """One fault of one machine that ran to failure: onset, failure and repair times in seconds."""

    machine_id: str
    fault: int
    onset_s: float
    failure_s: float
    end_s: float

    @property
    def degradation_s(self) -> float:
        """Onset to failure."""
        return self.failure_s - self.onset_s


def fault_events(
    machine_id: str,
    t_s: NDArray[np.floating],
    fault_active: NDArray[np.bool_],
    fault: NDArray[np.integer],
    rul_s: NDArray[np.floating],
) -> list[FaultEvent]:
    """The faults of one machine's label series that reach failure inside the series."""
    events = []
    for first, last in alarm_episodes(np.asarray(fault_active, dtype=bool)):
        rul = np.asarray(rul_s[first : last + 1], dtype=np.float64)
        before = np.flatnonzero(rul > 0)
        if not np.any(rul <= 0) or before.size == 0:
            continue  # censored (repaired early, or the series ends first) or failed at once
        j = first + int(before[-1])
        events.append(
            FaultEvent(
                machine_id=machine_id,
                fault=int(fault[first]),
                onset_s=float(t_s[first]),
                failure_s=float(t_s[j] + rul_s[j]),
                end_s=float(t_s[last]),
            )
        )
    return events


def fault_periods(t_s: NDArray[np.floating], fault_active: NDArray[np.bool_]) -> list[tuple[float, float]]:
    """First and last time of every run of an active fault (failing or not)."""
    runs = alarm_episodes(np.asarray(fault_active, dtype=bool))
    return [(float(t_s[first]), float(t_s[last])) for first, last in runs]


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """Whether the alarm flagged one fault event before its failure, and how early."""

    event: FaultEvent
    flagged: bool
    lead_s: float

    @property
    def lead_fraction(self) -> float:
        """Lead time as a share of the degradation period (0 when not flagged)."""
        return self.lead_s / self.event.degradation_s if self.event.degradation_s > 0 else 0.0


def score_events(
    events: Sequence[FaultEvent],
    t_s: NDArray[np.floating],
    on: NDArray[np.bool_],
    periods: Sequence[tuple[float, float]] = (),
    grace_s: float = 0.0,
) -> tuple[list[EventOutcome], int]:
    """Outcome of each event of one machine under alarm states ``on``; plus its false-alarm count."""
    t = np.asarray(t_s, dtype=np.float64)
    outcomes = []
    for event in events:
        inside = (t >= event.onset_s) & (t < event.failure_s) & on
        hits = np.flatnonzero(inside)
        lead = float(event.failure_s - t[hits[0]]) if hits.size else 0.0
        outcomes.append(EventOutcome(event, bool(hits.size), lead))
    spans = [(e.onset_s, e.end_s) for e in events] + list(periods)
    false_alarms = 0
    for first, last in alarm_episodes(on):
        start, stop = t[first], t[last]
        if not any(start <= end + grace_s and stop >= onset for onset, end in spans):
            false_alarms += 1
    return outcomes, false_alarms


@dataclass(frozen=True, slots=True)
class MachineSeries:
    """One machine's evaluation series: times and fault probability at each window end, and labels."""

    machine_id: str
    t_s: FloatArray
    prob: FloatArray
    events: tuple[FaultEvent, ...]
    periods: tuple[tuple[float, float], ...] = ()


def event_summary(
    series: Sequence[MachineSeries], policy: AlarmPolicy, grace_s: float = 0.0
) -> tuple[dict[str, float], list[EventOutcome]]:
    """Share of events flagged before failure, lead times and false alarms over many machines."""
    outcomes: list[EventOutcome] = []
    false_alarms = 0
    days = 0.0
    for machine in series:
        on = alarm_states(machine.prob, machine.t_s, policy)
        found, false = score_events(machine.events, machine.t_s, on, machine.periods, grace_s)
        outcomes += found
        false_alarms += false
        if machine.t_s.size > 1:
            days += float(machine.t_s[-1] - machine.t_s[0]) / 86400.0
    flagged = [o for o in outcomes if o.flagged]
    leads_h = np.array([o.lead_s / 3600.0 for o in flagged])
    fractions = np.array([o.lead_fraction for o in outcomes])
    summary = {
        "events": float(len(outcomes)),
        "events_flagged": float(len(flagged)),
        "event_recall": len(flagged) / len(outcomes) if outcomes else float("nan"),
        "lead_h_median": float(np.median(leads_h)) if leads_h.size else 0.0,
        "lead_h_p10": float(np.quantile(leads_h, 0.1)) if leads_h.size else 0.0,
        "lead_fraction_median": float(np.median(fractions)) if fractions.size else 0.0,
        "false_alarms": float(false_alarms),
        "false_alarms_per_machine_day": false_alarms / days if days else 0.0,
        "machine_days": days,
    }
    return summary, outcomes
