"""Feature rows of the fault predictor: aggregation, forward fill, channel order, normalization."""

from __future__ import annotations

import numpy as np
import pytest

from models.fault.errors import DatasetError
from models.fault.features import (
    FEATURE_NAMES,
    LOG_FLOORS,
    N_FEATURES,
    Normalization,
    aggregate,
    fit_normalization,
    forward_fill,
    log_features,
    machine_features,
)

NAN = np.nan


@pytest.mark.parametrize(
    ("column", "expected"),
    [
        ([1, NAN, NAN, 4], [1, 1, 1, 4]),
        ([NAN, NAN, 2, NAN], [NAN, NAN, 2, 2]),
        ([NAN, NAN, NAN], [NAN, NAN, NAN]),
        ([5, 6, 7], [5, 6, 7]),
    ],
)
def test_forward_fill(column: list[float], expected: list[float]) -> None:
    got = forward_fill(np.array(column, dtype=np.float64)[:, None])[:, 0]
    np.testing.assert_array_equal(got, np.array(expected, dtype=np.float64))


def test_forward_fill_keeps_columns_apart() -> None:
    values = np.array([[1, NAN], [NAN, 2], [NAN, NAN]])
    np.testing.assert_array_equal(forward_fill(values), [[1, NAN], [1, 2], [1, 2]])


@pytest.mark.parametrize(
    ("column", "factor", "means", "measured"),
    [
        ([1, 3, 5, 7], 2, [2, 6], [1, 1]),
        ([1, NAN, NAN, NAN], 2, [1, NAN], [1, 0]),
        ([1, 2, 3, 4, 5], 2, [1.5, 3.5], [1, 1]),  # the incomplete last group is dropped
        ([4, 8], 1, [4, 8], [1, 1]),
    ],
)
def test_aggregate(column: list[float], factor: int, means: list[float], measured: list[int]) -> None:
    got_means, got_measured = aggregate(np.array(column, dtype=np.float64)[:, None], factor)
    np.testing.assert_array_equal(got_means[:, 0], np.array(means, dtype=np.float64))
    assert got_measured[:, 0].astype(int).tolist() == measured


def test_aggregate_refuses_zero_factor() -> None:
    with pytest.raises(DatasetError):
        aggregate(np.zeros((4, 1)), 0)


def test_machine_features_places_channels_and_leaves_absent_ones_nan() -> None:
    values = np.array([[20.0, 1.0], [22.0, NAN], [NAN, 3.0], [NAN, NAN]])
    rows = machine_features(values, ("temperature_c", "current_a"), 2)
    assert rows.shape == (2, N_FEATURES)
    t, c = FEATURE_NAMES.index("temperature_c"), FEATURE_NAMES.index("current_a")
    assert rows[:, t].tolist() == [21.0, 21.0]  # second step has no temperature: forward-filled
    assert rows[:, c].tolist() == [1.0, 3.0]
    others = [i for i in range(N_FEATURES) if i not in (t, c)]
    assert np.isnan(rows[:, others]).all()


def test_machine_features_refuses_unknown_channels() -> None:
    with pytest.raises(DatasetError, match="humidity"):
        machine_features(np.zeros((4, 1)), ("humidity",), 2)


def test_normalization_maps_nan_to_zero() -> None:
    norm = Normalization(np.array([1.0, 10.0], dtype=np.float32), np.array([2.0, 5.0], dtype=np.float32))
    got = norm.apply(np.array([[3.0, NAN], [1.0, 0.0]]))
    np.testing.assert_allclose(got, [[1.0, 0.0], [0.0, -2.0]])
    assert got.dtype == np.float32


def test_fit_normalization_ignores_nan_and_floors_std() -> None:
    rows = np.array([[1.0, 5.0, NAN], [3.0, 5.0, NAN]])
    norm = fit_normalization(rows)
    np.testing.assert_allclose(norm.mean, [2.0, 5.0, 0.0])
    np.testing.assert_allclose(norm.std, [1.0, 1.0, 1.0])  # constant and empty channels get std 1


def test_log_features_uses_the_floor_and_leaves_linear_channels() -> None:
    raw = np.zeros((1, N_FEATURES))
    raw[0, FEATURE_NAMES.index("temperature_c")] = 40.0
    raw[0, FEATURE_NAMES.index("current_a")] = 9.99
    raw[0, FEATURE_NAMES.index("speed_rpm")] = -5.0  # clipped at 0 before the floor
    got = log_features(raw)[0]
    assert got[FEATURE_NAMES.index("temperature_c")] == 40.0
    assert got[FEATURE_NAMES.index("current_a")] == pytest.approx(1.0)
    assert got[FEATURE_NAMES.index("speed_rpm")] == pytest.approx(np.log10(LOG_FLOORS[2]))
