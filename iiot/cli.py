"""The one command-line entry, `iiot`, with a lazily imported group per package."""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

import click

# name -> "module:attribute" of a click.Group or click.Command. Imported only when used,
# so `iiot edge ...` on a Jetson never imports the cloud stack or torch.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "sim": ("simulators.cli:group", "Digital twin: run the plant, export datasets, plot."),
    "edge": ("edge.cli:group", "Edge agent: run a node, inspect its models."),
    "cloud": ("cloud.cli:group", "Cloud side: bridge, Faust worker, dashboard, model registry."),
    "models": ("models.cli:group", "Train, evaluate, export and quantize the models."),
    "demo": ("iiot.demo:command", "The whole system on one machine, embedded defaults."),
    "harness": ("iiot.harness.cli:group", "Scenario harness scored against the twin's ground truth."),
}


class LazyGroup(click.Group):
    """A click group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(LAZY_COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = LAZY_COMMANDS.get(cmd_name)
        if entry is None:
            return None
        target, help_text = entry
        module_name, attr = target.split(":")
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            return _unavailable(cmd_name, help_text, exc)
        command = getattr(module, attr)
        if not isinstance(command, click.Command):
            raise click.ClickException(f"{target} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, LAZY_COMMANDS[name][1]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def _unavailable(name: str, help_text: str, exc: ModuleNotFoundError) -> click.Command:
    """A stand-in command that explains which extra is missing instead of a traceback."""

    @click.command(name=name, help=help_text, context_settings={"ignore_unknown_options": True})
    @click.argument("args", nargs=-1, type=click.UNPROCESSED)
    def missing(args: tuple[str, ...]) -> None:
        raise click.ClickException(
            f"'iiot {name}' needs a module that is not installed ({exc.name}). "
            "Install the matching extra, e.g. pip install -e '.[edge,sim,cloud]'."
        )

    return missing


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--log-level", default=lambda: os.environ.get("IIOT_LOG_LEVEL", "INFO"), show_default="INFO")
@click.version_option(package_name="iiot-edge-ai")
def cli(log_level: str) -> None:
    """Industrial IoT edge AI: twin, edge agents, cloud pipeline, dashboard."""
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)-7s %(name)s: %(message)s")


def main(argv: Any = None) -> None:
    """Console entry point."""
    cli.main(args=argv, prog_name="iiot")
