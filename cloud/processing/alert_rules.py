"""Alert rules as pure state machines: ``rule.evaluate(state, observation) -> (state, conditions)``.

Each rule keeps a small state per key (machine and fault, machine and metric, line and camera,
edge node) and emits a :class:`ConditionRaised` when its condition starts (or worsens) and a
:class:`ConditionCleared` when it ends. The alert lifecycle turns conditions into alerts.

Hysteresis is shared: a condition *enters* above an enter threshold that held for a minimum
duration, and *clears* only below a lower exit threshold (for a minimum duration), so a signal
hovering at the threshold does not chatter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from cloud.errors import ConfigError
from cloud.processing.records import (
    Condition,
    ConditionCleared,
    ConditionRaised,
    Inspection,
    NodeEvent,
    PredictionPoint,
    Severity,
    TelemetryPoint,
    camera_source,
    machine_source,
    node_source,
)

Transition = Literal["raise", "escalate", "clear"]


class Phase(StrEnum):
    """Where a hysteresis machine stands."""

    IDLE = "idle"
    PENDING = "pending"
    ACTIVE = "active"
    CLEARING = "clearing"


@dataclass(frozen=True, slots=True)
class HysteresisState:
    """Phase, when the current phase's candidate began, the raised severity, the last event time."""

    phase: Phase = Phase.IDLE
    since_ms: int | None = None
    severity: Severity | None = None
    last_ts_ms: int | None = None


@dataclass(frozen=True, slots=True)
class Hysteresis:
    """Enter after ``min_duration_ms`` of entering; clear after ``clear_duration_ms`` of not holding."""

    min_duration_ms: int = 0
    clear_duration_ms: int = 0

    def step(
        self, state: HysteresisState, ts_ms: int, *, entering: bool, holding: bool, severity: Severity
    ) -> tuple[HysteresisState, Transition | None]:
        """One observation; events older than the last one are ignored."""
        if state.last_ts_ms is not None and ts_ms < state.last_ts_ms:
            return state, None
        phase, since, raised = state.phase, state.since_ms, state.severity
        if phase in (Phase.IDLE, Phase.PENDING):
            if not entering:
                return HysteresisState(Phase.IDLE, None, None, ts_ms), None
            start = since if phase is Phase.PENDING and since is not None else ts_ms
            if ts_ms - start >= self.min_duration_ms:
                return HysteresisState(Phase.ACTIVE, None, severity, ts_ms), "raise"
            return HysteresisState(Phase.PENDING, start, None, ts_ms), None
        # ACTIVE or CLEARING
        if holding:
            if raised is None or severity > raised:
                return HysteresisState(Phase.ACTIVE, None, severity, ts_ms), "escalate"
            return HysteresisState(Phase.ACTIVE, None, raised, ts_ms), None
        start = since if phase is Phase.CLEARING and since is not None else ts_ms
        if ts_ms - start >= self.clear_duration_ms:
            return HysteresisState(Phase.IDLE, None, None, ts_ms), "clear"
        return HysteresisState(Phase.CLEARING, start, raised, ts_ms), None


def _conditions(
    transition: Transition | None,
    source: str,
    kind: str,
    severity: Severity,
    ts_ms: int,
    message: str,
    evidence: tuple[tuple[str, float | str], ...],
) -> tuple[Condition, ...]:
    if transition is None:
        return ()
    if transition == "clear":
        return (ConditionCleared(source, kind, ts_ms, message),)
    return (ConditionRaised(source, kind, severity, ts_ms, message, evidence),)


# ------------------------------------------------------------------------- fault prediction


@dataclass(frozen=True, slots=True)
class ProbabilityThresholds:
    """Enter at ``enter``, exit below ``exit``; severity from the highest matching probability band."""

    enter: float = 0.8
    exit: float = 0.6
    min_duration_ms: int = 0
    clear_duration_ms: int = 0
    bands: tuple[tuple[float, Severity], ...] = ((0.95, Severity.CRITICAL), (0.0, Severity.WARNING))

    def __post_init__(self) -> None:
        if not 0.0 <= self.exit <= self.enter <= 1.0:
            raise ConfigError(f"need 0 <= exit <= enter <= 1, got enter={self.enter} exit={self.exit}")

    def severity(self, probability: float) -> Severity:
        """Severity for a probability: the first band (highest first) it reaches."""
        for floor, severity in sorted(self.bands, key=lambda band: -band[0]):
            if probability >= floor:
                return severity
        return Severity.WARNING


