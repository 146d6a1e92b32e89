"""The embedded demo: broker, runner, SQLite and dashboard in this process; edge agents and twin beside.

    twin thread ──MQTT──▶ embedded broker (thread) ──▶ edge agents ──Sparkplug B──▶ broker
                                                                                     │
    terminal view ◀── dashboard (uvicorn) ◀── memory link ◀── embedded runner ◀──────┘
                                                                  │
                                                               SQLite

The runner and the dashboard are wired as ``iiot cloud dashboard --embedded`` wires them (a
``MemoryLink`` carries alerts to the dashboard and operator actions back to the runner); the
runner's MQTT client speaks 3.1.1, the embedded broker's protocol.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any

from iiot.demo_parts import (
    BrokerLogin,
    Components,
    ProgressSink,
    agent_settings,
    dashboard_common,
    port_open,
    serve_dashboard,
    start_agents,
    start_twin,
    until,
)
from iiot.demo_plan import DemoPlan
from iiot.demo_setup import DB_NAME, Artifact, DemoOptions


def dashboard_settings(opts: DemoOptions, plan: DemoPlan, port: int, broker_port: int) -> Any:
    """The dashboard's (and the runner's) settings: SQLite, the in-process link, the demo login."""
    from cloud.dashboard.settings import DashboardSettings

    return DashboardSettings(
        **dashboard_common(opts, plan, port),
        dashboard_storage_url=f"sqlite:///{(opts.data_dir / DB_NAME).resolve()}",
        dashboard_link="memory",
        mqtt_host=opts.host,
        mqtt_port=broker_port,
        mqtt_username="",
        mqtt_password="",
        embedded_sparkplug_group=plan.plant.group,
    )


async def start_embedded(
    opts: DemoOptions,
    plan: DemoPlan,
    detector: Artifact,
    fault: Artifact,
    port: int,
    parts: Components,
    stop: asyncio.Event,
) -> None:
    """Start the broker, the runner and the dashboard, the edge agents, then the twin."""
    from cloud.dashboard.embedded_link import MemoryLink, ObservedRunner
    from cloud.dashboard.server import build
    from cloud.embedded.runner import run_embedded
    from cloud.mqtt_client import MqttClient
    from cloud.pipeline import PipelineCore
    from cloud.processing.processor import Processor
    from cloud.storage.base import open_storage
    from iiot.embedded_broker import EmbeddedBroker
    from proto.sparkplug import NAMESPACE
    from proto.topics import detections_filter

    broker = EmbeddedBroker(opts.host)
    await asyncio.to_thread(broker.start)
    parts.last_stops.append(lambda: asyncio.to_thread(broker.stop))
    logging.getLogger("amqtt").setLevel(logging.WARNING)

    settings = dashboard_settings(opts, plan, port, broker.port)
    storage = open_storage(settings.dashboard_storage_url)
    link = MemoryLink()
    progress = ProgressSink(storage)
    runner = ObservedRunner(PipelineCore(Processor(settings.processing_config())), progress, link)
    parts.newest_ms = lambda: progress.newest_ms
    parts.stats = lambda: str(runner.stats)
    dashboard = build(settings, link=(link, link), storage=storage)
    dashboard.closers.insert(0, storage.close)
    dashboard.closers.append(link.close)
    parts.dashboard = dashboard

    group = plan.plant.group
    mqtt_options = dataclasses.replace(
        settings.mqtt_options("demo"), client_id="iiot-demo-runner", protocol="3.1.1", session_expiry_s=0
    )
    mqtt = MqttClient(mqtt_options, [f"{NAMESPACE}/{group}/#", detections_filter(group_id=group)])
    await mqtt.__aenter__()
    runner_stop = asyncio.Event()
    runner_task = asyncio.create_task(run_embedded(runner, mqtt, runner_stop, tick_s=1.0), name="demo-runner")
    parts.tasks["embedded runner"] = runner_task

    async def stop_runner() -> None:
        runner_stop.set()
        await asyncio.wait({runner_task}, timeout=10.0)
        await mqtt.__aexit__(None, None, None)

    parts.cloud_stops.append(stop_runner)
    parts.tasks["dashboard"] = asyncio.create_task(
        serve_dashboard(dashboard, opts.host, port, parts.dashboard_stop), name="demo-dashboard"
    )
    await until(lambda: port_open(opts.host, port), "the dashboard", parts, stop)

    login = BrokerLogin(broker.host, broker.port)
    agents = agent_settings(plan, login, opts.data_dir / "edge", detector.manifest, fault.manifest)
    await start_agents(agents, parts, stop)
    start_twin(plan, login, parts, opts.seed)
