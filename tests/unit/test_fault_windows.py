"""Windowing and window targets of the fault predictor: tables with hand-computed values."""

from __future__ import annotations

import numpy as np
import pytest

from models.fault.errors import DatasetError
from models.fault.windows import gather_windows, window_ends, window_targets, window_view


@pytest.mark.parametrize(
    ("steps", "length", "stride", "expected"),
    [
        (5, 3, 1, [2, 3, 4]),
        (6, 3, 2, [2, 4]),
        (7, 3, 2, [2, 4, 6]),
        (3, 3, 5, [2]),
        (2, 3, 1, []),
        (10, 1, 4, [0, 4, 8]),
    ],
)
def test_window_ends(steps: int, length: int, stride: int, expected: list[int]) -> None:
    assert window_ends(steps, length, stride).tolist() == expected


@pytest.mark.parametrize(("length", "stride"), [(0, 1), (3, 0), (-1, 2)])
def test_window_ends_refuses_bad_sizes(length: int, stride: int) -> None:
    with pytest.raises(DatasetError):
        window_ends(10, length, stride)


def test_window_view_is_a_view_with_time_then_channels() -> None:
    rows = np.arange(12, dtype=np.float32).reshape(6, 2)  # t0: [0, 1], t1: [2, 3], ...
    view = window_view(rows, 3)
    assert view.shape == (4, 3, 2)
    assert np.shares_memory(view, rows)
    assert view[1].tolist() == [[2, 3], [4, 5], [6, 7]]


def test_gather_windows_matches_a_loop() -> None:
    rng = np.random.default_rng(0)
    rows = rng.normal(size=(50, 4)).astype(np.float32)
    ends = np.array([9, 10, 31, 49])
    got = gather_windows(rows, ends, 10)
    expected = np.stack([rows[e - 9 : e + 1] for e in ends])
    assert np.array_equal(got, expected)


def test_window_view_refuses_short_series() -> None:
    with pytest.raises(DatasetError):
        window_view(np.zeros((2, 3)), 3)


HOUR = 3600.0
CAP = 10 * HOUR
# step:          0      1      2       3        4       5      6      7
ACTIVE = np.array([0, 1, 1, 1, 1, 1, 0, 0], dtype=bool)  # onset at 1, failed at 4..5, repaired at 6
FAULT = np.array([0, 3, 3, 3, 3, 3, 0, 0], dtype=np.int8)
RUL = np.array([CAP, 9, 5, 1, 0, 0, CAP, CAP]) * np.array([1, HOUR, HOUR, HOUR, 1, 1, 1, 1])


@pytest.mark.parametrize(
    ("horizon_h", "fail_soon", "valid"),
    [
        (8.0, [0, 0, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0, 1, 1]),
        (9.0, [0, 1, 1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0, 1, 1]),
        (0.5, [0, 0, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0, 1, 1]),
    ],
)
def test_window_targets(horizon_h: float, fail_soon: list[int], valid: list[int]) -> None:
    ends = np.arange(8)
    targets = window_targets(ACTIVE, FAULT, RUL, ends, horizon_h * HOUR, CAP)
    assert targets.fail_soon.astype(int).tolist() == fail_soon
    assert targets.valid.astype(int).tolist() == valid
    assert targets.fault.tolist() == [0, 3, 3, 3, 3, 3, 0, 0]
    assert (targets.rul_s / HOUR).tolist() == [10, 9, 5, 1, 0, 0, 10, 10]


def test_window_targets_caps_rul_and_follows_ends() -> None:
    rul = np.array([CAP, 20 * HOUR, 2 * HOUR])
    targets = window_targets(
        np.array([0, 1, 1], dtype=bool), np.array([0, 1, 1]), rul, np.array([1, 2]), HOUR, CAP
    )
    assert (targets.rul_s / HOUR).tolist() == [10, 2]
    assert targets.fail_soon.tolist() == [False, False]
