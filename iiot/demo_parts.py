"""The demo's running parts: edge agents, dashboard serving, the ordered shutdown, the view's data.

Shared by the embedded demo (``iiot.demo_embedded``) and the one against the real stack
(``iiot.demo_stack``): both fill a ``Components`` and hand it to the loop in ``iiot.demo``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from iiot.demo_plan import DemoPlan
from iiot.demo_setup import (
    CPU_BACKEND,
    DEMO_PASSWORD,
    DEMO_USER,
    READY_TIMEOUT_S,
    TELEMETRY_DEADBANDS,
    DemoError,
    DemoOptions,
)

if TYPE_CHECKING:
    from cloud.dashboard.server import Dashboard
    from edge.agent import EdgeAgent
    from iiot.demo_twin import TruthBoard, TwinThread
    from iiot.demo_view import MachineRow, ViewState

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class BrokerLogin:
    """Where and as whom a demo client connects to MQTT (anonymous on the embedded broker)."""

    host: str
    port: int
    username: str = ""
    password: str = ""


def agent_settings(
    plan: DemoPlan, broker: BrokerLogin, state_dir: Path, detector: Path | None, fault: Path | None
) -> list[Any]:
    """One edge agent per line (cameras go with their line), on CPU ONNX Runtime."""
    from edge.settings import load_settings
    from iiot.harness.edge_plan import BrokerAccess, agent_config, plan_agents
    from iiot.harness.scenario import EdgeSection

    lines = sum(len(site.lines) for site in plan.plant.sites)
    plans = plan_agents(EdgeSection(agents=lines), plan.plant)
    settings = []
    for agent in plans:
        extra: dict[str, Any] = {
            "telemetry": {"deadband": 0.0, "deadbands": TELEMETRY_DEADBANDS, "period_s": 300.0},
            "health": {"enabled": False},
            "outbox": {"synchronous": "NORMAL"},  # survives a crash of the demo, not a power cut
            "node_metrics_period_s": 5.0,
            "mqtt": {
                "username": broker.username or None,
                "password": broker.password or None,
                "client_id": f"iiot-demo-{plan.plant.group}-{agent.agent_id}",
            },
        }
        if fault is not None and agent.machines:
            extra["fault"] = {"backend": CPU_BACKEND}
        if detector is not None and agent.cameras:
            extra["detector"] = {"backend": CPU_BACKEND, "crop": True, "max_batch": 2}
        raw = agent_config(
            agent,
            group_id=plan.plant.group,
            broker=BrokerAccess(broker.host, broker.port, broker.username),
            state_dir=state_dir / agent.agent_id,
            detector=detector,
            fault=fault,
            extra=extra,
        )
        settings.append(load_settings(None, **raw))
    return settings


@dataclass(slots=True)
class Components:
    """What is running, for the view and for the shutdown (in the order it is stopped)."""

    twin: TwinThread | None = None
    truth: TruthBoard | None = None
    agents: dict[str, EdgeAgent] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    dashboard: Dashboard | None = None
    cloud_stops: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """How the cloud side stops (runner, or bridge and worker processes), in order."""
    last_stops: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    """What stops after the dashboard (the embedded broker)."""
    newest_ms: Callable[[], int | None] = lambda: None
    """Newest sensor event time the pipeline has delivered (for the warm-up's pacing)."""
    stats: Callable[[], str] = lambda: ""
    """A line about the cloud side's counters, for the log."""
    checks: list[Callable[[], str | None]] = field(default_factory=list)
    """Each says what died (a child process), or None."""
    edge_stop: asyncio.Event = field(default_factory=asyncio.Event)
    dashboard_stop: asyncio.Event = field(default_factory=asyncio.Event)


class ProgressSink:
    """The runner's storage, noting the newest telemetry event time written: how far the pipeline got."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.newest_ms: int | None = None

    def write(self, records: Iterable[Any]) -> int:
        """Write through; remember the newest sensor sample's time."""
        from cloud.processing.records import TelemetryPoint

        items = list(records)
        times = [r.ts_ms for r in items if isinstance(r, TelemetryPoint)]
        if times:
            newest = max(times)
            self.newest_ms = newest if self.newest_ms is None else max(self.newest_ms, newest)
        return int(self.inner.write(items))

    def close(self) -> None:
        """The dashboard closes the storage itself."""


def dashboard_common(opts: DemoOptions, plan: DemoPlan, port: int) -> dict[str, Any]:
    """Dashboard settings both demos share: address, demo login, layout, windows and alert rules."""
    layout = opts.data_dir / "plant-layout.json"
    lines = {line.id: [m.id for m in line.machines] for site in plan.plant.sites for line in site.lines}
    layout.write_text(json.dumps(lines), encoding="utf-8")
    return {
        "dashboard_host": opts.host,
        "dashboard_port": port,
        "dashboard_users_file": str(opts.data_dir / "dashboard-users.json"),
        "dashboard_secret_file": str(opts.data_dir / "dashboard-secret"),
        "dashboard_bootstrap_admin": f"{DEMO_USER}:{DEMO_PASSWORD}",
        "dashboard_bootstrap_role": "operator",
        "dashboard_trend_window": "6h",
        "dashboard_defect_window": plan.processing.get("defect_window", "10m"),
        "dashboard_layout_file": str(layout),
        **plan.processing,
    }


def start_twin(plan: DemoPlan, broker: BrokerLogin, parts: Components, seed: int) -> None:
    """Start the twin's thread, held back during the warm-up while the pipeline lags."""
    from pydantic import SecretStr

    from iiot.demo_twin import TruthBoard, TwinThread
    from simulators.mqtt_publisher import MqttTwinPublisher
    from simulators.settings import TwinSettings

    settings = TwinSettings(
        mqtt_host=broker.host,
        mqtt_port=broker.port,
        mqtt_username=broker.username or None,
        mqtt_password=SecretStr(broker.password) if broker.password else None,
        mqtt_client_id=f"iiot-demo-twin-{plan.plant.group}",
    )
    epoch_ms, newest_ms = plan.epoch_ms, parts.newest_ms

    def behind(sim_s: float) -> float:
        seen = newest_ms()
        return sim_s - ((seen - epoch_ms) / 1000 if seen is not None else 0.0)

    parts.truth = TruthBoard()
    parts.twin = TwinThread(plan, lambda: MqttTwinPublisher(settings), parts.truth, behind=behind, seed=seed)
    parts.twin.start()


async def start_agents(settings: list[Any], parts: Components, stop: asyncio.Event) -> None:
    """Start the edge agents; return once each is online and subscribed to its sources."""
    readiness = []
    for one in settings:
        ready = asyncio.Event()
        readiness.append(ready)
        parts.tasks[f"edge agent {one.edge_node_id}"] = asyncio.create_task(
            _agent(one, parts.edge_stop, ready, parts), name=f"demo-{one.edge_node_id}"
        )
    await until(lambda: all(r.is_set() for r in readiness), "the edge agents", parts, stop)


async def _agent(settings: Any, stop: asyncio.Event, ready: asyncio.Event, parts: Components) -> None:
    from edge.agent import EdgeAgent

    async with EdgeAgent(settings) as agent:
        parts.agents[settings.edge_node_id] = agent
        while not (
            agent.publisher is not None
            and agent.publisher.online
            and all(getattr(s, "connected", True) for s in agent.sources)
        ):
            if stop.is_set():
                return
            await asyncio.sleep(0.1)
        ready.set()
        await agent.run(stop)


async def until(predicate: Callable[[], bool], what: str, parts: Components, stop: asyncio.Event) -> None:
    """Wait until ``predicate``; DemoError when a component dies first or it takes too long."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not predicate():
        if stop.is_set():
            return
        for name, task in parts.tasks.items():
            if task.done():
                raise DemoError(f"{name} stopped while starting: {task_error(task)}")
        if time.monotonic() > deadline:
            raise DemoError(f"{what} not ready within {READY_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.1)


def task_error(task: asyncio.Task[Any]) -> str:
    """How a finished task ended, in words."""
    if task.cancelled():
        return "cancelled"
    exc = task.exception()
    return f"{type(exc).__name__}: {exc}" if exc is not None else "finished early"


def port_open(host: str, port: int) -> bool:
    """Whether something accepts connections on ``host:port``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


async def serve_dashboard(dashboard: Dashboard, host: str, port: int, stop: asyncio.Event) -> None:
    """``cloud.dashboard.server.serve`` with uvicorn's own logging setup left out.

    uvicorn's default ``log_config`` runs ``logging.config.dictConfig``, which closes every handler
    already installed (the demo's log file among them) and prints its own lines on the terminal.
    """
    from cloud.dashboard.server import quiet_server, uvicorn_config

    server = quiet_server(uvicorn_config(dashboard.app, host, port, log_config=None))
    task = asyncio.create_task(server.serve())
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if task.done() and not stop.is_set():
            raise DemoError(f"the dashboard stopped: {task_error(task)}")
    finally:
        dashboard.service.hub.close()  # end the event streams, or shutdown waits for them
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, SystemExit):
            await task
        waiter.cancel()
        await dashboard.aclose()


