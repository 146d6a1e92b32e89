"""The processing core that the Faust agents and the embedded runner both call.

Events are routed to a partition key (the Kafka key: the machine id, or the edge node for session
events). ``Processor.step(key, state, events)`` applies one key's events in order and returns the
new state with the aggregates and alert updates it produced. Nothing here does I/O, and the result
does not depend on how the stream was cut into batches, so every host produces the same output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from cloud.errors import AlertActionError
from cloud.processing.aggregation import AggregatorState, WindowAggregator
from cloud.processing.alert_lifecycle import AlertBook, AlertLifecycle, LifecyclePolicy
from cloud.processing.alert_rules import (
    DefectRateRule,
    DefectRateState,
    HysteresisState,
    NodeHealthRule,
    NodeHealthState,
    PredictionRule,
    RangeRule,
)
from cloud.processing.records import (
    Aggregate,
    Alert,
    AlertState,
    Condition,
    Inspection,
    NodeEvent,
    OperatorAction,
    PredictionPoint,
    TelemetryPoint,
    Tick,
)
from cloud.processing.windows import WindowSpec

Event = TelemetryPoint | PredictionPoint | Inspection | NodeEvent | OperatorAction | Tick


def partition_key(event: TelemetryPoint | PredictionPoint | Inspection | NodeEvent) -> str:
    """The key that orders and owns an event: the machine, else the camera, else the edge node."""
    if isinstance(event, NodeEvent):
        return f"node/{event.group}/{event.edge_node}"
    if isinstance(event, Inspection):
        return event.machine_id or f"camera/{event.line_id}/{event.camera_id}"
    return event.machine_id


@dataclass(frozen=True, slots=True)
class ProcessingConfig:
    """Windows, rules and lifecycle policy: everything that decides the output."""

    windows: tuple[WindowSpec, ...] = (
        WindowSpec.tumbling("1m", "10s"),
        WindowSpec.hopping("5m", "1m", "10s"),
    )
    predictions: PredictionRule = field(default_factory=PredictionRule)
    ranges: RangeRule = field(default_factory=RangeRule)
    defects: DefectRateRule = field(default_factory=DefectRateRule)
    nodes: NodeHealthRule = field(default_factory=NodeHealthRule)
    lifecycle: LifecyclePolicy = field(default_factory=LifecyclePolicy)


@dataclass(frozen=True, slots=True)
class KeyState:
    """All processing state of one key; ``positions`` (topic -> last applied offset) is kept by adapters."""

    aggregator: AggregatorState = field(default_factory=AggregatorState)
    predictions: Mapping[str, HysteresisState] = field(default_factory=dict)
    ranges: Mapping[tuple[str, str], HysteresisState] = field(default_factory=dict)
    defects: Mapping[tuple[str, str], DefectRateState] = field(default_factory=dict)
    nodes: Mapping[tuple[str, str], NodeHealthState] = field(default_factory=dict)
    alerts: AlertBook = field(default_factory=AlertBook)
    watermark_ms: int | None = None
    positions: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one step produced: closed windows, alert updates, operator actions that did not apply."""

    aggregates: tuple[Aggregate, ...] = ()
    alerts: tuple[Alert, ...] = ()
    rejected: tuple[tuple[OperatorAction, str], ...] = ()

    def __add__(self, other: StepResult) -> StepResult:
        return StepResult(
            self.aggregates + other.aggregates, self.alerts + other.alerts, self.rejected + other.rejected
        )