@dataclass(frozen=True, slots=True)
class PredictionRule:
    """Fault probability thresholds with hysteresis, per machine (thresholds overridable per machine)."""

    default: ProbabilityThresholds = field(default_factory=ProbabilityThresholds)
    by_machine: Mapping[str, ProbabilityThresholds] = field(default_factory=dict)
    kind: str = "prediction"

    def evaluate(
        self, state: HysteresisState, prediction: PredictionPoint
    ) -> tuple[HysteresisState, tuple[Condition, ...]]:
        """One prediction in; conditions out."""
        limits = self.by_machine.get(prediction.machine_id, self.default)
        p = prediction.probability
        severity = limits.severity(p)
        machine = Hysteresis(limits.min_duration_ms, limits.clear_duration_ms)
        new, transition = machine.step(
            state, prediction.ts_ms, entering=p >= limits.enter, holding=p >= limits.exit, severity=severity
        )
        what = prediction.fault_type or "fault"
        if transition == "clear":
            message = f"fault probability back to {p:.2f} on {prediction.machine_id}"
        else:
            message = f"{what} predicted on {prediction.machine_id}: probability {p:.2f}"
        evidence: tuple[tuple[str, float | str], ...] = (
            ("probability", p),
            ("enter", limits.enter),
            ("exit", limits.exit),
            ("fault_type", prediction.fault_type),
            ("model", prediction.model),
            ("model_version", prediction.model_version),
        )
        if prediction.rul_s is not None:
            evidence += (("rul_s", prediction.rul_s),)
        source = machine_source(prediction.machine_id)
        return new, _conditions(transition, source, self.kind, severity, prediction.ts_ms, message, evidence)


# ------------------------------------------------------------------------- sensor range


@dataclass(frozen=True, slots=True)
class RangeLimit:
    """Allowed range of one metric; out of it raises, back inside by ``deadband`` clears."""

    low: float | None = None
    high: float | None = None
    deadband: float = 0.0
    severity: Severity = Severity.WARNING
    critical_low: float | None = None
    critical_high: float | None = None
    min_duration_ms: int = 0
    unit: str = ""

    def __post_init__(self) -> None:
        if self.low is not None and self.high is not None and self.low >= self.high:
            raise ConfigError(f"range low {self.low} must be below high {self.high}")
        if self.deadband < 0:
            raise ConfigError(f"deadband must not be negative, got {self.deadband}")


# Metric -> allowed range for the twin's sensor types (deg C, A, rpm, mm/s RMS, bar, m3/h).
# Vibration bands follow ISO 10816-3 (zone C from 4.5 mm/s, zone D from 7.1 mm/s for group 2).
DEFAULT_RANGE_LIMITS: Mapping[str, RangeLimit] = {
    "temperature": RangeLimit(low=-10.0, high=90.0, deadband=2.0, critical_high=110.0, unit="degC"),
    "vibration": RangeLimit(high=4.5, deadband=0.3, critical_high=7.1, unit="mm/s"),
    "current": RangeLimit(low=0.0, high=60.0, deadband=2.0, critical_high=80.0, unit="A"),
    "pressure": RangeLimit(low=0.0, high=10.0, deadband=0.3, critical_high=12.0, unit="bar"),
    "speed": RangeLimit(low=0.0, high=3600.0, deadband=30.0, critical_high=4000.0, unit="rpm"),
    "flow": RangeLimit(low=0.0, high=200.0, deadband=5.0, unit="m3/h"),
}


