"""`iiot cloud dashboard`: serve the plant-floor dashboard, or manage its users and API tokens.

Wired into the ``cloud`` group by ``cloud/cli.py``; this module is the entry point where the
environment is read (through :class:`DashboardSettings`).
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import click

from cloud.errors import CloudError

if TYPE_CHECKING:
    from cloud.dashboard.settings import DashboardSettings


def _run(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run until SIGINT or SIGTERM; report our errors without a traceback."""
    from cloud.dashboard.server import run

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    try:
        run(runner)
    except CloudError as exc:
        raise click.ClickException(str(exc)) from exc


@click.command(name="dashboard")
@click.option("--host", default=None, help="Address to listen on (IIOT_DASHBOARD_HOST; 0.0.0.0 for the LAN).")
@click.option("--port", type=int, default=None, help="HTTP port (IIOT_DASHBOARD_PORT).")
@click.option("--storage", "storage_url", default=None, help="sqlite:///file or influxdb://host:port.")
@click.option(
    "--link",
    type=click.Choice(["storage", "kafka"]),
    default=None,
    help="Live feed and actions: kafka (production) or storage (read-only watcher).",
)
@click.option(
    "--embedded",
    is_flag=True,
    help="Also run the embedded runner here (MQTT in, SQLite out): live alerts and actions without Kafka.",
)
@click.option(
    "--create-user", metavar="NAME", default=None, help="Add or reset a user (asks for the password)."
)
@click.option(
    "--role",
    type=click.Choice(["viewer", "operator", "admin"]),
    default="operator",
    show_default=True,
    help="Role of --create-user.",
)
@click.option(
    "--create-token", metavar="NAME", default=None, help="Issue a viewer API token for a machine client."
)
def dashboard_command(
    host: str | None,
    port: int | None,
    storage_url: str | None,
    link: str | None,
    embedded: bool,
    create_user: str | None,
    role: str,
    create_token: str | None,
) -> None:
    """Plant-floor alert dashboard: overview, alerts, machines, defects, fleet; JSON API at /api."""
    from cloud.dashboard.settings import DashboardSettings

    overrides = {
        k: v
        for k, v in {
            "dashboard_host": host,
            "dashboard_port": port,
            "dashboard_storage_url": storage_url,
            "dashboard_link": "memory" if embedded else link,
        }.items()
        if v is not None
    }
    try:
        settings = DashboardSettings(**overrides)  # type: ignore[arg-type]
        if create_user or create_token:
            _manage_users(settings, create_user, role, create_token)
            return
    except CloudError as exc:
        raise click.ClickException(str(exc)) from exc
    if embedded:
        _run(lambda stop: _serve_embedded(settings, stop))
    else:
        _run(lambda stop: _serve(settings, stop))


def _manage_users(settings: DashboardSettings, name: str | None, role: str, token_name: str | None) -> None:
    from cloud.dashboard.auth import Role
    from cloud.dashboard.server import user_store

    plain = settings.model_copy(update={"dashboard_bootstrap_admin": ""})
    store = user_store(plain)
    if name:
        password = click.prompt(f"Password for {name}", hide_input=True, confirmation_prompt=True)
        store.set_user(name, Role(role), password)
        click.echo(f"user {name} ({role}) saved to {store.path}")
    if token_name:
        token = store.new_token(token_name)
        click.echo(f"API token for {token_name} (viewer; shown once, keep it safe):\n{token}")
    store.save()


async def _serve(settings: DashboardSettings, stop: asyncio.Event) -> None:
    from cloud.dashboard.server import build, serve

    dashboard = build(settings)
    where = f"http://{settings.dashboard_host}:{settings.dashboard_port}/"
    click.echo(f"dashboard on {where} (link: {settings.dashboard_link})")
    await serve(dashboard, settings.dashboard_host, settings.dashboard_port, stop)


async def _serve_embedded(settings: DashboardSettings, stop: asyncio.Event) -> None:
    """The embedded runner and the dashboard in one process, linked in memory."""
    from cloud.dashboard.embedded_link import MemoryLink, ObservedRunner
    from cloud.dashboard.server import build, serve
    from cloud.embedded.runner import run_embedded
    from cloud.mqtt_client import MqttClient
    from cloud.pipeline import PipelineCore
    from cloud.processing.processor import Processor
    from cloud.storage.base import open_storage
    from proto.sparkplug import NAMESPACE
    from proto.topics import detections_filter

    storage = open_storage(settings.dashboard_storage_url)
    link = MemoryLink()
    runner = ObservedRunner(PipelineCore(Processor(settings.processing_config())), storage, link)
    dashboard = build(settings, link=(link, link), storage=storage)
    dashboard.closers.insert(0, storage.close)
    dashboard.closers.append(link.close)
    group_id = settings.embedded_sparkplug_group
    filters = [f"{NAMESPACE}/{group_id}/#", detections_filter(group_id=group_id)]

    async def pipeline() -> None:
        async with MqttClient(settings.mqtt_options("dashboard-embedded"), filters) as mqtt:
            await run_embedded(runner, mqtt, stop, tick_s=settings.embedded_tick)

    click.echo(f"dashboard + embedded runner on http://{settings.dashboard_host}:{settings.dashboard_port}/")
    task = asyncio.create_task(pipeline())
    try:
        await serve(dashboard, settings.dashboard_host, settings.dashboard_port, stop)
    finally:
        stop.set()
        await task
