"""`iiot sim`: run the plant live, export datasets, plot traces, generate plants, render camera images."""

from __future__ import annotations

import importlib
import json
import logging
import time
from contextlib import ExitStack
from pathlib import Path

import click

from simulators.errors import SimulatorError

log = logging.getLogger(__name__)

# Commands that live in the camera package, imported when used.
LAZY: dict[str, tuple[str, str]] = {
    "export-images": ("simulators.camera.commands", "export_images_command"),
    "contact-sheet": ("simulators.camera.commands", "contact_sheet_command"),
}


class SimGroup(click.Group):
    """The sim group, with the camera commands imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted([*super().list_commands(ctx), *LAZY])

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in LAZY:
            return super().get_command(ctx, cmd_name)
        module_name, attr = LAZY[cmd_name]
        try:
            command = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            reason = str(exc)

            @click.command(name=cmd_name, context_settings={"ignore_unknown_options": True})
            @click.argument("args", nargs=-1, type=click.UNPROCESSED)
            def unavailable(args: tuple[str, ...]) -> None:
                raise click.ClickException(f"'iiot sim {cmd_name}' is not available: {reason}")

            return unavailable
        if not isinstance(command, click.Command):
            raise click.ClickException(f"{module_name}:{attr} is not a click command")
        return command


@click.group(name="sim", cls=SimGroup)
def group() -> None:
    """Digital twin: run the plant live, export datasets, plot."""


def _fail(exc: SimulatorError) -> click.ClickException:
    return click.ClickException(str(exc))


@group.command("run")
@click.option(
    "--plant", "plant_path", default="demo", show_default=True, help="Plant YAML, or a shipped plant name."
)
@click.option("--scenario", "scenario_path", default=None, help="Scenario YAML, or a shipped scenario name.")
@click.option(
    "--speed", type=float, default=1.0, show_default=True, help="Sim seconds per wall second; 0 = max."
)
@click.option("--duration", type=float, default=600.0, show_default=True, help="Sim seconds to run.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--epoch",
    type=click.Choice(["now", "plant"]),
    default="now",
    show_default=True,
    help="Event time starts at the wall clock (now) or at the plant's simulation.start.",
)
@click.option("--mqtt-host", default=None, help="Broker host [env IIOT_TWIN_MQTT_HOST, default localhost].")
@click.option(
    "--mqtt-port", type=int, default=None, help="Broker port [env IIOT_TWIN_MQTT_PORT, default 1883]."
)
@click.option("--mqtt-username", default=None, help="[env IIOT_TWIN_MQTT_USERNAME]")
@click.option("--mqtt-password", default=None, help="[env IIOT_TWIN_MQTT_PASSWORD]")
@click.option("--tls/--no-tls", default=None, help="Use TLS [env IIOT_TWIN_MQTT_TLS].")
@click.option("--ca-file", type=click.Path(dir_okay=False, path_type=Path), default=None, help="CA for TLS.")
@click.option("--no-mqtt", is_flag=True, help="Do not publish; simulate and report only.")
@click.option("--cameras/--no-cameras", default=True, show_default=True, help="Render camera frames.")
def run_command(
    plant_path: str,
    scenario_path: str | None,
    speed: float,
    duration: float,
    seed: int,
    epoch: str,
    mqtt_host: str | None,
    mqtt_port: int | None,
    mqtt_username: str | None,
    mqtt_password: str | None,
    tls: bool | None,
    ca_file: Path | None,
    no_mqtt: bool,
    cameras: bool,
) -> None:
    """Run the plant live, publishing sensors, frames and ground truth to MQTT."""
    from tqdm import tqdm

    from simulators.clock import Pacer
    from simulators.plant import load_plant
    from simulators.runner import PlantRunner, TwinSink
    from simulators.scenario import load_scenario
    from simulators.settings import TwinSettings
    from simulators.twin import Twin

    overrides = {
        "mqtt_host": mqtt_host,
        "mqtt_port": mqtt_port,
        "mqtt_username": mqtt_username,
        "mqtt_password": mqtt_password,
        "mqtt_tls": tls,
        "mqtt_ca_file": ca_file,
    }
    settings = TwinSettings.model_validate({k: v for k, v in overrides.items() if v is not None})
    try:
        plant = load_plant(plant_path)
        scenario = load_scenario(scenario_path) if scenario_path else None
        epoch_ms = int(time.time()) * 1000 if epoch == "now" else None
        twin = Twin(plant, seed, scenario=scenario, block_s=settings.publish_period_s, epoch_ms=epoch_ms)
        with ExitStack() as stack:
            sinks: list[TwinSink] = []
            if not no_mqtt:
                from simulators.mqtt_publisher import MqttTwinPublisher

                sinks.append(stack.enter_context(MqttTwinPublisher(settings)))
            runner = PlantRunner(twin, sinks, pacer=Pacer(speed), cameras=cameras)
            with tqdm(total=duration, unit="sim-s", desc=f"{plant.name} x{speed:g}") as bar:
                summary = runner.run(duration, progress=bar.update)
    except SimulatorError as exc:
        raise _fail(exc) from exc
    click.echo(
        f"simulated {summary.sim_s:.0f} s in {summary.wall_s:.1f} s: "
        f"{summary.machine_samples} machine samples, "
        f"{summary.frames} frames, {len(summary.events)} events, max lag {summary.max_lag_s:.2f} s"
    )
    for event in summary.events:
        click.echo(
            f"  {event.t_ms} {event.kind} {event.machine_id or event.target or ''} {event.fault or ''}"
        )


@group.command("export-timeseries")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--machines", type=int, default=50, show_default=True, help="Machines in the generated plant.")
@click.option("--days", type=float, default=1.0, show_default=True, help="Simulated days per split.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--shifted", is_flag=True, help="Export the shifted-parameters generalization test set instead."
)
@click.option(
    "--period-s", type=float, default=10.0, show_default=True, help="Aggregation window in seconds."
)
@click.option(
    "--hazard-per-day", type=float, default=0.3, show_default=True, help="Random faults per machine-day."
)
@click.option(
    "--mean-life-h", type=float, default=24.0, show_default=True, help="Mean fault onset-to-failure time."
)
def export_timeseries_command(
    out_dir: Path,
    machines: int,
    days: float,
    seed: int,
    shifted: bool,
    period_s: float,
    hazard_per_day: float,
    mean_life_h: float,
) -> None:
    """Export labelled time series (NPZ per machine + index.json), split by machine and seed."""
    from tqdm import tqdm

    from simulators.export import ExportPlan, export_timeseries

    plan = ExportPlan(
        machines,
        days,
        seed,
        period_s=period_s,
        shifted=shifted,
        hazard_per_day=hazard_per_day,
        mean_life_h=mean_life_h,
    )
    splits = 1 if shifted else 3
    try:
        with tqdm(total=days * 86400.0 * splits, unit="sim-s", desc="export") as bar:
            index = export_timeseries(plan, out_dir, progress=bar.update)
    except SimulatorError as exc:
        raise _fail(exc) from exc
    counts = {split: len(ids) for split, ids in index["splits"].items()}
    failures = sum(f["failures"] for f in index["files"])
    click.echo(
        f"wrote {len(index['files'])} machines {counts}, {failures} failures, index {out_dir / 'index.json'}"
    )


@group.command("plot")
@click.option("--plant", "plant_path", default="demo", show_default=True)
@click.option("--machine", "machine_id", required=True, help="Machine id to plot.")
@click.option("--scenario", "scenario_path", default=None, help="Scenario YAML or shipped name.")
@click.option("--duration", type=float, default=3600.0, show_default=True, help="Sim seconds.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--out", type=click.Path(dir_okay=False, path_type=Path), default=Path("trace.png"), show_default=True
)
def plot_command(
    plant_path: str, machine_id: str, scenario_path: str | None, duration: float, seed: int, out: Path
) -> None:
    """Plot a machine's sensor traces, health and RUL with fault onset and failure marked."""
    from tqdm import tqdm

    from simulators.plant import load_plant
    from simulators.plotting import plot_trace, record_trace
    from simulators.scenario import load_scenario

    try:
        plant = load_plant(plant_path)
        scenario = load_scenario(scenario_path) if scenario_path else None
        with tqdm(total=duration, unit="sim-s", desc=machine_id) as bar:
            trace = record_trace(plant, machine_id, seed, duration, scenario, progress=bar.update)
    except SimulatorError as exc:
        raise _fail(exc) from exc
    epoch_ms = int(plant.simulation.start.timestamp() * 1000)
    path = plot_trace(trace, out, epoch_ms)
    click.echo(
        f"wrote {path} ({len(trace.events)} events: {', '.join(e.kind for e in trace.events) or 'none'})"
    )


@group.command("generate-plant")
@click.option("--machines", type=int, required=True, help="Number of machines.")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--shifted", is_flag=True, help="Other machine sizes, noise levels and load profiles.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True)
def generate_plant_command(machines: int, seed: int, shifted: bool, out: Path) -> None:
    """Write a generated plant of N machines as YAML (e.g. the 1000-machine scale run)."""
    import yaml

    from simulators.plant import generate_plant

    try:
        plant = generate_plant(machines, seed, shifted=shifted)
    except SimulatorError as exc:
        raise _fail(exc) from exc
    out.parent.mkdir(parents=True, exist_ok=True)
    data = json.loads(plant.model_dump_json(exclude_defaults=True))
    out.write_text(
        yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=120), encoding="utf-8"
    )
    click.echo(f"wrote {out}: {len(plant.machine_ids())} machines")