@dataclass(frozen=True, slots=True)
class RangeRule:
    """Sensor out of range, per machine and metric, from a declarative metric -> limit table."""

    limits: Mapping[str, RangeLimit] = field(default_factory=lambda: dict(DEFAULT_RANGE_LIMITS))

    @staticmethod
    def kind(metric: str) -> str:
        """Alert kind of a metric out of range."""
        return f"range.{metric}"

    def limit_for(self, metric: str) -> RangeLimit | None:
        """The limit for a metric, by its full name or its last path segment (``motor/temperature``)."""
        found = self.limits.get(metric)
        if found is None and "/" in metric:
            found = self.limits.get(metric.rsplit("/", 1)[1])
        return found

    def evaluate(
        self, state: HysteresisState, point: TelemetryPoint
    ) -> tuple[HysteresisState, tuple[Condition, ...]]:
        """One sample in; conditions out (metrics without a limit never raise)."""
        limit = self.limit_for(point.metric)
        if limit is None or point.stale:
            return state, ()
        v = point.value
        low_out = limit.low is not None and v < limit.low
        high_out = limit.high is not None and v > limit.high
        low_hold = limit.low is not None and v < limit.low + limit.deadband
        high_hold = limit.high is not None and v > limit.high - limit.deadband
        critical = (limit.critical_low is not None and v < limit.critical_low) or (
            limit.critical_high is not None and v > limit.critical_high
        )
        severity = Severity.CRITICAL if critical else limit.severity
        new, transition = Hysteresis(limit.min_duration_ms).step(
            state, point.ts_ms, entering=low_out or high_out, holding=low_hold or high_hold, severity=severity
        )
        if transition == "clear":
            message = f"{point.metric} back in range on {point.machine_id}: {v:g}{limit.unit}"
        else:
            message = f"{point.metric} out of range on {point.machine_id}: {v:g}{limit.unit}"
        evidence: tuple[tuple[str, float | str], ...] = (("value", v), ("unit", limit.unit))
        if limit.low is not None:
            evidence += (("low", limit.low),)
        if limit.high is not None:
            evidence += (("high", limit.high),)
        source = machine_source(point.machine_id)
        return new, _conditions(
            transition, source, self.kind(point.metric), severity, point.ts_ms, message, evidence
        )


# ------------------------------------------------------------------------- defect rate


@dataclass(frozen=True, slots=True)
class DefectRateLimits:
    """Defective share of inspected frames over a sliding window, counted in buckets."""

    window_ms: int = 60_000
    bucket_ms: int = 5_000
    enter_rate: float = 0.10
    exit_rate: float = 0.05
    critical_rate: float = 0.25
    min_inspections: int = 20
    min_score: float = 0.5
    good_labels: frozenset[str] = frozenset({"ok", "good", "part"})
    severity: Severity = Severity.WARNING

    def __post_init__(self) -> None:
        if self.bucket_ms <= 0 or self.window_ms < self.bucket_ms:
            raise ConfigError(f"need 0 < bucket ({self.bucket_ms} ms) <= window ({self.window_ms} ms)")
        if not 0.0 <= self.exit_rate <= self.enter_rate <= 1.0:
            raise ConfigError(
                f"need 0 <= exit_rate <= enter_rate <= 1, got {self.exit_rate}, {self.enter_rate}"
            )

    def is_defective(self, inspection: Inspection) -> bool:
        """Whether any confident detection in the frame is a defect class."""
        return any(b.score >= self.min_score and b.label not in self.good_labels for b in inspection.boxes)


@dataclass(frozen=True, slots=True)
class DefectRateState:
    """Buckets of (start ms, inspected, defective) within the window, and the hysteresis state."""

    buckets: tuple[tuple[int, int, int], ...] = ()
    hysteresis: HysteresisState = field(default_factory=HysteresisState)
    newest_ms: int | None = None


