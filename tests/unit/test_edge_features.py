"""Feature rows for the fault model from raw samples: recipe parsing, step aggregation, presence, kind."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from test_edge_fakes import CPU, build_fault_model

from edge.features import Column, FeatureBuilder, FeatureRecipe, sensor_of
from edge.inference.factory import open_backend
from edge.model_slot import ModelSlot
from edge.pipelines.faults import FaultPipeline, hysteresis_config, load_fault_model
from edge.records import SensorSamples
from proto.artifacts import load_manifest

NAN = float("nan")


@pytest.mark.parametrize(
    ("channel", "sensor"),
    [
        ("temperature_c", "temperature"),
        ("vib_bpfo_env", "vibration"),
        ("flow_m3h", "flow"),
        ("speed_rpm", "speed"),
    ],
)
def test_sensor_of(channel: str, sensor: str) -> None:
    assert sensor_of(channel) == sensor


def test_recipe_from_names() -> None:
    recipe = FeatureRecipe.parse(
        ["temperature_c", "log10:current_a", "log10@0.5:custom", "present:current", "kind:pump"], 300, 10
    )
    assert recipe.columns == (
        Column("value", "temperature_c"),
        Column("log10", "current_a", 0.01),
        Column("log10", "custom", 0.5),
        Column("present", "current"),
        Column("kind", "pump"),
    )
    assert recipe.value_channels == ("temperature_c", "current_a", "custom")
    assert recipe.step_ms == 300_000
    with pytest.raises(ValueError, match="floor"):
        FeatureRecipe.parse(["log10:unknown_x"])
    with pytest.raises(ValueError, match="multiple"):
        FeatureRecipe.parse(["a"], step_s=15, period_s=10)


RECIPE = FeatureRecipe.parse(
    ["temperature_c", "log10:current_a", "present:temperature", "present:current", "kind:pump"], 20, 10
)


def test_step_is_the_mean_of_period_means_and_closes_on_a_later_sample() -> None:
    builder = FeatureBuilder(RECIPE, "pump")
    channels = ("temperature_c", "current_a")
    # step 0 = [0, 20 s): period 0 has temps 10, 20 (mean 15), period 1 has 40 (mean 40) -> 27.5
    t = np.array([1000, 2000, 15000], np.int64)
    v = np.array([[10.0, 1.0], [20.0, NAN], [40.0, NAN]])
    assert len(builder.add(channels, t, v)) == 0  # step 0 still open
    rows = builder.add(channels, np.array([21000], np.int64), np.array([[50.0, NAN]]))
    assert rows.timestamps_ms.tolist() == [19_999]
    (row,) = rows.values
    assert row[0] == pytest.approx(27.5)
    assert row[1] == pytest.approx(math.log10(1.0 + 0.01))
    assert row[2:].tolist() == [1.0, 1.0, 1.0]


def test_empty_steps_forward_fill_with_presence_zero_and_late_samples_drop() -> None:
    builder = FeatureBuilder(RECIPE, "motor")
    channels = ("temperature_c", "current_a")
    builder.add(channels, np.array([0], np.int64), np.array([[30.0, NAN]]))
    rows = builder.add(channels, np.array([65_000], np.int64), np.array([[35.0, 2.0]]))
    assert rows.timestamps_ms.tolist() == [19_999, 39_999, 59_999]
    assert rows.values[:, 0].tolist() == [30.0, 30.0, 30.0]
    assert np.isnan(rows.values[0, 1])  # current never seen yet: NaN (0 after normalization)
    assert rows.values[:, 2].tolist() == [1.0, 0.0, 0.0]  # temperature present only in the first
    assert rows.values[:, 4].tolist() == [0.0, 0.0, 0.0]  # a motor, not a pump
    builder.add(channels, np.array([10_000], np.int64), np.array([[99.0, 9.0]]))
    assert builder.late == 1


def test_without_a_step_every_sample_is_a_row() -> None:
    recipe = FeatureRecipe.parse(["b", "a", "present:a"])
    rows = FeatureBuilder(recipe).add(
        ("a", "b"), np.array([5, 6], np.int64), np.array([[1.0, 2.0], [NAN, 4.0]])
    )
    assert rows.timestamps_ms.tolist() == [5, 6]
    np.testing.assert_array_equal(rows.values[:, :2], [[2.0, 1.0], [4.0, NAN]])
    assert rows.values[:, 2].tolist() == [1.0, 0.0]


def test_fault_pipeline_on_feature_steps(tmp_path: Path) -> None:
    names = ("temperature_c", "present:temperature", "kind:pump")
    path = build_fault_model(
        tmp_path,
        window=3,
        stride=1,
        channels=names,
        metrics={"feature_step_s": 20.0, "alarm_min_duration_s": 40.0},
    )
    manifest = load_manifest(path)
    model = load_fault_model(lambda: open_backend(path, "onnxruntime", CPU), manifest)
    hysteresis = hysteresis_config(manifest)
    assert hysteresis.min_duration_ms == 40_000
    pipeline = FaultPipeline(ModelSlot(model), hysteresis, group_id="g", edge_node="e")
    t = np.arange(0, 200_000, 1000, dtype=np.int64)  # 10 steps of 20 s at 1 Hz
    values = np.where(t >= 100_000, 1.0, 0.0)[:, None]
    pipeline.ingest(SensorSamples("p1", "l", ("temperature_c",), t, values, machine_kind="pump"))
    result = pipeline.tick()
    # steps 0..8 closed (step 9 still open): windows of 3 end at steps 2..8
    assert [p.timestamp_ms for p in result.predictions] == [(k + 1) * 20_000 - 1 for k in range(2, 9)]
    assert result.predictions[0].window_start_ms == 0
    probabilities = [p.fault_probability for p in result.predictions]
    assert probabilities[0] < 0.05
    assert probabilities[-1] > 0.95
    assert [a.timestamp_ms for a in result.alarms] == [179_999]  # raised after 40 s above enter
