"""The report: markdown with figures and results.json from a hand-made outcome; failed checks listed."""

from __future__ import annotations

import json
from pathlib import Path

from iiot.harness.detection_scoring import ClassScore, DetectionScores
from iiot.harness.edge_plan import AgentPlan
from iiot.harness.expectations import Check, RunScores
from iiot.harness.launch import run_names
from iiot.harness.orchestrate import RunOutcome
from iiot.harness.records import AlertSpan, FaultEpisode, Outage, PlayedEvent
from iiot.harness.report import failed_checks, results, write_report
from iiot.harness.scenario import load_harness_scenario
from iiot.harness.scoring import Completeness, LostSample, completeness, latency_stats, score_faults

EPOCH = 1_700_000_000_000


def outcome(tmp_path: Path, *, checks: list[Check], errors: list[str] | None = None) -> RunOutcome:
    scenario = load_harness_scenario("smoke")
    episodes = [
        FaultEpisode("spindle-1", "bearing_outer", EPOCH + 14_400_000, EPOCH + 25_200_000),
        FaultEpisode("pump-1", "pump_clogging", EPOCH + 15_000_000, EPOCH + 24_000_000),
    ]
    alerts = [
        AlertSpan("a1", "spindle-1", "prediction", EPOCH + 20_000_000, None, 100.0),
        AlertSpan("a2", "motor-1", "prediction", EPOCH + 1_000_000, EPOCH + 1_500_000, 50.0),
    ]
    faults = score_faults(episodes, alerts, machines=5, start_ms=EPOCH, end_ms=EPOCH + 28_800_000)
    telemetry = completeness("telemetry", {("m", "t"): __import__("numpy").arange(10)}, {})
    return RunOutcome(
        scenario=scenario,
        run_id="smoke-test",
        run_dir=tmp_path / "run",
        names=run_names("abc123"),
        plant_name="harness-smoke",
        machines=5,
        cameras=1,
        plans=(AgentPlan("edge-1", (("smoke", "line-1"),), (), ("spindle-1",)),),
        epoch_ms=EPOCH,
        sim_s=28_800,
        played=[PlayedEvent(100, "broker_stop", None, 101, 0.0, True, "1.2 s")],
        episodes=episodes,
        alerts=alerts,
        outages=[Outage("broker down", EPOCH + 100_000, EPOCH + 190_000)],
        scores=RunScores(
            faults=faults,
            detections=DetectionScores((ClassScore("scratch", 3, 1, 2),), 10, 9, 0, 0.5),
            telemetry=telemetry,
            latency={
                "telemetry": latency_stats("telemetry", [0.5, 1.0, 2.0]),
                "alert": latency_stats("alert", [5.0]),
                "detection": latency_stats("detection", []),
            },
        ),
        checks=checks,
        errors=errors or [],
        notes=["drain: done"],
        phases=[("twin done", 300.0)],
    )


def test_report_of_a_failed_run_lists_what_failed(tmp_path: Path) -> None:
    checks = [
        Check("faults flagged before failure (share)", False, "0.5", ">= 0.9", "1/2"),
        Check("telemetry latency p99", True, "1.98 s", "<= 30 s"),
    ]
    run = outcome(tmp_path, checks=checks)
    path = write_report(run, command="iiot harness run smoke")
    text = path.read_text()
    assert text.startswith("# Harness report: smoke — FAILED")
    assert "iiot harness run smoke" in text
    assert "- faults flagged before failure (share): 0.5 (bound >= 0.9)" in text
    assert "| spindle-1 | bearing_outer | scenario | 14400 | 25200 | – | flagged | 20000 | 5200 |" in text
    assert "| pump-1 | pump_clogging | scenario | 15000 | 24000 | – | missed |" in text
    assert "| a2 | motor-1 | prediction | 1000 | 1500 |" in text  # the false alert
    assert "| scratch | 3 | 1 | 2 | 0.75 | 0.6 |" in text
    assert "every 2 s" in text
    for figure in ("lead_times.png", "latency_cdf.png", "detection_pr.png"):
        assert (run.run_dir / figure).stat().st_size > 1000
        assert f"({figure})" in text
    data = json.loads((run.run_dir / "results.json").read_text())
    assert data["passed"] is False
    assert data["faults"]["flagged"] == 1
    assert data["telemetry"]["lost"] == 10
    assert data["latency"]["alert"]["p50_s"] == 5.0
    assert failed_checks(run) == [checks[0]]


def test_report_of_a_passed_run(tmp_path: Path) -> None:
    run = outcome(tmp_path, checks=[Check("x", True, "1", "<= 1")])
    assert run.passed
    assert write_report(run).read_text().startswith("# Harness report: smoke — PASSED")
    assert results(run)["passed"] is True


def test_errors_fail_the_run_and_are_shown(tmp_path: Path) -> None:
    run = outcome(
        tmp_path, checks=[Check("x", True, "1", "<= 1")], errors=["PipelineNotReady: no birth\nlog"]
    )
    assert not run.passed
    text = write_report(run).read_text()
    assert "## Errors" in text
    assert "- PipelineNotReady: no birth\n  log" in text


def test_an_aborted_run_without_scores_still_reports(tmp_path: Path) -> None:
    scenario = load_harness_scenario("smoke")
    run = RunOutcome(scenario, "r", tmp_path / "r", run_names("x"), errors=["StackControlError: kafka down"])
    text = write_report(run).read_text()
    assert "FAILED" in text
    assert "Not scored." in text
    assert "No expectation was evaluated." in text


def test_lost_examples_are_listed(tmp_path: Path) -> None:
    run = outcome(tmp_path, checks=[])
    run.scores = RunScores(
        telemetry=Completeness(
            "telemetry",
            5,
            4,
            1,
            0,
            0,
            0,
            (LostSample("m1", "current_a", 42),),
            (),
            ((("m1", "current_a"), 1),),
        )
    )
    text = write_report(run).read_text()
    assert "| m1 | current_a | 42 |" in text
    assert "| m1 / current_a | 1 |" in text
