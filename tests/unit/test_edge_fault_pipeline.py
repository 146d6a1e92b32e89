"""Fault pipeline with a tiny ONNX model: one batch per tick, predictions, alarms, output mapping, swap."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from test_edge_fakes import CPU, FAULT_CHANNELS, build_fault_model

from edge.errors import PipelineError
from edge.hysteresis import HysteresisConfig, Transition
from edge.inference.base import ClosingContext, InferenceBackend, Inputs, Outputs, TensorSpec
from edge.inference.factory import open_backend
from edge.model_slot import ModelSlot
from edge.pipelines.fault_outputs import OutputMap, interpret
from edge.pipelines.faults import AlarmEvent, FaultPipeline, FaultRunner, hysteresis_config, load_fault_model
from edge.records import SensorSamples
from proto import codec
from proto.artifacts import load_manifest
from proto.messages import AlarmState


def samples(machine: str, start_ms: int, n: int, level: float, period_ms: int = 100) -> SensorSamples:
    t = np.arange(start_ms, start_ms + n * period_ms, period_ms, dtype=np.int64)
    values = np.column_stack([np.full(n, level), np.linspace(0, 1, n)])
    return SensorSamples(machine, "line-1", FAULT_CHANNELS, t, values)


@pytest.fixture
def pipeline(tmp_path: Path) -> FaultPipeline:
    path = build_fault_model(tmp_path, window=8, stride=4)
    manifest = load_manifest(path)
    model = load_fault_model(lambda: open_backend(path, "onnxruntime", CPU), manifest)
    hysteresis = hysteresis_config(manifest, min_duration_ms=500)
    return FaultPipeline(ModelSlot(model), hysteresis, group_id="plant", edge_node="edge-1")


class CountingBackend(ClosingContext):
    """Wraps a backend and counts run() calls and batch sizes."""

    def __init__(self, inner: InferenceBackend) -> None:
        self.inner = inner
        self.batches: list[int] = []

    @property
    def input_specs(self) -> tuple[TensorSpec, ...]:
        return self.inner.input_specs

    @property
    def output_specs(self) -> tuple[TensorSpec, ...]:
        return self.inner.output_specs

    def run(self, inputs: Inputs) -> Outputs:
        first = inputs if isinstance(inputs, np.ndarray) else next(iter(inputs.values()))
        self.batches.append(int(first.shape[0]))
        return self.inner.run(inputs)


def test_one_batch_across_all_machines_per_tick(pipeline: FaultPipeline) -> None:
    counting = CountingBackend(pipeline.slot.current.runner.backend)
    runner = pipeline.slot.current.runner
    object.__setattr__(runner, "backend", counting)
    for i in range(20):
        pipeline.ingest(samples(f"m{i}", 0, 12, level=0.0))
    result = pipeline.tick()
    assert counting.batches == [40]  # 20 machines x 2 windows (ends at samples 7 and 11), one call
    assert result.batch_size == 40
    assert pipeline.tick().batch_size == 0  # nothing new: nothing runs
    assert counting.batches == [40]
    assert result.timings.inference_ms > 0


def test_predictions_rise_on_the_failing_machine_and_stay_quiet_elsewhere(pipeline: FaultPipeline) -> None:
    pipeline.ingest(samples("healthy", 0, 8, level=0.0))
    pipeline.ingest(samples("failing", 0, 8, level=0.0))
    first = pipeline.tick()
    assert {p.machine_id: p.fault_probability < 0.05 for p in first.predictions} == {
        "healthy": True,
        "failing": True,
    }
    alarms: list[AlarmEvent] = []
    for block in range(1, 6):
        pipeline.ingest(samples("healthy", block * 800, 8, level=0.0))
        pipeline.ingest(samples("failing", block * 800, 8, level=1.0))
        result = pipeline.tick()
        alarms.extend(result.alarms)
        for p in result.predictions:
            assert codec.is_valid(p)
            if p.machine_id == "healthy":
                assert p.fault_probability < 0.05
                assert p.alarm == AlarmState.ALARM_STATE_NORMAL
    failing = [p for p in result.predictions if p.machine_id == "failing"]
    assert failing[-1].fault_probability > 0.99
    assert failing[-1].fault_type == "bearing_outer"
    assert failing[-1].rul_seconds < 100
    assert failing[-1].alarm == AlarmState.ALARM_STATE_ALARM
    assert [(a.machine_id, a.transition) for a in alarms] == [("failing", Transition.RAISE)]
    assert failing[-1].model.version == "1.0.0"
    assert failing[-1].window_start_ms < failing[-1].timestamp_ms


def test_redelivered_samples_do_not_make_extra_windows(pipeline: FaultPipeline) -> None:
    block = samples("m1", 0, 8, level=0.0)
    pipeline.ingest(block)
    assert pipeline.ingest(block).duplicates == 8
    assert pipeline.tick().batch_size == 1


def test_swap_between_ticks_loses_no_window(tmp_path: Path, pipeline: FaultPipeline) -> None:
    path2 = build_fault_model(tmp_path / "v2", window=8, stride=4, version="2.0.0")
    model2 = load_fault_model(lambda: open_backend(path2, "onnxruntime", CPU), load_manifest(path2))
    seen: list[tuple[str, int]] = []
    for block in range(10):
        pipeline.ingest(samples("m1", block * 400, 4, level=0.0))
        if block == 5:
            pipeline.slot.stage(model2)
        seen.extend((p.model.version, p.timestamp_ms) for p in pipeline.tick().predictions)
    ends = [t for _, t in seen]
    assert ends == [700 + 400 * k for k in range(len(ends))]  # one window per stride, none missing
    assert {v for v, _ in seen} == {"1.0.0", "2.0.0"}


def test_output_map_by_name_and_shape() -> None:
    specs = (
        TensorSpec("rul", (None, 1)),
        TensorSpec("class_logits", (None, 3)),
        TensorSpec("any_fault_prob", (None, 1)),
    )
    mapping = OutputMap.from_specs(specs, ("normal", "a", "b"))
    assert (mapping.rul, mapping.classes, mapping.probability) == ("rul", "class_logits", "any_fault_prob")
    assert mapping.classes_logit
    assert not mapping.probability_logit
    only_classes = OutputMap.from_specs((TensorSpec("class_logits", (None, 3)),), ("a", "normal", "b"))
    (score,) = interpret({"class_logits": np.array([[0.0, 0.0, 10.0]])}, only_classes, 1)
    assert score.probability == pytest.approx(1 - score.class_probabilities["normal"])
    assert score.fault_type == "b"
    assert score.rul_s is None
    with pytest.raises(PipelineError):
        OutputMap.from_specs((TensorSpec("embedding", (None, 16)),), ("normal", "a"))


def test_runner_refuses_a_model_whose_input_does_not_fit(tmp_path: Path) -> None:
    path = build_fault_model(tmp_path, window=8)
    manifest = load_manifest(path)
    wrong = manifest.model_copy(
        update={"normalization": manifest.normalization.model_copy(update={"window_length": 16})}
    )
    with open_backend(path, "onnxruntime", CPU) as backend, pytest.raises(ValueError, match="does not fit"):
        FaultRunner.create(backend, wrong)


def test_thresholds_from_settings_override_the_manifest(tmp_path: Path) -> None:
    manifest = load_manifest(build_fault_model(tmp_path))
    assert hysteresis_config(manifest) == HysteresisConfig(0.8, 0.5)
    assert hysteresis_config(manifest, enter=0.9, exit=0.7, min_duration_ms=5).enter == 0.9
