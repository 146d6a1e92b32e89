"""`iiot cloud ...`: bridge, Faust worker, embedded runner; entry points, where the environment is read."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable

import click

from cloud.errors import CloudError


def _serve(main: Callable[[asyncio.Event], Awaitable[None]]) -> None:
    """Run an async service until SIGINT or SIGTERM; report our errors without a traceback."""

    async def runner() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await main(stop)

    try:
        asyncio.run(runner())
    except CloudError as exc:
        raise click.ClickException(str(exc)) from exc


@click.group(name="cloud")
def group() -> None:
    """Cloud side: MQTT->Kafka bridge, Faust worker, embedded runner."""


@group.command()
@click.option("--share-group", default=None, help="MQTT shared subscription group (IIOT_BRIDGE_SHARE_GROUP).")
@click.option("--sparkplug-group", default=None, help="Sparkplug group to bridge, '+' for all.")
def bridge(share_group: str | None, sparkplug_group: str | None) -> None:
    """Bridge Sparkplug B and detection events from MQTT to Kafka."""
    from cloud.bridge.service import run_bridge
    from cloud.settings import BridgeSettings

    overrides = {
        k: v
        for k, v in {"bridge_share_group": share_group, "bridge_sparkplug_group": sparkplug_group}.items()
        if v is not None
    }
    settings = BridgeSettings(**overrides)  # type: ignore[arg-type]
    _serve(lambda stop: run_bridge(settings, stop))