class Processor:
    """Windows, alert rules and the alert lifecycle over one key's events."""

    def __init__(self, config: ProcessingConfig | None = None) -> None:
        self.config = config or ProcessingConfig()
        self.aggregator = WindowAggregator(self.config.windows)
        self.lifecycle = AlertLifecycle(self.config.lifecycle)

    def step(self, key: str, state: KeyState, events: Iterable[Event]) -> tuple[KeyState, StepResult]:
        """Apply one key's events in order."""
        predictions = dict(state.predictions)
        ranges = dict(state.ranges)
        defects = dict(state.defects)
        nodes = dict(state.nodes)
        book = state.alerts
        watermark = state.watermark_ms
        points: list[TelemetryPoint] = []
        alerts: list[Alert] = []
        rejected: list[tuple[OperatorAction, str]] = []
        cfg = self.config

        def lifecycle(conditions: Sequence[Condition]) -> None:
            nonlocal book
            for condition in conditions:
                book, emitted = self.lifecycle.on_condition(book, condition)
                alerts.extend(emitted)

        for event in events:
            conditions: tuple[Condition, ...] = ()
            if isinstance(event, TelemetryPoint):
                points.append(event)
                rkey = (event.machine_id, event.metric)
                ranges[rkey], conditions = cfg.ranges.evaluate(ranges.get(rkey, HysteresisState()), event)
            elif isinstance(event, PredictionPoint):
                pkey = event.machine_id
                predictions[pkey], conditions = cfg.predictions.evaluate(
                    predictions.get(pkey, HysteresisState()), event
                )
            elif isinstance(event, Inspection):
                dkey = (event.line_id, event.camera_id)
                defects[dkey], conditions = cfg.defects.evaluate(defects.get(dkey, DefectRateState()), event)
            elif isinstance(event, NodeEvent):
                nkey = (event.group, event.edge_node)
                nodes[nkey], conditions = cfg.nodes.evaluate(nodes.get(nkey, NodeHealthState()), event)
            elif isinstance(event, OperatorAction):
                try:
                    book, emitted = self.lifecycle.on_action(book, event)
                except AlertActionError as exc:
                    rejected.append((event, str(exc)))
                else:
                    alerts.extend(emitted)
                continue
            elif isinstance(event, Tick):
                for (group, node), health in sorted(nodes.items()):
                    nodes[(group, node)], found = cfg.nodes.tick(health, group, node, event.ts_ms)
                    lifecycle(found)
                book, emitted = self.lifecycle.on_tick(book, event.ts_ms)
                alerts.extend(emitted)
                continue
            lifecycle(conditions)
            if watermark is None or event.ts_ms > watermark:
                watermark = event.ts_ms
                if any(a.state is AlertState.SHELVED for a in book.open.values()):
                    book, emitted = self.lifecycle.on_tick(book, watermark)
                    alerts.extend(emitted)

        aggregator, aggregates = self.aggregator.step(state.aggregator, points)
        new_state = KeyState(
            aggregator, predictions, ranges, defects, nodes, book, watermark, state.positions
        )
        stamped = tuple(replace(alert, key=key) for alert in alerts)
        return new_state, StepResult(aggregates, stamped, tuple(rejected))

    def flush(self, state: KeyState) -> tuple[Aggregate, ...]:
        """Provisional aggregates of the key's open windows."""
        return self.aggregator.flush(state.aggregator)


class KeyedProcessor:
    """Keeps every key's state in memory and routes events to it: the embedded runner's host."""

    def __init__(self, processor: Processor | None = None) -> None:
        self.processor = processor or Processor()
        self.states: dict[str, KeyState] = {}

    def process(
        self, events: Iterable[TelemetryPoint | PredictionPoint | Inspection | NodeEvent]
    ) -> StepResult:
        """Route events to their keys (order kept within a key) and step each key once."""
        by_key: dict[str, list[Event]] = {}
        for event in events:
            by_key.setdefault(partition_key(event), []).append(event)
        return self._step_all(by_key)

    def act(self, key: str, action: OperatorAction) -> StepResult:
        """Apply an operator action to the key that owns the alert."""
        return self._step_all({key: [action]})

    def tick(self, now_ms: int) -> StepResult:
        """Advance event time for every key: stale nodes and expired shelves."""
        return self._step_all({key: [Tick(now_ms)] for key in sorted(self.states)})

    def find_alert(self, alert_id: str) -> Alert | None:
        """An open or last-cleared alert by id, with its key."""
        for key, state in self.states.items():
            found = state.alerts.find(alert_id)
            if found is not None:
                return replace(found, key=key)
        return None

    def flush(self) -> tuple[Aggregate, ...]:
        """Provisional aggregates of every open window."""
        return tuple(a for key in sorted(self.states) for a in self.processor.flush(self.states[key]))

    def _step_all(self, by_key: Mapping[str, Sequence[Event]]) -> StepResult:
        result = StepResult()
        for key, events in by_key.items():
            self.states[key], produced = self.processor.step(key, self.states.get(key, KeyState()), events)
            result = result + produced
        return result
