"""Pure evaluation of a scenario's stated expectations against a run's scores.

Each stated bound becomes one ``Check``. A bound whose quantity could not be measured (no fault
failed, no frame was labelled, nothing arrived) fails with "not measured": a scenario that states
an expectation must produce the data to judge it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from iiot.harness.detection_scoring import DetectionScores
from iiot.harness.scenario import Expectations, Percentiles
from iiot.harness.scoring import Completeness, FaultScores, LatencyStats

LATENCY_SERIES = ("telemetry", "telemetry_outside_outages", "alert", "detection")


@dataclass(frozen=True, slots=True)
class RunScores:
    """Everything scored about one run."""

    faults: FaultScores | None = None
    detections: DetectionScores | None = None
    telemetry: Completeness | None = None
    inspections: Completeness | None = None
    latency: Mapping[str, LatencyStats] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Check:
    """One expectation: what, whether it held, the measured value and the bound."""

    name: str
    passed: bool
    actual: str
    bound: str
    detail: str = ""


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "not measured"
    return f"{value:.3g}{unit}" if isinstance(value, float) else f"{value}{unit}"


def _at_least(name: str, value: float | None, bound: float, unit: str = "", detail: str = "") -> Check:
    ok = value is not None and value >= bound
    return Check(name, ok, _fmt(value, unit), f">= {bound:g}{unit}", detail)


def _at_most(name: str, value: float | None, bound: float, unit: str = "", detail: str = "") -> Check:
    ok = value is not None and value <= bound
    return Check(name, ok, _fmt(value, unit), f"<= {bound:g}{unit}", detail)


def evaluate(expectations: Expectations, scores: RunScores) -> list[Check]:
    """Every stated expectation as a check, in a stable order."""
    checks: list[Check] = []
    checks += _fault_checks(expectations, scores.faults)
    checks += _detection_checks(expectations, scores.detections)
    checks += _completeness_checks(expectations, scores.telemetry, scores.inspections)
    for series in LATENCY_SERIES:
        bounds: Percentiles = getattr(expectations.latency, series)
        checks += _latency_checks(series, bounds, scores.latency.get(series))
    return checks


def _fault_checks(expectations: Expectations, faults: FaultScores | None) -> list[Check]:
    e = expectations.faults
    out = []
    if e.min_flagged_share is not None:
        share = faults.flagged_share if faults else None
        detail = f"{faults.flagged}/{faults.failed} failed faults flagged" if faults else ""
        out.append(_at_least("faults flagged before failure (share)", share, e.min_flagged_share, "", detail))
    if e.min_median_lead_s is not None:
        out.append(
            _at_least("median lead time", faults.median_lead_s if faults else None, e.min_median_lead_s, " s")
        )
    if e.max_false_alerts_per_machine_day is not None:
        rate = faults.false_per_machine_day if faults else None
        detail = (
            f"{len(faults.false_alerts)} false over {faults.machine_days:.3g} machine-days" if faults else ""
        )
        out.append(
            _at_most("false alerts per machine-day", rate, e.max_false_alerts_per_machine_day, "", detail)
        )
    return out


def _per_class(bound: float | Mapping[str, float], scores: DetectionScores | None) -> dict[str, float]:
    if isinstance(bound, Mapping):
        return dict(bound)
    names = [c.class_name for c in scores.classes] if scores else []
    return {name: bound for name in names} or {"(any class)": bound}


def _detection_checks(expectations: Expectations, scores: DetectionScores | None) -> list[Check]:
    e = expectations.detection
    out = []
    for attr, bound in (("precision", e.min_precision), ("recall", e.min_recall)):
        if bound is None:
            continue
        for name, minimum in sorted(_per_class(bound, scores).items()):
            score = scores.by_class(name) if scores else None
            value = getattr(score, attr) if score else None
            detail = f"tp {score.tp}, fp {score.fp}, fn {score.fn}" if score else ""
            out.append(_at_least(f"detection {attr} [{name}] @IoU {e.iou:g}", value, minimum, "", detail))
    return out


def _completeness_checks(
    expectations: Expectations, telemetry: Completeness | None, inspections: Completeness | None
) -> list[Check]:
    e = expectations.completeness
    out = []
    for what, c in (("telemetry", telemetry), ("inspections", inspections)):
        if c is None or c.expected == 0:
            if what == "telemetry" and (e.max_lost is not None or e.max_duplicated is not None):
                out.append(Check(f"{what}: anything expected", False, "not measured", "> 0 identities"))
            continue
        if e.max_lost is not None:
            detail = f"{c.lost} lost in all, {c.lost_excused} inside outages, of {c.expected}"
            out.append(_at_most(f"{what}: lost (outside outages)", c.lost_unexcused, e.max_lost, "", detail))
        if e.max_lost_excused_share is not None:
            share = c.lost_excused / c.expected
            out.append(_at_most(f"{what}: lost inside outages (share)", share, e.max_lost_excused_share))
        if e.max_duplicated is not None:
            out.append(_at_most(f"{what}: duplicated", c.duplicated, e.max_duplicated))
    return out


def _latency_checks(series: str, bounds: Percentiles, stats: LatencyStats | None) -> list[Check]:
    out = []
    for name, bound in (("p50", bounds.p50_s), ("p95", bounds.p95_s), ("p99", bounds.p99_s)):
        if bound is None:
            continue
        value = getattr(stats, name) if stats else None
        detail = f"{stats.count} samples" if stats else ""
        out.append(_at_most(f"{series} latency {name}", value, bound, " s", detail))
    return out
