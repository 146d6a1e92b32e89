"""The run's report: ``report.md`` with PNG figures and ``results.json``, written to the run folder.

Markdown because it reads in a terminal, on GitHub and in docs/reports alike. Sim times in the
tables are seconds from the start of the run (event time minus the twin's epoch).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from iiot.harness import plots
from iiot.harness.expectations import Check
from iiot.harness.orchestrate import RunOutcome
from iiot.harness.scoring import Completeness, LatencyStats

EXAMPLES = 10


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += [
        "| " + " | ".join(str(c).replace("|", "\\|").replace("\n", " ") for c in row) + " |" for row in rows
    ]
    return lines


def _titled(title: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    return [title, "", *_table(header, rows), ""]


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}g}"


def _sim(outcome: RunOutcome, t_ms: int | None) -> str:
    if t_ms is None or outcome.epoch_ms is None:
        return "–"
    return f"{(t_ms - outcome.epoch_ms) / 1000:.0f}"


def failed_checks(outcome: RunOutcome) -> list[Check]:
    """The expectations that did not hold."""
    return [c for c in outcome.checks if not c.passed]


def write_report(outcome: RunOutcome, *, command: str = "") -> Path:
    """Write report.md, its figures and results.json into the run folder; return report.md's path."""
    folder = outcome.run_dir
    folder.mkdir(parents=True, exist_ok=True)
    lines = _head(outcome, command)
    lines += _expectations(outcome)
    lines += _faults(outcome, folder)
    lines += _detections(outcome, folder)
    lines += _completeness(outcome)
    lines += _latency(outcome, folder)
    lines += _timeline(outcome)
    path = folder / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    (folder / "results.json").write_text(json.dumps(results(outcome), indent=2), encoding="utf-8")
    return path


def _head(o: RunOutcome, command: str) -> list[str]:
    s = o.scenario
    verdict = "PASSED" if o.passed else "FAILED"
    lines = [f"# Harness report: {s.name} — {verdict}", ""]
    if s.description:
        lines += [s.description.strip(), ""]
    if command:
        lines += ["```", command, "```", ""]
    counts = o.counts
    lines += _table(
        ("item", "value"),
        [
            ("run", o.run_id),
            ("plant", f"{o.plant_name}: {o.machines} machines, {o.cameras} camera(s)"),
            (
                "edge agents",
                ", ".join(
                    f"{p.agent_id} ({len(p.machines)} machines, {len(p.cameras)} camera(s))" for p in o.plans
                ),
            ),
            ("bridges / workers", f"{s.cloud.bridges} / {s.cloud.workers}"),
            (
                "twin",
                f"seed {s.twin.seed}, speed {s.twin.speed:g}×, {o.sim_s:.0f} sim-s in "
                f"{o.twin_wall_s:.0f} wall-s, max lag {o.max_lag_s:.1f} s",
            ),
            (
                "twin sent",
                f"{counts.batches} sensor batches, {counts.samples} sample values "
                f"({counts.expected_samples} to be forwarded), "
                f"{counts.frames} frames, {counts.events} events"
                if counts
                else "–",
            ),
            (
                "truth messages received",
                ", ".join(f"{k}: {v}" for k, v in sorted(o.truth_messages.items())) or "–",
            ),
            (
                "isolation",
                f"Sparkplug group {o.names.group_id}, Kafka prefix {o.names.kafka_prefix}, "
                f"bucket {o.names.bucket}",
            ),
            ("phases (wall s from start)", ", ".join(f"{n} {t:g}" for n, t in o.phases)),
        ],
    )
    return [*lines, ""]


def _expectations(o: RunOutcome) -> list[str]:
    lines = ["## Expectations", ""]
    if o.checks:
        lines += _table(
            ("expectation", "result", "measured", "bound", "detail"),
            [(c.name, "pass" if c.passed else "**FAIL**", c.actual, c.bound, c.detail) for c in o.checks],
        )
    else:
        lines.append("No expectation was evaluated.")
    failed = failed_checks(o)
    if failed:
        lines += ["", "Failed expectations:", ""] + [
            f"- {c.name}: {c.actual} (bound {c.bound})" for c in failed
        ]
    if o.errors:
        lines += ["", "## Errors", ""] + [f"- {e}".replace("\n", "\n  ") for e in o.errors]
    return [*lines, ""]


