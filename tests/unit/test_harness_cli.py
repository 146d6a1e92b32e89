"""`iiot harness run` exit status: 0 all met, 1 some expectations not (listed), 2 error; report written."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

import pytest
from click.testing import CliRunner

from iiot.harness import cli
from iiot.harness.expectations import Check
from iiot.harness.launch import run_names
from iiot.harness.orchestrate import RunOutcome


class FakeRun:
    """Stands in for HarnessRun: returns a prepared outcome without touching the stack."""

    checks: ClassVar[list[Check]] = []
    errors: ClassVar[list[str]] = []
    seen: ClassVar[dict[str, Any]] = {}

    def __init__(self, scenario: Any, settings: Any, env: Any, *, run_dir: Path, progress: Any) -> None:
        FakeRun.seen = {"scenario": scenario, "settings": settings, "run_dir": run_dir}
        self.outcome = RunOutcome(
            scenario, "r", run_dir, run_names("t"), checks=list(self.checks), errors=list(self.errors)
        )
        progress(10.0)

    def run(self) -> RunOutcome:
        return self.outcome


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> type[FakeRun]:
    monkeypatch.setattr("iiot.harness.orchestrate.HarnessRun", FakeRun)
    return FakeRun


@pytest.mark.parametrize(
    ("checks", "errors", "status", "fragment"),
    [
        ([Check("a", True, "1", "<= 1")], [], 0, "all expectations met"),
        (
            [Check("a", True, "1", "<= 1"), Check("lead", False, "5 s", ">= 60 s")],
            [],
            1,
            "1 expectation(s) not met: lead",
        ),
        (
            [Check("a", True, "1", "<= 1")],
            ["StackControlError: kafka down"],
            2,
            "error: StackControlError: kafka down",
        ),
    ],
)
def test_exit_status(
    fake: type[FakeRun], tmp_path: Path, checks: list[Check], errors: list[str], status: int, fragment: str
) -> None:
    fake.checks, fake.errors = checks, errors
    result = CliRunner().invoke(cli.group, ["run", "smoke", "--out", str(tmp_path / "run"), "--speed", "50"])
    assert result.exit_code == status, result.output
    assert fragment in result.output
    assert (tmp_path / "run" / "report.md").exists()
    assert fake.seen["scenario"].twin.speed == 50
    assert fake.seen["run_dir"] == tmp_path / "run"


def test_an_invalid_scenario_is_status_2_without_a_run(fake: type[FakeRun], tmp_path: Path) -> None:
    fake.seen = {}
    result = CliRunner().invoke(cli.group, ["run", str(tmp_path / "missing.yaml")])
    assert result.exit_code == 2
    assert "cannot read harness scenario" in result.output
    assert fake.seen == {}


def test_overrides_must_be_positive(fake: type[FakeRun]) -> None:
    result = CliRunner().invoke(cli.group, ["run", "smoke", "--duration", "0"])
    assert result.exit_code == 2
    assert "duration_s must be > 0" in result.output


def test_a_missing_model_aborts_before_the_stack_is_touched(tmp_path: Path) -> None:
    from iiot.harness.orchestrate import HarnessRun
    from iiot.harness.scenario import load_harness_scenario
    from iiot.harness.settings import HarnessSettings

    scenario = load_harness_scenario("smoke")
    scenario = scenario.model_copy(
        update={"edge": scenario.edge.model_copy(update={"fault": tmp_path / "nope.manifest.json"})}
    )
    settings = HarnessSettings(stack_script=tmp_path / "no-stack-script")
    outcome = HarnessRun(scenario, settings, {}, run_dir=tmp_path / "run").run()
    assert len(outcome.errors) == 1
    assert "edge.fault: no model manifest at" in outcome.errors[0]
    assert outcome.process_notes == []
    assert (tmp_path / "run" / "scenario.json").exists()
