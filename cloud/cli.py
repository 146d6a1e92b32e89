"""`iiot cloud ...`: bridge, Faust worker, embedded runner; entry points, where the environment is read."""

from __future__ import annotations

import asyncio
import logging
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
    """Cloud side: MQTT->Kafka bridge, Faust worker, embedded runner, dashboard."""


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


@group.command()
def worker() -> None:
    """Run the Faust stream processor: windows, alert rules and lifecycle, storage writes."""
    import faust

    from cloud.kafka_bus import ensure_topics, topic_configs
    from cloud.pipeline import CONTROL
    from cloud.settings import WorkerSettings
    from cloud.storage.base import open_storage
    from cloud.worker.app import create_app
    from proto import kafka

    settings = WorkerSettings()
    prefix = settings.kafka_topic_prefix
    names = (
        kafka.TELEMETRY,
        kafka.PREDICTIONS,
        kafka.DETECTIONS,
        CONTROL,
        kafka.ALERTS,
        kafka.ALERT_ACTIONS,
        kafka.DEAD_LETTERS,
    )
    topics = [kafka.prefixed(t, prefix) for t in names]
    try:
        asyncio.run(
            ensure_topics(
                settings.kafka_bootstrap,
                topics,
                partitions=settings.kafka_partitions,
                configs=topic_configs(prefix),
            )
        )
        storage = open_storage(settings.storage_url, influx=settings.influx_options())
    except CloudError as exc:
        raise click.ClickException(str(exc)) from exc
    app, _ = create_app(settings, storage)
    try:
        faust.Worker(
            app, loglevel=logging.getLevelName(logging.getLogger().level), quiet=True
        ).execute_from_commandline()
    finally:
        storage.close()


@group.command()
def embedded() -> None:
    """Run the cloud side in one process: MQTT in, processing in memory, SQLite out (no Kafka)."""
    from cloud.embedded.runner import EmbeddedRunner, run_embedded
    from cloud.mqtt_client import MqttClient
    from cloud.pipeline import PipelineCore
    from cloud.processing.processor import Processor
    from cloud.settings import EmbeddedSettings
    from cloud.storage.base import open_storage
    from proto.sparkplug import NAMESPACE
    from proto.topics import detections_filter

    settings = EmbeddedSettings()
    group_id = settings.embedded_sparkplug_group
    filters = [f"{NAMESPACE}/{group_id}/#", detections_filter(group_id=group_id)]

    async def main(stop: asyncio.Event) -> None:
        storage = open_storage(settings.embedded_storage_url)
        runner = EmbeddedRunner(PipelineCore(Processor(settings.processing_config())), storage)
        try:
            async with MqttClient(settings.mqtt_options("embedded"), filters) as mqtt:
                await run_embedded(runner, mqtt, stop, tick_s=settings.embedded_tick)
        finally:
            storage.close()

    _serve(main)


def _add_dashboard() -> None:
    """`iiot cloud dashboard` lives with the dashboard (cloud/dashboard/command.py)."""
    from cloud.dashboard.command import dashboard_command

    group.add_command(dashboard_command)


_add_dashboard()