def _faults(o: RunOutcome, folder: Path) -> list[str]:
    f = o.scores.faults
    lines = ["## Faults and alerts", ""]
    if f is None:
        return [*lines, "Not scored.", ""]
    kinds = ", ".join(o.scenario.expectations.faults.alert_kinds)
    lines += [
        f"Alert kinds scored: {kinds}. {f.flagged} of {f.failed} faults that failed within the run "
        f"were flagged before failure (share {_num(f.flagged_share)}), "
        f"median lead {_num(f.median_lead_s)} s; "
        f"{len(f.false_alerts)} false alert(s) over {f.machine_days:.3g} machine-days "
        f"({_num(f.false_per_machine_day)} per machine-day); {f.scored_alerts} machine alerts in all.",
        "",
    ]
    if f.outcomes:
        lines += _table(
            (
                "machine",
                "fault",
                "source",
                "onset",
                "failure",
                "maintenance",
                "status",
                "first alert",
                "lead s",
            ),
            [
                (
                    x.episode.machine_id,
                    x.episode.fault,
                    x.episode.source,
                    _sim(o, x.episode.onset_ms),
                    _sim(o, x.episode.failure_ms),
                    _sim(o, x.episode.maintenance_ms),
                    x.status,
                    _sim(o, x.first_alert_ms),
                    _num(x.lead_s, 4),
                )
                for x in f.outcomes
            ],
        )
        lines.append("")
    if f.false_alerts:
        lines += _titled(
            "False alerts:",
            ("alert", "machine", "kind", "raised", "cleared"),
            [
                (a.alert_id, a.machine_id, a.kind, _sim(o, a.raised_ms), _sim(o, a.cleared_ms))
                for a in f.false_alerts[:EXAMPLES]
            ],
        )
    figure = plots.lead_time_histogram(f.lead_times_s, folder / "lead_times.png")
    lines += [f"![lead times]({figure.name})" if figure else "No lead times to plot.", ""]
    return lines


def _detections(o: RunOutcome, folder: Path) -> list[str]:
    d = o.scores.detections
    lines = ["## Defect detection", ""]
    if d is None:
        return [*lines, "Not scored (no detector configured or no camera served).", ""]
    lines += [
        f"{d.frames} frames sent, {d.frames_reported} with a detection event, {d.orphan_events} events for "
        f"unknown frames; matching greedy by score at IoU >= {d.iou_min:g}.",
        "",
    ]
    lines += _table(
        ("class", "tp", "fp", "fn", "precision", "recall"),
        [(c.class_name, c.tp, c.fp, c.fn, _num(c.precision), _num(c.recall)) for c in d.classes],
    )
    figure = plots.precision_recall_bars(d.classes, folder / "detection_pr.png", iou_min=d.iou_min)
    lines += ["", f"![precision and recall]({figure.name})" if figure else "No classes to plot.", ""]
    return lines


def _completeness_block(c: Completeness | None, title: str) -> list[str]:
    if c is None:
        return [f"**{title}**: not scored.", ""]
    lines = [
        f"**{title}**: {c.expected} identities expected, {c.stored} stored, {c.lost} lost "
        f"({c.lost_excused} inside outages, {c.lost_unexcused} outside), {c.duplicated} duplicated, "
        f"{c.unexpected} stored beyond the expected (re-reports after a restart).",
        "",
    ]
    if c.lost_by_series:
        lines += _titled(
            "Most lost per series:",
            ("series", "lost"),
            [(f"{k[0]} / {k[1]}", n) for k, n in c.lost_by_series[:EXAMPLES]],
        )
    if c.lost_examples:
        lines += _titled(
            "Lost outside outages (first ones):",
            ("machine", "metric", "t_ms"),
            [(s.machine_id, s.metric, s.t_ms) for s in c.lost_examples[:EXAMPLES]],
        )
    if c.duplicated_examples:
        lines += _titled(
            "Duplicated:",
            ("machine", "metric", "t_ms", "copies"),
            [(s.machine_id, s.metric, s.t_ms, s.copies) for s in c.duplicated_examples[:EXAMPLES]],
        )
    return lines


