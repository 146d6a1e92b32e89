"""Alert rules as pure state machines: hysteresis, thresholds, ranges, defect rate, node health."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from cloud.errors import ConfigError
from cloud.processing.alert_rules import (
    DefectRateLimits,
    DefectRateRule,
    DefectRateState,
    Hysteresis,
    HysteresisState,
    NodeHealthRule,
    NodeHealthState,
    Phase,
    PredictionRule,
    ProbabilityThresholds,
    RangeLimit,
    RangeRule,
)
from cloud.processing.records import (
    Condition,
    ConditionCleared,
    ConditionRaised,
    DetectionBox,
    Inspection,
    NodeEvent,
    PredictionPoint,
    Severity,
    TelemetryPoint,
)


def _summary(conditions: Sequence[Condition]) -> list[str]:
    out = []
    for c in conditions:
        if isinstance(c, ConditionRaised):
            out.append(f"raise:{c.kind}:{c.severity.label}@{c.ts_ms}")
        else:
            out.append(f"clear:{c.kind}@{c.ts_ms}")
    return out


# (ts, entering, holding) sequences -> transitions, for a machine with min duration 10 and clear duration 5
@pytest.mark.parametrize(
    ("min_ms", "clear_ms", "steps", "expected"),
    [
        (0, 0, [(0, True, True)], ["raise"]),
        (0, 0, [(0, True, True), (1, True, True), (2, False, True), (3, False, False)], ["raise", "clear"]),
        (10, 0, [(0, True, True), (5, True, True), (10, True, True)], ["raise"]),
        (10, 0, [(0, True, True), (5, False, True), (10, True, True), (15, True, True)], []),
        (10, 0, [(0, True, True), (5, False, True), (10, True, True), (20, True, True)], ["raise"]),
        (
            0,
            5,
            [(0, True, True), (1, False, False), (3, False, False), (6, False, False)],
            ["raise", "clear"],
        ),
        (0, 5, [(0, True, True), (1, False, False), (3, False, True), (7, False, False)], ["raise"]),
        # an older observation is ignored
        (0, 0, [(10, True, True), (5, False, False)], ["raise"]),
    ],
)
def test_hysteresis(
    min_ms: int, clear_ms: int, steps: list[tuple[int, bool, bool]], expected: list[str]
) -> None:
    machine = Hysteresis(min_ms, clear_ms)
    state = HysteresisState()
    got = []
    for ts, entering, holding in steps:
        state, transition = machine.step(
            state, ts, entering=entering, holding=holding, severity=Severity.WARNING
        )
        if transition:
            got.append(transition)
    assert got == expected


def test_hysteresis_escalates_but_never_deescalates() -> None:
    machine = Hysteresis()
    state = HysteresisState()
    got = []
    for ts, severity in [
        (0, Severity.WARNING),
        (1, Severity.CRITICAL),
        (2, Severity.WARNING),
        (3, Severity.CRITICAL),
    ]:
        state, transition = machine.step(state, ts, entering=True, holding=True, severity=severity)
        got.append(transition)
    assert got == ["raise", "escalate", None, None]
    assert state.phase is Phase.ACTIVE
    assert state.severity is Severity.CRITICAL


def _run_predictions(rule: PredictionRule, probabilities: list[tuple[int, float]]) -> list[str]:
    state = HysteresisState()
    out: list[Condition] = []
    for ts, p in probabilities:
        state, conditions = rule.evaluate(state, PredictionPoint("m1", ts, p, "bearing", model_version="3"))
        out.extend(conditions)
    return _summary(out)


@pytest.mark.parametrize(
    ("thresholds", "series", "expected"),
    [
        # enter at 0.8, exit below 0.6: one episode despite hovering
        (
            ProbabilityThresholds(0.8, 0.6),
            [(0, 0.5), (1, 0.85), (2, 0.7), (3, 0.81), (4, 0.65), (5, 0.59), (6, 0.7)],
            ["raise:prediction:warning@1", "clear:prediction@5"],
        ),
        # never reaching enter never raises
        (ProbabilityThresholds(0.8, 0.6), [(0, 0.79), (1, 0.7), (2, 0.79)], []),
        # minimum duration: a short spike does not raise, a sustained one does
        (
            ProbabilityThresholds(0.8, 0.6, min_duration_ms=1_000),
            [(0, 0.9), (500, 0.5), (1_000, 0.9), (1_500, 0.9), (2_000, 0.9)],
            ["raise:prediction:warning@2000"],
        ),
        # severity band escalation
        (
            ProbabilityThresholds(0.8, 0.6),
            [(0, 0.82), (1, 0.97), (2, 0.3)],
            ["raise:prediction:warning@0", "raise:prediction:critical@1", "clear:prediction@2"],
        ),
        # a new episode after clearing
        (
            ProbabilityThresholds(0.8, 0.6),
            [(0, 0.9), (1, 0.1), (2, 0.9)],
            ["raise:prediction:warning@0", "clear:prediction@1", "raise:prediction:warning@2"],
        ),
    ],
)
def test_prediction_rule(
    thresholds: ProbabilityThresholds, series: list[tuple[int, float]], expected: list[str]
) -> None:
    assert _run_predictions(PredictionRule(default=thresholds), series) == expected


def test_prediction_rule_per_machine_override_and_evidence() -> None:
    rule = PredictionRule(by_machine={"m1": ProbabilityThresholds(0.5, 0.4)})
    _, (raised,) = rule.evaluate(
        HysteresisState(), PredictionPoint("m1", 7, 0.55, "bearing", model_version="3")
    )
    assert isinstance(raised, ConditionRaised)
    assert raised.source == "machine/m1"
    assert dict(raised.evidence)["probability"] == 0.55
    assert dict(raised.evidence)["model_version"] == "3"
    assert dict(raised.evidence)["fault_type"] == "bearing"
    _, nothing = rule.evaluate(HysteresisState(), PredictionPoint("m2", 7, 0.55, "imbalance"))
    assert nothing == ()


@pytest.mark.parametrize(("enter", "exit_"), [(0.5, 0.6), (1.2, 0.5), (0.5, -0.1)])
def test_probability_thresholds_reject(enter: float, exit_: float) -> None:
    with pytest.raises(ConfigError):
        ProbabilityThresholds(enter, exit_)


TEMPERATURE = RangeLimit(low=0.0, high=90.0, deadband=2.0, critical_high=110.0, unit="degC")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([50.0, 60.0], []),
        ([50.0, 91.0, 89.0, 88.5, 87.9], ["raise:range.temperature:warning@1", "clear:range.temperature@4"]),
        (
            [91.0, 120.0, 50.0],
            [
                "raise:range.temperature:warning@0",
                "raise:range.temperature:critical@1",
                "clear:range.temperature@2",
            ],
        ),
        ([-1.0, 1.5, 2.5], ["raise:range.temperature:warning@0", "clear:range.temperature@2"]),
        ([115.0], ["raise:range.temperature:critical@0"]),
    ],
)
def test_range_rule(values: list[float], expected: list[str]) -> None:
    rule = RangeRule({"temperature": TEMPERATURE})
    state = HysteresisState()
    out: list[Condition] = []
    for ts, v in enumerate(values):
        state, conditions = rule.evaluate(state, TelemetryPoint("m1", "temperature", ts, v))
        out.extend(conditions)
    assert _summary(out) == expected


@pytest.mark.parametrize(
    ("metric", "found"),
    [("temperature", True), ("motor/temperature", True), ("humidity", False), ("motor/humidity", False)],
)
def test_range_rule_limit_lookup(metric: str, found: bool) -> None:
    assert (RangeRule().limit_for(metric) is not None) is found


def test_range_rule_ignores_unknown_and_stale() -> None:
    rule = RangeRule({"temperature": TEMPERATURE})
    assert rule.evaluate(HysteresisState(), TelemetryPoint("m1", "humidity", 0, 1e9))[1] == ()
    assert rule.evaluate(HysteresisState(), TelemetryPoint("m1", "temperature", 0, 1e9, stale=True))[1] == ()


def test_range_limit_rejects() -> None:
    with pytest.raises(ConfigError):
        RangeLimit(low=10.0, high=5.0)
    with pytest.raises(ConfigError):
        RangeLimit(high=5.0, deadband=-1.0)


def _frame(ts: int, defective: bool, label: str = "scratch", score: float = 0.9) -> Inspection:
    boxes = (DetectionBox(label, score),) if defective else (DetectionBox("part", 0.99),)
    return Inspection("L1", "cam1", ts, boxes)


LIMITS = DefectRateLimits(
    window_ms=10_000, bucket_ms=1_000, enter_rate=0.2, exit_rate=0.1, critical_rate=0.5, min_inspections=5
)


@pytest.mark.parametrize(
    ("frames", "expected"),
    [
        # 1 in 10 defective, the last one: below enter
        ([(i * 500, i == 9) for i in range(10)], []),
        # too few inspections to judge
        ([(0, True), (1, True)], []),
        # 3 in 10 -> raise at the 5th frame where the rate is 3/5
        ([(i * 100, i < 3) for i in range(10)], ["raise:defect_rate:critical@400"]),
        # the window slides: old defects age out and the rate clears
        (
            [(i * 100, i < 2) for i in range(8)] + [(20_000 + i * 100, False) for i in range(10)],
            ["raise:defect_rate:warning@400", "clear:defect_rate@20000"],
        ),
    ],
)
def test_defect_rate_rule(frames: list[tuple[int, bool]], expected: list[str]) -> None:
    rule = DefectRateRule(LIMITS)
    state = DefectRateState()
    out: list[Condition] = []
    for ts, bad in frames:
        state, conditions = rule.evaluate(state, _frame(ts, bad))
        out.extend(conditions)
    assert _summary(out) == expected
    assert all(c.source == "camera/L1/cam1" for c in out)


@pytest.mark.parametrize(
    ("label", "score", "defective"),
    [("scratch", 0.9, True), ("scratch", 0.3, False), ("ok", 0.99, False), ("part", 0.99, False)],
)
def test_defect_classification(label: str, score: float, defective: bool) -> None:
    assert LIMITS.is_defective(_frame(0, True, label, score)) is defective


def test_defect_rate_drops_frames_older_than_the_window() -> None:
    rule = DefectRateRule(LIMITS)
    state, _ = rule.evaluate(DefectRateState(), _frame(50_000, False))
    state, _ = rule.evaluate(state, _frame(1_000, True))
    assert [n for _, n, _ in state.buckets] == [1]


def _node(kind: str, ts: int, bd_seq: int | None = None) -> NodeEvent:
    return NodeEvent("plant", "edge1", ts, kind, bd_seq)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([("birth", 0, 1), ("data", 10, None)], []),
        ([("birth", 0, 1), ("death", 10, 1)], ["raise:node.offline:critical@10"]),
        ([("birth", 0, 1), ("death", 10, 1), ("death", 11, 1)], ["raise:node.offline:critical@10"]),
        (
            [("birth", 0, 1), ("death", 10, 1), ("birth", 20, 2)],
            ["raise:node.offline:critical@10", "clear:node.offline@20"],
        ),
        # a death certificate of an older session is ignored
        ([("birth", 0, 2), ("death", 10, 1)], []),
        # stale after 30 s of silence, cleared by data
        (
            [
                ("birth", 0, 1),
                ("tick", 30_000, None),
                ("tick", 30_001, None),
                ("tick", 40_000, None),
                ("data", 41_000, None),
            ],
            ["raise:node.stale:warning@30001", "clear:node.stale@41000"],
        ),
        # a backlog replayed after an outage: data from inside the silence keeps stale raised (no
        # clear-and-raise at every tick); it clears once the data reaches the silence's end
        (
            [
                ("birth", 0, 1),
                ("tick", 60_000, None),
                ("data", 1_000, None),
                ("tick", 61_000, None),
                ("data", 20_000, None),
                ("tick", 62_000, None),
                ("data", 35_000, None),
                ("tick", 63_000, None),
            ],
            ["raise:node.stale:warning@60000", "clear:node.stale@35000"],
        ),
        # death supersedes stale
        (
            [("birth", 0, 1), ("tick", 31_000, None), ("death", 32_000, 1)],
            ["raise:node.stale:warning@31000", "clear:node.stale@32000", "raise:node.offline:critical@32000"],
        ),
        # an offline node is not also stale
        ([("birth", 0, 1), ("death", 1, 1), ("tick", 100_000, None)], ["raise:node.offline:critical@1"]),
    ],
)
def test_node_health_rule(events: list[tuple[str, int, int | None]], expected: list[str]) -> None:
    rule = NodeHealthRule(stale_after_ms=30_000)
    state = NodeHealthState()
    out: list[Condition] = []
    for kind, ts, bd in events:
        if kind == "tick":
            state, conditions = rule.tick(state, "plant", "edge1", ts)
        else:
            state, conditions = rule.evaluate(state, _node(kind, ts, bd))
        out.extend(conditions)
    assert _summary(out) == expected
    assert all(c.source == "node/plant/edge1" for c in out)
    assert all(isinstance(c, ConditionCleared | ConditionRaised) for c in out)
