"""Sensor realism: rates, noise, quantization, dropouts, stuck and drifting sensors, jitter."""

from __future__ import annotations

import numpy as np
import pytest

from simulators.plant import load_plant
from simulators.sensors import CHANNEL_INDEX, CHANNELS, SensorLayer, SensorTable

TEMP = CHANNEL_INDEX["temperature_c"]
CURRENT = CHANNEL_INDEX["current_a"]


@pytest.fixture
def layer() -> SensorLayer:
    table = SensorTable.from_plant(load_plant("demo"))
    return SensorLayer(table, 0.1, np.random.default_rng(0), stuck_per_day=0.0, drift_per_day=0.0)


def clean(steps: int, n: int = 5) -> np.ndarray:
    values = np.full((steps, n, len(CHANNELS)), 50.0)
    values[:, :, CURRENT] = 20.0
    return values


def test_rates_and_missing_channels(layer: SensorLayer) -> None:
    out = layer.measure(clean(100), 0)
    temp = out[:, 0, TEMP]
    assert np.isnan(temp[1:10]).all()  # 1 Hz sensor at a 10 Hz base rate
    assert np.isfinite(temp[::10]).sum() >= 9
    assert np.isnan(out[:, 0, CHANNEL_INDEX["flow_m3h"]]).all()  # a spindle has no flow meter
    assert np.isfinite(out[:, 0, CURRENT]).mean() > 0.95


def test_noise_and_quantization(layer: SensorLayer) -> None:
    out = layer.measure(clean(2000), 0)
    current = out[:, 0, CURRENT]
    current = current[np.isfinite(current)]
    assert 0.1 < float(np.std(current)) < 0.5
    assert np.allclose(np.round(current / 0.01) * 0.01, current, atol=1e-4)


def test_dropouts_follow_the_configured_probability(layer: SensorLayer) -> None:
    out = layer.measure(clean(20000), 0)
    missing = np.isnan(out[:, 1, CURRENT]).mean()
    assert 0.0005 < missing < 0.006  # dropout 0.002


def test_stuck_sensor_repeats_its_value_and_maintenance_unsticks(layer: SensorLayer) -> None:
    layer.stick(0, "current", 50)
    values = clean(200)
    values[:, 0, CURRENT] = np.linspace(10, 30, 200)
    out = layer.measure(values, 0)
    after = out[50:, 0, CURRENT]
    assert np.unique(after[np.isfinite(after)]).size == 1
    layer.repair(0)
    again = layer.measure(values, 200)[:, 0, CURRENT]
    assert np.unique(again[np.isfinite(again)]).size > 10


def test_drifting_sensor_walks_away(layer: SensorLayer) -> None:
    layer.drift(2, "temperature", 0, per_hour=0.1)
    out = layer.measure(clean(36000), 0)  # one hour
    temp = out[:, 2, TEMP]
    assert np.nanmean(temp[-600:]) - np.nanmean(temp[:600]) == pytest.approx(6.0, abs=0.5)


def test_jitter_is_bounded_by_half_a_step(layer: SensorLayer) -> None:
    jitter = layer.jitter_ms(5000)
    assert np.abs(jitter).max() <= 50
    assert jitter.std() > 1
