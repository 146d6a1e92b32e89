"""The fault pipeline: sensor samples → per-machine windows → one batch per tick → predictions and alarms.

`ingest` (event loop) adds a block of samples to the machine's ring buffer. `tick` (any thread)
takes every ready window of every machine, runs them as ONE batch through the model in the
slot, and turns the outputs into Prediction records; the hysteresis of each machine decides its
alarm state, and crossings come out as AlarmEvents. The three steps (assemble, inference,
postprocess) are timed separately.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from edge.features import FeatureBuilder, FeatureRecipe
from edge.hysteresis import AlarmStatus, HysteresisConfig, Transition, step
from edge.inference.base import InferenceBackend, warmup
from edge.model_slot import LoadedModel, ModelSlot
from edge.pipelines.fault_outputs import FaultScore, OutputMap, interpret
from edge.records import MonotonicSeq, SensorSamples
from edge.windows import AddResult, WindowAssembler, WindowRef, WindowSpec
from proto.artifacts import AlarmThresholds, ModelManifest
from proto.messages import ModelRef, Prediction

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, eq=False)
class FaultRunner:
    """A fault model ready to run: backend, window spec and output map from its manifest."""

    backend: InferenceBackend
    spec: WindowSpec
    outputs: OutputMap
    input_name: str
    recipe: FeatureRecipe

    @classmethod
    def create(cls, backend: InferenceBackend, manifest: ModelManifest) -> FaultRunner:
        """Check the backend against the manifest and build the runner."""
        spec = WindowSpec.from_manifest(manifest)
        shape = backend.input_specs[0].shape
        if len(shape) != 3:
            raise ValueError(f"{manifest.name}: input must be [batch, time, channels], got {shape}")
        if shape[1] not in (None, spec.length) or shape[2] not in (None, len(spec.channels)):
            raise ValueError(
                f"{manifest.name}: input {shape} does not fit windows of {spec.length} x {len(spec.channels)}"
            )
        outputs = OutputMap.from_specs(backend.output_specs, manifest.class_names)
        recipe = FeatureRecipe.from_manifest(manifest)
        return cls(backend, spec, outputs, backend.input_specs[0].name, recipe)

    def __call__(self, batch: np.ndarray) -> list[FaultScore]:
        """Scores of a normalized batch [B, T, C]."""
        outputs = self.backend.run({self.input_name: batch})
        return interpret(outputs, self.outputs, batch.shape[0])


def load_fault_model(
    open_backend: Callable[[], InferenceBackend], manifest: ModelManifest, warmup_runs: int = 2
) -> LoadedModel[FaultRunner]:
    """Open, check and warm up a fault model (call off the hot path)."""
    backend = open_backend()
    try:
        runner = FaultRunner.create(backend, manifest)
        if warmup_runs:
            warmup(backend, runs=warmup_runs, batch=1)
    except Exception:
        backend.close()
        raise
    return LoadedModel(runner, manifest, backend.close)


def hysteresis_config(
    manifest: ModelManifest,
    enter: float | None = None,
    exit: float | None = None,
    min_duration_ms: int | None = None,
    clear_duration_ms: int = 0,
) -> HysteresisConfig:
    """Settings first, else the manifest (thresholds, metrics.alarm_min_duration_s), else 0.8 / 0.6 / 0."""
    thresholds = manifest.thresholds
    default_enter, default_exit = (
        (thresholds.enter, thresholds.exit) if isinstance(thresholds, AlarmThresholds) else (0.8, 0.6)
    )
    if min_duration_ms is None:
        min_duration_ms = round(float(manifest.metrics.get("alarm_min_duration_s", 0.0)) * 1000)
    return HysteresisConfig(
        enter if enter is not None else default_enter,
        exit if exit is not None else default_exit,
        min_duration_ms,
        clear_duration_ms,
    )


@dataclass(frozen=True, slots=True)
class AlarmEvent:
    """An alarm raised or cleared on one machine, at the event time of the window that decided it."""

    machine_id: str
    line_id: str
    transition: Transition
    timestamp_ms: int
    probability: float
    fault_type: str


@dataclass(frozen=True, slots=True)
class TickTimings:
    """Milliseconds per step of one tick."""

    assemble_ms: float = 0.0
    inference_ms: float = 0.0
    postprocess_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class TickResult:
    """Everything one tick produced."""

    predictions: tuple[Prediction, ...] = ()
    alarms: tuple[AlarmEvent, ...] = ()
    timings: TickTimings = field(default_factory=TickTimings)
    model_version: str = ""

    @property
    def batch_size(self) -> int:
        """Windows in the batch."""
        return len(self.predictions)


@dataclass(frozen=True, slots=True)
class _Batch:
    spec: WindowSpec
    windows: tuple[WindowRef, ...]
    scores: list[FaultScore]
    model: LoadedModel[FaultRunner]
    assemble_ms: float
    inference_ms: float


class FaultPipeline:
    """Ring buffers, the model slot and per-machine hysteresis of one edge node."""

    def __init__(
        self,
        slot: ModelSlot[FaultRunner],
        hysteresis: HysteresisConfig,
        *,
        group_id: str,
        edge_node: str,
        max_batch: int = 4096,
        pending_per_machine: int = 8,
        max_gap_ms: int | None = None,
        clock: Callable[[], float] = time.perf_counter,
        seq: MonotonicSeq | None = None,
    ) -> None:
        self.slot = slot
        self.hysteresis = hysteresis
        self.group_id, self.edge_node = group_id, edge_node
        self.max_batch = max_batch
        self._pending_per_machine, self._max_gap_ms = pending_per_machine, max_gap_ms
        self._recipe = slot.current.runner.recipe
        self.assembler = WindowAssembler(
            slot.current.runner.spec, pending_per_machine=pending_per_machine, max_gap_ms=max_gap_ms
        )
        self._builders: dict[str, FeatureBuilder] = {}
        self._alarms: dict[str, AlarmStatus] = {}
        self._lock = threading.Lock()
        self._clock = clock
        self._seq = seq or MonotonicSeq()
        self.ingested = AddResult()

    def ingest(self, samples: SensorSamples) -> AddResult:
        """Add one block of samples: as rows of the model's recipe, into its machine's buffer."""
        with self._lock:
            builder = self._builders.get(samples.machine_id)
            if builder is None:
                builder = self._builders[samples.machine_id] = FeatureBuilder(
                    self._recipe, samples.machine_kind
                )
            rows = builder.add(samples.channels, samples.timestamps_ms, samples.values)
            if not len(rows):
                return AddResult()
            result = self.assembler.add(
                samples.machine_id,
                samples.line_id,
                self.assembler.spec.channels,
                rows.timestamps_ms,
                rows.values,
            )
        total = self.ingested
        self.ingested = AddResult(
            total.appended + result.appended,
            total.duplicates + result.duplicates,
            total.late + result.late,
            total.restarts + result.restarts,
        )
        return result

    @property
    def active_alarms(self) -> int:
        """Machines whose alarm is raised."""
        return sum(1 for status in self._alarms.values() if status.active)

    def tick(self) -> TickResult:
        """Run every ready window as one batch; predictions in window order, alarms on crossings."""
        runner = self.slot.current.runner
        if runner.recipe != self._recipe:
            self._restart(runner)
        batch = self.slot.run(self._run_batch)
        if not batch.windows:
            return TickResult(model_version=batch.model.version)
        t0 = self._clock()
        with self._lock:
            if batch.spec != self.assembler.spec:
                self.assembler.use(batch.spec)
            self.assembler.commit(batch.windows, batch.spec)
        predictions, alarms = self._predictions(batch)
        timings = TickTimings(batch.assemble_ms, batch.inference_ms, (self._clock() - t0) * 1e3)
        return TickResult(tuple(predictions), tuple(alarms), timings, batch.model.version)

    def _restart(self, runner: FaultRunner) -> None:
        """A model with other features: rows so far do not fit it, so windows start over."""
        log.warning("the new fault model builds other features; its windows start from the next samples")
        with self._lock:
            self._recipe = runner.recipe
            self._builders.clear()
            self.assembler = WindowAssembler(
                runner.spec, pending_per_machine=self._pending_per_machine, max_gap_ms=self._max_gap_ms
            )

    def _run_batch(self, model: LoadedModel[FaultRunner]) -> _Batch:
        spec = model.runner.spec
        if model.runner.recipe != self._recipe:  # rolled back across a feature change: wait a tick
            return _Batch(spec, (), [], model, 0.0, 0.0)
        t0 = self._clock()
        with self._lock:
            windows = self.assembler.pending(spec, limit=self.max_batch)
            x = self.assembler.assemble(windows, spec) if windows else None
        t1 = self._clock()
        scores = model.runner(x) if x is not None else []
        t2 = self._clock()
        return _Batch(spec, windows, scores, model, (t1 - t0) * 1e3, (t2 - t1) * 1e3)

    def _predictions(self, batch: _Batch) -> tuple[list[Prediction], list[AlarmEvent]]:
        predictions, alarms = [], []
        ref = ModelRef(name=batch.model.name, version=batch.model.version)
        step_ms = self._recipe.step_ms
        for window, score in zip(batch.windows, batch.scores, strict=True):
            status = self._alarms.get(window.machine_id, AlarmStatus())
            status, transition = step(self.hysteresis, status, score.probability, window.end_ms)
            self._alarms[window.machine_id] = status
            prediction = Prediction(
                group_id=self.group_id,
                edge_node=self.edge_node,
                machine_id=window.machine_id,
                line_id=window.line_id,
                timestamp_ms=window.end_ms,
                window_start_ms=max(0, window.start_ms - max(0, step_ms - 1)),
                fault_probability=score.probability,
                fault_type=score.fault_type,
                class_probabilities=dict(score.class_probabilities),
                model=ref,
                alarm=status.state,  # type: ignore[arg-type]
                seq=self._seq.next(),
            )
            if score.rul_s is not None:
                prediction.rul_seconds = score.rul_s
            predictions.append(prediction)
            if transition is not None:
                alarms.append(
                    AlarmEvent(
                        window.machine_id,
                        window.line_id,
                        transition,
                        window.end_ms,
                        score.probability,
                        score.fault_type,
                    )
                )
        return predictions, alarms