async def shutdown(parts: Components) -> None:
    """Stop in order: twin, edge agents, cloud side, dashboard, broker; never raise."""
    if parts.twin is not None:
        await asyncio.to_thread(parts.twin.stop)
    parts.edge_stop.set()
    await _finish([t for n, t in parts.tasks.items() if n.startswith("edge agent")], 20.0)
    for stop in parts.cloud_stops:
        with contextlib.suppress(Exception):
            await stop()
    parts.dashboard_stop.set()
    await _finish([t for n, t in parts.tasks.items() if n == "dashboard"], 10.0)
    for stop in parts.last_stops:
        with contextlib.suppress(Exception):
            await stop()


async def _finish(tasks: list[asyncio.Task[Any]], within_s: float) -> None:
    if not tasks:
        return
    done, pending = await asyncio.wait(tasks, timeout=within_s)
    for task in pending:
        task.cancel()
    for task in [*done, *pending]:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        if task in done and not task.cancelled() and task.exception() is not None:
            log.warning("%s ended with %s", task.get_name(), task.exception())


def failure(parts: Components) -> str | None:
    """What stopped on its own, if anything did."""
    if parts.twin is not None and parts.twin.error is not None:
        return f"the twin stopped: {parts.twin.error}"
    for name, task in parts.tasks.items():
        if task.done():
            return f"{name} stopped: {task_error(task)}"
    for check in parts.checks:
        problem = check()
        if problem:
            return problem
    return None