@dataclass(frozen=True, slots=True)
class DefectRateRule:
    """Defect rate per line and camera over a sliding event-time window."""

    limits: DefectRateLimits = field(default_factory=DefectRateLimits)
    kind: str = "defect_rate"

    def evaluate(
        self, state: DefectRateState, inspection: Inspection
    ) -> tuple[DefectRateState, tuple[Condition, ...]]:
        """One inspected frame in; conditions out."""
        lim = self.limits
        newest = inspection.ts_ms if state.newest_ms is None else max(state.newest_ms, inspection.ts_ms)
        horizon = newest - lim.window_ms
        bucket = (inspection.ts_ms // lim.bucket_ms) * lim.bucket_ms
        counts = {start: (n, bad) for start, n, bad in state.buckets}
        if bucket + lim.bucket_ms > horizon:  # not older than the window: count it
            n, bad = counts.get(bucket, (0, 0))
            counts[bucket] = (n + 1, bad + int(lim.is_defective(inspection)))
        buckets = tuple(sorted((s, n, bad) for s, (n, bad) in counts.items() if s + lim.bucket_ms > horizon))
        inspected = sum(n for _, n, _ in buckets)
        defective = sum(bad for _, _, bad in buckets)
        rate = defective / inspected if inspected else 0.0
        enough = inspected >= lim.min_inspections
        severity = Severity.CRITICAL if rate >= lim.critical_rate else lim.severity
        hyst, transition = Hysteresis().step(
            state.hysteresis,
            newest,
            entering=enough and rate >= lim.enter_rate,
            holding=rate > lim.exit_rate,
            severity=severity,
        )
        where = f"{inspection.line_id}/{inspection.camera_id}"
        verb = "back to" if transition == "clear" else "at"
        message = f"defect rate {verb} {rate:.1%} on {where} ({defective}/{inspected})"
        evidence: tuple[tuple[str, float | str], ...] = (
            ("rate", rate),
            ("defective", float(defective)),
            ("inspected", float(inspected)),
            ("window_ms", float(lim.window_ms)),
        )
        source = camera_source(inspection.line_id, inspection.camera_id)
        conditions = _conditions(transition, source, self.kind, severity, newest, message, evidence)
        return DefectRateState(buckets, hyst, newest), conditions


# ------------------------------------------------------------------------- edge node health


@dataclass(frozen=True, slots=True)
class NodeHealthState:
    """What we know of one edge node's Sparkplug session and which conditions we raised."""

    online: bool | None = None
    last_seen_ms: int | None = None
    bd_seq: int | None = None
    offline_raised: bool = False
    stale_raised: bool = False
    stale_at_ms: int | None = None
    """Event time at which stale was raised: data older than that minus the limit is a backlog."""


@dataclass(frozen=True, slots=True)
class NodeHealthRule:
    """Edge node offline (Sparkplug NDEATH) or stale (no data for ``stale_after_ms`` of event time)."""

    stale_after_ms: int = 30_000
    offline_severity: Severity = Severity.CRITICAL
    stale_severity: Severity = Severity.WARNING
    offline_kind: str = "node.offline"
    stale_kind: str = "node.stale"

    def evaluate(
        self, state: NodeHealthState, event: NodeEvent
    ) -> tuple[NodeHealthState, tuple[Condition, ...]]:
        """A birth, death or data event of the node."""
        source = node_source(event.group, event.edge_node)
        out: list[Condition] = []
        seen = event.ts_ms if state.last_seen_ms is None else max(state.last_seen_ms, event.ts_ms)
        if event.kind == "birth":
            if state.offline_raised:
                out.append(ConditionCleared(source, self.offline_kind, event.ts_ms, "node reborn"))
            if state.stale_raised:
                out.append(ConditionCleared(source, self.stale_kind, event.ts_ms, "node reborn"))
            return NodeHealthState(True, seen, event.bd_seq, False, False), tuple(out)
        if event.kind == "death":
            if event.bd_seq is not None and state.bd_seq is not None and event.bd_seq != state.bd_seq:
                return state, ()  # the death certificate of an older session
            if state.stale_raised:
                out.append(ConditionCleared(source, self.stale_kind, event.ts_ms, "node died"))
            if not state.offline_raised:
                evidence: tuple[tuple[str, float | str], ...] = (("bd_seq", float(event.bd_seq or 0)),)
                message = f"edge node {event.group}/{event.edge_node} offline (NDEATH)"
                out.append(
                    ConditionRaised(
                        source, self.offline_kind, self.offline_severity, event.ts_ms, message, evidence
                    )
                )
            return NodeHealthState(False, seen, state.bd_seq, True, False), tuple(out)
        online = True if state.online is None else state.online
        if state.stale_raised:
            # a node replaying its store-and-forward backlog sends data from inside its silence:
            # stale clears once the data reaches the time the silence was noticed, not at the
            # first replayed sample (which would clear, then raise again at the next tick)
            caught_up = event.ts_ms >= (state.stale_at_ms or 0) - self.stale_after_ms
            if not caught_up:
                return replace(state, online=online, last_seen_ms=seen), ()
            out.append(ConditionCleared(source, self.stale_kind, event.ts_ms, "data again"))
        return NodeHealthState(online, seen, state.bd_seq, state.offline_raised, False), tuple(out)

    def tick(
        self, state: NodeHealthState, group: str, edge_node: str, now_ms: int
    ) -> tuple[NodeHealthState, tuple[Condition, ...]]:
        """Event time moved on: raise stale if the node has been silent too long while online."""
        if state.online is not True or state.stale_raised or state.last_seen_ms is None:
            return state, ()
        silent = now_ms - state.last_seen_ms
        if silent <= self.stale_after_ms:
            return state, ()
        message = f"edge node {group}/{edge_node} silent for {silent / 1000:.0f} s"
        evidence: tuple[tuple[str, float | str], ...] = (("silent_ms", float(silent)),)
        raised = ConditionRaised(
            node_source(group, edge_node), self.stale_kind, self.stale_severity, now_ms, message, evidence
        )
        return replace(state, stale_raised=True, stale_at_ms=now_ms), (raised,)
