"""Window and event metrics of the fault predictor, with hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from models.fault.hysteresis import AlarmPolicy
from models.fault.metrics import (
    FaultEvent,
    MachineSeries,
    best_f1_threshold,
    binary_metrics,
    confusion_matrix,
    event_summary,
    fault_events,
    fault_periods,
    rul_mae_h,
    score_events,
)


@pytest.mark.parametrize(
    ("truth", "pred", "expected"),
    [
        # tp=2 fp=1 fn=1 tn=2: precision 2/3, recall 2/3, f1 2/3, fpr 1/3
        (
            [1, 1, 1, 0, 0, 0],
            [1, 1, 0, 1, 0, 0],
            {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3, "fpr": 1 / 3},
        ),
        ([1, 0, 0, 0], [1, 0, 0, 0], {"precision": 1.0, "recall": 1.0, "f1": 1.0, "fpr": 0.0}),
        ([1, 1, 0, 0], [0, 0, 0, 0], {"precision": 0.0, "recall": 0.0, "f1": 0.0, "fpr": 0.0}),
        # tp=1 fp=3 fn=0 tn=1: precision 1/4, recall 1, f1 0.4, fpr 3/4
        ([1, 0, 0, 0, 0], [1, 1, 1, 1, 0], {"precision": 0.25, "recall": 1.0, "f1": 0.4, "fpr": 0.75}),
    ],
)
def test_binary_metrics(truth: list[int], pred: list[int], expected: dict[str, float]) -> None:
    got = binary_metrics(np.array(truth, dtype=bool), np.array(pred, dtype=bool))
    for key, value in expected.items():
        assert got[key] == pytest.approx(value), key
    assert got["tp"] + got["fp"] + got["fn"] + got["tn"] == len(truth)


def test_best_f1_threshold_separates_clean_scores() -> None:
    truth = np.array([0, 0, 0, 1, 1], dtype=bool)
    prob = np.array([0.1, 0.2, 0.3, 0.7, 0.9])
    threshold = best_f1_threshold(truth, prob)
    assert 0.3 < threshold <= 0.7
    assert binary_metrics(truth, prob >= threshold)["f1"] == 1.0


def test_best_f1_threshold_respects_the_fpr_budget() -> None:
    truth = np.array([1, 1, 0, 0, 0, 0], dtype=bool)
    prob = np.array([0.9, 0.4, 0.5, 0.1, 0.1, 0.1])
    # without a budget 0.4 (f1 0.8, fpr 0.25) wins; with fpr <= 0.1 only 0.9 (f1 2/3) remains
    assert best_f1_threshold(truth, prob) == pytest.approx(0.4)
    assert best_f1_threshold(truth, prob, max_fpr=0.1) == pytest.approx(0.9)


def test_confusion_matrix() -> None:
    got = confusion_matrix(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    assert got.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 1]]


def test_rul_mae_in_hours() -> None:
    true = np.array([3600.0, 7200.0, 0.0])
    pred = np.array([0.0, 7200.0, 36000.0])
    assert rul_mae_h(true, pred, np.array([True, True, False])) == pytest.approx(0.5)
    assert np.isnan(rul_mae_h(true, pred, np.zeros(3, dtype=bool)))


HOUR = 3600.0


def _labels() -> tuple[np.ndarray, ...]:
    """Hourly labels: fault 3 from 2 h, fails at 5.5 h, repaired at 7 h; fault 1 from 9 h, censored."""
    t = np.arange(12) * HOUR
    active = np.array([0, 0, 1, 1, 1, 1, 1, 0, 0, 1, 1, 1], dtype=bool)
    fault = np.where(active, np.array([0, 0, 3, 3, 3, 3, 3, 0, 0, 1, 1, 1]), 0)
    rul = np.array([48, 48, 3.5, 2.5, 1.5, 0.5, 0, 48, 48, 20, 19, 18]) * HOUR
    return t, active, fault, rul


def test_fault_events_keeps_failures_and_drops_censored_faults() -> None:
    t, active, fault, rul = _labels()
    events = fault_events("m1", t, active, fault, rul)
    assert events == [FaultEvent("m1", 3, 2 * HOUR, 5.5 * HOUR, 6 * HOUR)]
    assert events[0].degradation_s == 3.5 * HOUR


def test_fault_periods_include_censored_faults() -> None:
    t, active, _, _ = _labels()
    assert fault_periods(t, active) == [(2 * HOUR, 6 * HOUR), (9 * HOUR, 11 * HOUR)]


@pytest.mark.parametrize(
    ("on", "grace_h", "flagged", "lead_h", "false_alarms"),
    [
        ([0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0, 0], 0, True, 2.5, 0),  # first alarm at 3 h, failure 5.5 h
        ([0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0], 0, False, 0.0, 0),  # after failure only: not flagged
        ([1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0], 0, True, 3.5, 1),  # the 0 h episode touches no fault
        ([0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0], 0, False, 0.0, 0),  # during the censored fault: not false
        ([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], 0, False, 0.0, 1),  # after the repair at 6 h ...
        ([0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0], 1, False, 0.0, 0),  # ... but inside a 1 h grace
        ([0, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0], 0, True, 3.5, 0),  # raised before onset, on through the fault
    ],
)
def test_score_events(on: list[int], grace_h: float, flagged: bool, lead_h: float, false_alarms: int) -> None:
    t, active, fault, rul = _labels()
    events = fault_events("m1", t, active, fault, rul)
    periods = fault_periods(t, active)
    outcomes, false = score_events(events, t, np.array(on, dtype=bool), periods, grace_h * HOUR)
    assert outcomes[0].flagged is flagged
    assert outcomes[0].lead_s == pytest.approx(lead_h * HOUR)
    assert false == false_alarms


def test_event_summary_over_machines() -> None:
    t, active, fault, rul = _labels()
    events = tuple(fault_events("m1", t, active, fault, rul))
    caught = np.array([0, 0, 0.9, 0.9, 0.9, 0.9, 0.9, 0, 0, 0, 0, 0])  # flagged at 2 h: lead 3.5 h
    missed = np.zeros(12)
    series = [MachineSeries("m1", t, caught, events), MachineSeries("m2", t, missed, events)]
    summary, outcomes = event_summary(series, AlarmPolicy(0.5, 0.4))
    assert summary["events"] == 2
    assert summary["event_recall"] == 0.5
    assert summary["lead_h_median"] == pytest.approx(3.5)
    assert summary["lead_fraction_median"] == pytest.approx(0.5)  # median of 1.0 and 0.0
    assert summary["false_alarms"] == 0
    assert summary["machine_days"] == pytest.approx(2 * 11 / 24)
    assert [o.flagged for o in outcomes] == [True, False]
