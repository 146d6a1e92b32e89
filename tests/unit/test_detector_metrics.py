"""mAP arithmetic: hand-made tables, and agreement with ultralytics' own functions on random data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.detector.metrics import (
    IOU_THRESHOLDS,
    DetectionStats,
    ap_per_class,
    box_iou,
    compute_ap,
    match_predictions,
)


@pytest.mark.parametrize(
    ("recall", "precision", "expected"),
    [
        # ultralytics' sentinels make a perfect curve 0.995, not 1 (the last of 101 points is 0)
        ([1.0], [1.0], 0.995),
        ([0.5], [1.0], 0.5),  # half the labels found at precision 1
        ([0.5, 1.0], [1.0, 0.5], 0.5 + 0.375),  # then precision falls linearly to 0.5 at full recall
    ],
)
def test_compute_ap_table(recall: list[float], precision: list[float], expected: float) -> None:
    assert compute_ap(np.array(recall), np.array(precision)) == pytest.approx(expected, abs=6e-3)


def test_perfect_predictions_score_one() -> None:
    stats = DetectionStats(("a", "b"))
    truth = np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32)
    stats.add(truth, np.array([0.9, 0.8]), np.array([0, 1]), truth, np.array([0, 1]))
    result = stats.summary()
    assert result.map50 == pytest.approx(0.995)
    assert result.map50_95 == pytest.approx(0.995)
    assert [c.labels for c in result.per_class] == [1, 1]


def test_wrong_class_and_missing_class_count_zero() -> None:
    stats = DetectionStats(("a", "b"))
    truth = np.array([[0, 0, 10, 10], [20, 20, 40, 40]], np.float32)
    stats.add(truth[:1], np.array([0.9]), np.array([1]), truth, np.array([0, 1]))  # box of a labelled as b
    result = stats.summary()
    assert result.map50 == 0.0
    assert {c.name for c in result.per_class} == {"a", "b"}


def test_greedy_matching_gives_each_target_once() -> None:
    iou = np.array([[0.9, 0.8]])  # one target, two predictions of its class
    correct = match_predictions(np.array([0, 0]), np.array([0]), iou)
    assert correct[0, 0]
    assert not correct[1].any()
    assert correct[0].tolist() == (IOU_THRESHOLDS <= 0.9).tolist()


def test_box_iou() -> None:
    a = np.array([[0, 0, 10, 10]], np.float32)
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]], np.float32)
    np.testing.assert_allclose(box_iou(a, b), [[1.0, 1 / 3, 0.0]], atol=1e-6)


@pytest.mark.slow
def test_same_as_ultralytics_on_random_detections(tmp_path: Path) -> None:
    import torch

    from models.detector.offline import configure_offline

    configure_offline(tmp_path / "ultralytics")
    from ultralytics.engine.validator import BaseValidator
    from ultralytics.utils.metrics import ap_per_class as ul_ap_per_class
    from ultralytics.utils.metrics import box_iou as ul_box_iou

    rng = np.random.default_rng(0)
    validator = BaseValidator.__new__(BaseValidator)
    validator.iouv = torch.linspace(0.5, 0.95, 10)
    tps, confs, pcls, tcls = [], [], [], []
    for _ in range(40):
        n_true, n_pred = int(rng.integers(0, 6)), int(rng.integers(0, 12))
        xy = rng.uniform(0, 200, (n_true, 2))
        truth = np.concatenate([xy, xy + rng.uniform(5, 60, (n_true, 2))], 1)
        true_cls = rng.integers(0, 4, n_true)
        jitter = rng.normal(0, 4, (n_pred, 4))
        source = rng.integers(0, max(n_true, 1), n_pred)
        pred = truth[source] + jitter if n_true else rng.uniform(0, 200, (n_pred, 4))
        pred[:, 2:] = np.maximum(pred[:, 2:], pred[:, :2] + 1)
        pred_cls = np.where(
            rng.random(n_pred) < 0.8, true_cls[source] if n_true else 0, rng.integers(0, 4, n_pred)
        )
        conf = rng.random(n_pred)
        order = np.argsort(-conf)
        pred, pred_cls, conf = pred[order], pred_cls[order], conf[order]
        ours = match_predictions(pred_cls, true_cls, box_iou(truth, pred))
        if n_true and n_pred:
            iou = ul_box_iou(torch.tensor(truth), torch.tensor(pred))
            theirs = validator.match_predictions(torch.tensor(pred_cls), torch.tensor(true_cls), iou).numpy()
            np.testing.assert_array_equal(ours, theirs)
        tps.append(ours)
        confs.append(conf)
        pcls.append(pred_cls)
        tcls.append(true_cls)
    tp, conf, pred_cls, target_cls = (np.concatenate(x) for x in (tps, confs, pcls, tcls))
    classes, ap = ap_per_class(tp, conf, pred_cls, target_cls)
    ul = ul_ap_per_class(tp, conf, pred_cls, target_cls)
    np.testing.assert_allclose(ap, ul[5], atol=1e-9)
    np.testing.assert_array_equal(classes, ul[6])
