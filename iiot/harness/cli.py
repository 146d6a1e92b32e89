"""`iiot harness`: run a scenario against the stack and score it; check a scenario file.

Exit status of ``run``: 0 when every expectation held, 1 when some did not (they are listed),
2 when the run could not be made or was aborted (invalid scenario, stack down, pipeline never
ready). The report is written in every case where the run started.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from typing import Any

import click

from iiot.harness.errors import HarnessError

EXIT_FAILED = 1
EXIT_ERROR = 2


@click.group(name="harness")
def group() -> None:
    """Scenario harness: twin, edge agents, bridges and workers on the real stack, scored."""


def _settings(**overrides: Any) -> Any:
    from iiot.harness.settings import HarnessSettings

    return HarnessSettings(**{k: v for k, v in overrides.items() if v is not None})


def _load(name: str, speed: float | None, duration: float | None) -> Any:
    from iiot.harness.scenario import load_harness_scenario

    scenario = load_harness_scenario(name)
    update: dict[str, float] = {}
    for key, value in (("speed", speed), ("duration_s", duration)):
        if value is not None:
            if value <= 0:
                raise click.BadParameter(f"{key} must be > 0", param_hint=key)
            update[key] = value
    if update:
        scenario = scenario.model_copy(update={"twin": scenario.twin.model_copy(update=update)})
    return scenario


@group.command("run")
@click.argument("scenario_name", metavar="SCENARIO")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None, help="Run folder.")
@click.option(
    "--start-stack", is_flag=True, default=None, help="Run `stack up` first [IIOT_HARNESS_START_STACK]."
)
@click.option(
    "--keep-data", is_flag=True, default=None, help="Keep the run's InfluxDB bucket and Kafka topics."
)
@click.option("--speed", type=float, default=None, help="Override the scenario's twin speed.")
@click.option("--duration", type=float, default=None, help="Override the scenario's sim duration (s).")
def run_command(
    scenario_name: str,
    out: Path | None,
    start_stack: bool | None,
    keep_data: bool | None,
    speed: float | None,
    duration: float | None,
) -> None:
    """Run SCENARIO (a harness YAML, or a shipped name such as smoke) and write its report."""
    from iiot.harness.orchestrate import HarnessRun
    from iiot.harness.report import failed_checks, write_report

    try:
        scenario = _load(scenario_name, speed, duration)
    except HarnessError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    from tqdm import tqdm

    settings = _settings(start_stack=start_stack, keep_data=keep_data)
    with tqdm(total=scenario.twin.duration_s, unit="sim-s", desc=scenario.name, mininterval=2.0) as bar:

        def progress(sim_s: float) -> None:
            bar.update(max(0.0, sim_s - bar.n))

        outcome = HarnessRun(scenario, settings, dict(os.environ), run_dir=out, progress=progress).run()
    command = (
        shlex.join(["iiot", "harness", "run", *sys.argv[sys.argv.index("run") + 1 :]])
        if "run" in sys.argv
        else ""
    )
    report = write_report(outcome, command=command)
    click.echo(f"report: {report}")
    for check in outcome.checks:
        click.echo(
            f"  {'ok  ' if check.passed else 'FAIL'} {check.name}: {check.actual} (bound {check.bound})"
        )
    if outcome.errors:
        for error in outcome.errors:
            click.echo(f"error: {error}", err=True)
        sys.exit(EXIT_ERROR)
    failed = failed_checks(outcome)
    if failed:
        click.echo(f"{len(failed)} expectation(s) not met: " + "; ".join(c.name for c in failed), err=True)
        sys.exit(EXIT_FAILED)
    click.echo("all expectations met")


@group.command("check")
@click.argument("scenario_name", metavar="SCENARIO")
def check_command(scenario_name: str) -> None:
    """Validate SCENARIO against its plant and print how the plant is split among the agents."""
    from iiot.harness.edge_plan import plan_agents
    from iiot.harness.scenario import resolve_plant

    try:
        scenario = _load(scenario_name, None, None)
        plant = resolve_plant(scenario.plant)
        scenario.check_against(plant)
        plans = plan_agents(scenario.edge, plant)
    except HarnessError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(EXIT_ERROR)
    click.echo(
        f"{scenario.name}: plant {plant.name} ({len(plant.machine_ids())} machines, "
        f"{len(plant.cameras())} cameras), {scenario.twin.duration_s:g} sim-s at {scenario.twin.speed:g}x, "
        f"{len(scenario.events)} harness events"
    )
    for plan in plans:
        lines = ", ".join(f"{s}/{line}" for s, line in plan.sensor_lines) or "-"
        cameras = ", ".join(plan.camera_ids) or "-"
        click.echo(f"  {plan.agent_id}: lines {lines}; {len(plan.machines)} machines; cameras {cameras}")
    click.echo(f"  bridges {scenario.cloud.bridges}, workers {scenario.cloud.workers}")
