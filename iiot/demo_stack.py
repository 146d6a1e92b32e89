"""`iiot demo --stack`: the same demo with the production cloud side on the real stack.

    twin thread ──MQTT──▶ Mosquitto ──▶ edge agents ──Sparkplug B──▶ Mosquitto ──▶ iiot cloud bridge ──▶ Kafka
                                                                                                       │
    terminal view ◀── dashboard (uvicorn) ◀── InfluxDB + Kafka alerts ◀── iiot cloud worker (Faust) ◀──┘

The services come from ``deploy/local/stack`` (``stack up`` starts them; this command never does):
its ``stack.env`` gives the addresses and the MQTT accounts (``twin``, ``edge``, ``bridge``,
``harness``). The twin, the edge agents and the dashboard run in this process as in the embedded
demo; the bridge and the Faust worker are child processes (``iiot cloud bridge``, ``iiot cloud
worker``), logs under ``<data dir>/logs``. A run has its own names (Sparkplug group, twin site,
Kafka topic prefix, Faust app id, InfluxDB bucket ``demo-<tag>``), so it shares the stack with
tests and harness runs without crossing them. The bucket is kept: it is where the data stays.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from iiot.demo_parts import (
    BrokerLogin,
    Components,
    agent_settings,
    dashboard_common,
    port_open,
    serve_dashboard,
    start_agents,
    start_twin,
    until,
)
from iiot.demo_plan import DemoPlan
from iiot.demo_setup import ROOT, Artifact, DemoError, DemoOptions

if TYPE_CHECKING:
    from iiot.harness.launch import RunNames
    from iiot.harness.stack_control import StackEnv

log = logging.getLogger(__name__)

STACK_SCRIPT = ROOT / "deploy" / "local" / "stack"


@dataclass(frozen=True, slots=True)
class StackTarget:
    """The running stack and this run's names on it."""

    env: StackEnv
    names: RunNames

    @property
    def data_location(self) -> str:
        """Where the data is kept."""
        return f"InfluxDB bucket {self.names.bucket} at {self.env.influx_url} (org {self.env.influx_org})"


def demo_names(tag: str) -> RunNames:
    """The names of one demo run on the shared stack."""
    from iiot.harness.launch import RunNames

    return RunNames(
        tag=tag,
        group_id=f"demo-{tag}",
        site_suffix=f"-{tag}",
        kafka_prefix=f"demo-{tag}",
        bucket=f"demo-{tag}",
        app_id=f"iiot-demo-{tag}",
        share_group=f"demo-{tag}",
    )


def connect_stack(opts: DemoOptions) -> StackTarget:
    """The stack's settings; DemoError saying what is missing when a service is down."""
    from iiot.harness.errors import StackControlError
    from iiot.harness.stack_control import StackControl

    control = StackControl(STACK_SCRIPT, os.environ, timeout_s=120.0)
    try:
        control.require_up()
        env = control.read_env()
        for user in ("twin", "edge", "bridge", "harness"):
            env.mqtt_user(user)
        _ = (env.mqtt_host, env.mqtt_port, env.kafka_bootstrap, env.influx_url, env.influx_token)
    except StackControlError as exc:
        raise DemoError(
            f"--stack runs against Mosquitto, Kafka and InfluxDB from deploy/local/stack, "
            f"and they are not ready:\n{exc}\n(or run `iiot demo` without --stack: nothing to install)"
        ) from exc
    return StackTarget(env, demo_names(uuid.uuid4().hex[:6]))


def for_stack(plan: DemoPlan, target: StackTarget) -> DemoPlan:
    """The plan with this run's Sparkplug group and twin site ids."""
    from simulators.plant import parse_plant

    data = plan.plant.model_dump(mode="json")
    data["group"] = target.names.group_id
    for site in data["sites"]:
        site["id"] = f"{site['id']}{target.names.site_suffix}"
    return dataclasses.replace(plan, plant=parse_plant(data, f"{plan.plant.name} ({target.names.tag})"))


class SparkplugProgress:
    """Follows the group's DDATA on the broker: the newest sample time the edge agents have published."""

    def __init__(self, broker: BrokerLogin, group_id: str) -> None:
        import paho.mqtt.client as mqtt

        self.newest_ms: int | None = None
        self._lock = threading.Lock()
        self._topic = f"spBv1.0/{group_id}/DDATA/#"
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=f"iiot-demo-progress-{group_id}",
            protocol=mqtt.MQTTv311,
        )
        if broker.username:
            self._client.username_pw_set(broker.username, broker.password or None)
        self._client.on_connect = lambda client, *_: client.subscribe(self._topic, qos=0)
        self._client.on_message = self._on_message
        self._broker = broker

    def start(self) -> None:
        """Connect and follow (paho's own thread)."""
        self._client.connect(self._broker.host, self._broker.port, keepalive=30)
        self._client.loop_start()

    def close(self) -> None:
        """Disconnect."""
        self._client.disconnect()
        self._client.loop_stop()

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        from proto.sparkplug_b import sparkplug_b_pb2 as pb

        payload = pb.Payload()
        try:
            payload.ParseFromString(message.payload)
        except Exception:  # not ours to judge: the bridge dead-letters malformed payloads
            return
        times = [m.timestamp for m in payload.metrics if m.HasField("timestamp")]
        if times:
            with self._lock:
                newest = max(times)
                self.newest_ms = newest if self.newest_ms is None else max(self.newest_ms, newest)


