"""`iiot edge`: run an edge node, list its settings. The root CLI imports this module lazily."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
from pathlib import Path

import click

from edge.errors import EdgeError
from edge.settings import AgentSettings, describe, load_settings

log = logging.getLogger(__name__)

CONFIG = click.option(
    "--config",
    "config_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="edge.yaml; IIOT_EDGE_* environment variables override it.",
)


@click.group()
def group() -> None:
    """Edge agent: run a node, inspect its settings."""


@group.command()
@CONFIG
def run(config_path: Path | None) -> None:
    """Run one edge node until SIGTERM or Ctrl-C (then it publishes its NDEATH and stops)."""
    settings = _load(config_path)
    try:
        asyncio.run(_serve(settings))
    except EdgeError as exc:
        raise click.ClickException(str(exc)) from exc


@group.command()
@CONFIG
@click.option("--show", is_flag=True, help="Print the effective settings (secrets masked) instead.")
def settings(config_path: Path | None, show: bool) -> None:
    """List every setting with its environment variable and help, or show the effective values."""
    if show:
        click.echo(json.dumps(_load(config_path).model_dump(mode="json"), indent=2))
        return
    for env, help_text in describe():
        click.echo(f"{env}\n    {help_text}")


def _load(config_path: Path | None) -> AgentSettings:
    try:
        return load_settings(config_path)
    except EdgeError as exc:
        raise click.ClickException(str(exc)) from exc


async def _serve(settings: AgentSettings) -> None:
    from edge.agent import run_agent

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await run_agent(settings, stop)
    log.info("edge node %s stopped", settings.edge_node_id)