def _completeness(o: RunOutcome) -> list[str]:
    lines = [
        "## Completeness",
        "",
        "Identity = (machine, metric, sample time) for telemetry and (camera, frame time) for inspections; "
        "expected = every present sample that differs from the previous one of its channel (the agents "
        "run report-by-exception with deadband 0), for the machines and cameras an agent serves.",
        "",
    ]
    lines += _completeness_block(o.scores.telemetry, "Telemetry")
    lines += _completeness_block(o.scores.inspections, "Inspections")
    if o.outages:
        lines += _titled(
            "Outages (event time, sim s):",
            ("cause", "from", "to (with margin)"),
            [(x.cause, _sim(o, x.start_ms), _sim(o, x.end_ms)) for x in o.outages],
        )
    return lines


def _latency(o: RunOutcome, folder: Path) -> list[str]:
    interval = o.scenario.observe.poll_interval_s
    lines = [
        "## Latency",
        "",
        "From the wall time the twin emitted the block holding the source event to the wall time the "
        "harness first saw the result. The pipeline stamps no arrival time in InfluxDB, so telemetry "
        f"and alerts are timed by polling storage every {interval:g} s ({o.polls} polls; telemetry of "
        f"{o.scenario.observe.probe_machines} probe machine(s)): each figure is an upper bound, late by "
        "at most one interval plus the query time. Detections are timed on arrival of the agent's "
        "detection event over MQTT.",
        "",
    ]
    series: dict[str, LatencyStats] = dict(o.scores.latency)
    lines += _table(
        ("series", "n", "p50 s", "p95 s", "p99 s", "max s"),
        [(n, s.count, _num(s.p50), _num(s.p95), _num(s.p99), _num(s.max)) for n, s in series.items()],
    )
    figure = plots.latency_cdf(series, folder / "latency_cdf.png")
    lines += ["", f"![latency CDF]({figure.name})" if figure else "No latency to plot.", ""]
    return lines


def _timeline(o: RunOutcome) -> list[str]:
    lines = ["## Timeline", ""]
    if o.played:
        lines += _titled(
            "Harness events:",
            ("due sim s", "played sim s", "action", "target", "ok", "detail"),
            [
                (
                    f"{e.at_s:g}",
                    f"{e.sim_s:.0f}",
                    e.action,
                    e.target or "",
                    "yes" if e.ok else "**no**",
                    e.detail,
                )
                for e in o.played
            ],
        )
    if o.process_notes:
        start = o.process_notes[0].wall
        lines += _titled(
            "Processes (wall s from the first start):",
            ("t", "process", "what", "detail"),
            [(f"{n.wall - start:.1f}", n.name, n.what, n.detail) for n in o.process_notes],
        )
    if o.notes:
        lines += ["Notes:", ""] + [f"- {n}" for n in o.notes] + [""]
    return lines


def _stats(s: LatencyStats) -> dict[str, Any]:
    return {"count": s.count, "p50_s": s.p50, "p95_s": s.p95, "p99_s": s.p99, "max_s": s.max}


def results(o: RunOutcome) -> dict[str, Any]:
    """The machine-readable summary written beside the report."""
    f, t = o.scores.faults, o.scores.telemetry
    return {
        "scenario": o.scenario.name,
        "run_id": o.run_id,
        "passed": o.passed,
        "errors": o.errors,
        "checks": [
            {"name": c.name, "passed": c.passed, "actual": c.actual, "bound": c.bound} for c in o.checks
        ],
        "sim_s": o.sim_s,
        "faults": None
        if f is None
        else {
            "failed": f.failed,
            "flagged": f.flagged,
            "flagged_share": f.flagged_share,
            "median_lead_s": f.median_lead_s,
            "false_alerts": len(f.false_alerts),
            "false_per_machine_day": f.false_per_machine_day,
        },
        "telemetry": None
        if t is None
        else {
            "expected": t.expected,
            "stored": t.stored,
            "lost": t.lost,
            "lost_excused": t.lost_excused,
            "duplicated": t.duplicated,
        },
        "detections": None
        if o.scores.detections is None
        else {c.class_name: {"tp": c.tp, "fp": c.fp, "fn": c.fn} for c in o.scores.detections.classes},
        "latency": {name: _stats(s) for name, s in o.scores.latency.items()},
    }