# ----------------------------------------------------------------------------------- view


async def view_state(
    parts: Components,
    plan: DemoPlan,
    started: float,
    header: dict[str, str],
    first_alert_s: float | None,
    notes: list[str],
) -> ViewState:
    """What the view shows now: the twin's truth, the dashboard's machine tiles and open alerts."""
    from iiot.demo_view import AlertRow, MachineRow, ViewState

    machines, events, frames, defective, sim_ms = parts.truth.snapshot() if parts.truth else ({}, [], 0, 0, 0)
    tiles: dict[str, dict[str, Any]] = {}
    alerts: list[AlertRow] = []
    if parts.dashboard is not None:
        body = (await parts.dashboard.service.machines()).body
        tiles = {t["machine_id"]: t for t in json.loads(body)["machines"]}
        for alert in await parts.dashboard.service.open_alerts():
            alerts.append(
                AlertRow(
                    alert.severity.name.lower(),
                    alert.source,
                    alert.message,
                    alert.last_raised_ms,
                    str(alert.state),
                )
            )
    rows: list[MachineRow] = []
    for machine_id in sorted(set(machines) | set(tiles), key=_machine_order(plan)):
        truth = machines.get(machine_id)
        tile = tiles.get(machine_id, {})
        rows.append(
            MachineRow(
                machine_id=machine_id,
                line_id=truth.line_id if truth else str(tile.get("line_id", "")),
                kind=truth.kind if truth else "",
                health=truth.health if truth else None,
                truth_fault=truth.fault if truth else None,
                running=truth.running if truth else True,
                probability=tile.get("probability"),
                predicted=str(tile.get("fault_type") or ""),
                rul_s=tile.get("rul_s"),
                status=str((tile.get("health") or {}).get("label", "NO DATA")),
                open_alerts=int(tile.get("open_alerts", 0)),
            )
        )
    inspected = 0
    for agent in parts.agents.values():
        if agent.defects is not None:
            inspected += sum(agent.defects.counters.frames.values())
    live = parts.twin is not None and parts.twin.live.is_set()
    if live:
        phase = "live"
    else:
        done = (sim_ms - plan.epoch_ms) / 1000 / plan.warmup_s if plan.warmup_s and sim_ms else 0.0
        phase = f"warm-up {min(done, 1.0):.0%} (the fault model's {plan.warmup_s / 3600:.1f} h of history)"
    recent = [
        f"{_hms(e.t_ms)} twin: {e.kind} {e.machine_id or e.target or ''} {e.fault or ''}".rstrip()
        for e in events
    ]
    return ViewState(
        uptime_s=time.monotonic() - started,
        phase=phase,
        sim_ms=sim_ms,
        speed=plan.speed,
        dashboard_url=header["url"],
        login=header["login"],
        data_path=header["data"],
        machines=rows,
        alerts=alerts,
        frames=frames,
        defective_frames=defective,
        inspected=inspected,
        pipelines=[header["fault"], header["detector"]],
        events=[*recent, *notes][-6:],
        first_alert_s=first_alert_s,
        live=live,
    )


def trace(parts: Components, plan: DemoPlan) -> None:
    """A progress line in the log: how far the twin and the pipeline got."""
    truth, seen = parts.truth, parts.newest_ms()
    if truth is None:
        return
    log.info(
        "progress: twin %.0f s, pipeline %s s; %s",
        (truth.sim_ms - plan.epoch_ms) / 1000 if truth.sim_ms else 0,
        f"{(seen - plan.epoch_ms) / 1000:.0f}" if seen is not None else "-",
        parts.stats(),
    )


def _machine_order(plan: DemoPlan) -> Callable[[str], tuple[int, str]]:
    order = {m: i for i, m in enumerate(plan.plant.machine_ids())}
    return lambda m: (order.get(m, len(order)), m)


def _hms(ms: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ms / 1000))