async def drop_topics(bootstrap: str, names: RunNames) -> None:
    """Delete the run's Kafka topics (its own prefix, and the Faust app's changelogs); the bucket stays."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, client_id=f"{names.app_id}-cleanup")
    await admin.start()
    try:
        mine = [
            t
            for t in await admin.list_topics()
            if t.startswith((f"{names.kafka_prefix}.", f"{names.app_id}-"))
        ]
        if mine:
            await admin.delete_topics(mine)
            log.info("deleted %d Kafka topics of %s", len(mine), names.tag)
    finally:
        await admin.close()


async def start_stack(
    opts: DemoOptions,
    target: StackTarget,
    plan: DemoPlan,
    detector: Artifact,
    fault: Artifact,
    port: int,
    parts: Components,
    stop: asyncio.Event,
) -> None:
    """Bucket, bridge and worker processes, dashboard on InfluxDB and Kafka, edge agents, twin."""
    from cloud.dashboard.server import build
    from cloud.dashboard.settings import DashboardSettings
    from iiot.harness.influx_probe import InfluxProbe
    from iiot.harness.launch import (
        Broker,
        CloudAccess,
        bridge_argv,
        bridge_env,
        iiot_executable,
        worker_argv,
        worker_env,
    )
    from iiot.harness.processes import ManagedProcess, free_port
    from iiot.harness.stack_control import without_iiot_vars

    env, names = target.env, target.names
    probe = InfluxProbe(env.influx_url, env.influx_token, env.influx_org, names.bucket)
    await asyncio.to_thread(probe.create_bucket)
    parts.last_stops.append(lambda: asyncio.to_thread(probe.close))

    iiot = iiot_executable()
    base = without_iiot_vars(os.environ)
    rules = {f"IIOT_{key.upper()}": str(value) for key, value in plan.processing.items()}
    cloud = CloudAccess(env.kafka_bootstrap, env.influx_url, env.influx_org, env.influx_token)
    logs = opts.data_dir / "logs"
    state = opts.data_dir / "state"
    (state / "worker-1").mkdir(parents=True, exist_ok=True)
    worker = ManagedProcess(
        "worker",
        worker_argv(iiot),
        worker_env(base, names, 1, cloud, web_port=free_port(), data_dir=state, extra=rules),
        logs / "worker.log",
        cwd=ROOT,
    )
    bridge = ManagedProcess(
        "bridge",
        bridge_argv(iiot),
        bridge_env(
            base, names, 1, Broker(env.mqtt_host, env.mqtt_port), env.mqtt_user("bridge"), cloud, rules
        ),
        logs / "bridge.log",
        cwd=ROOT,
    )
    processes = [worker, bridge]
    for process in processes:
        await asyncio.to_thread(process.start)

    def died() -> str | None:
        for process in processes:
            code = process.unexpected_exit()
            if code is not None:
                return f"{process.name} exited with status {code}; its log ends:\n{process.log_tail(15)}"
        return None

    async def stop_processes() -> None:
        for process in reversed(processes):  # the bridge first: the worker drains what it produced
            await asyncio.to_thread(process.stop, 30.0)

    parts.checks.append(died)
    parts.cloud_stops.append(stop_processes)
    parts.last_stops.append(lambda: drop_topics(env.kafka_bootstrap, names))

    settings = DashboardSettings(
        **dashboard_common(opts, plan, port),
        dashboard_storage_url=env.influx_url,
        dashboard_link="kafka",
        kafka_bootstrap=env.kafka_bootstrap,
        kafka_topic_prefix=names.kafka_prefix,
        influx_token=env.influx_token,
        influx_org=env.influx_org,
        influx_bucket=names.bucket,
    )
    dashboard = build(settings)
    parts.dashboard = dashboard
    parts.tasks["dashboard"] = asyncio.create_task(
        serve_dashboard(dashboard, opts.host, port, parts.dashboard_stop), name="demo-dashboard"
    )
    await until(lambda: port_open(opts.host, port), "the dashboard", parts, stop)

    harness_user, harness_password = env.mqtt_user("harness")
    progress = SparkplugProgress(
        BrokerLogin(env.mqtt_host, env.mqtt_port, harness_user, harness_password), names.group_id
    )
    await asyncio.to_thread(progress.start)
    parts.last_stops.append(lambda: asyncio.to_thread(progress.close))
    parts.newest_ms = lambda: progress.newest_ms
    started = time.monotonic()
    parts.stats = lambda: f"bridge and worker up for {time.monotonic() - started:.0f} s"

    edge_user, edge_password = env.mqtt_user("edge")
    edge = BrokerLogin(env.mqtt_host, env.mqtt_port, edge_user, edge_password)
    agents = agent_settings(plan, edge, opts.data_dir / "edge", detector.manifest, fault.manifest)
    await start_agents(agents, parts, stop)
    twin_user, twin_password = env.mqtt_user("twin")
    start_twin(plan, BrokerLogin(env.mqtt_host, env.mqtt_port, twin_user, twin_password), parts, opts.seed)
