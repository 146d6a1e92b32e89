"""`iiot demo`: the whole system on one machine, embedded defaults, nothing to install.

    twin thread ──MQTT──▶ embedded broker (thread) ──▶ edge agents ──Sparkplug B──▶ broker
                                                                                     │
    terminal view ◀── dashboard (uvicorn) ◀── memory link ◀── embedded runner ◀──────┘
                                                                  │
                                                               SQLite

Everything async shares one event loop (edge agents, the runner's MQTT loop, the dashboard, the
view); the twin and the broker have their own threads. The plan (what the twin plays, how fast,
the alert settings in event time) is in ``iiot.demo_plan``; the twin's thread and pacing in
``iiot.demo_twin``; the terminal view in ``iiot.demo_view``; this module wires them and owns the
command line. SIGINT and SIGTERM stop everything in order (twin, agents, runner, dashboard,
broker) and the command exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import shutil
import signal
import socket
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from iiot.demo_plan import DemoPlan, ModelTiming

if TYPE_CHECKING:
    from cloud.dashboard.server import Dashboard
    from cloud.embedded.runner import EmbeddedRunner
    from cloud.mqtt_client import MqttClient
    from edge.agent import EdgeAgent
    from iiot.demo_twin import TruthBoard, TwinThread
    from iiot.demo_view import MachineRow, ViewState
    from iiot.embedded_broker import EmbeddedBroker

log = logging.getLogger(__name__)

DEMO_USER = "operator"
DEMO_PASSWORD = "iiot-demo"
"""The dashboard's demo login (operator role). The dashboard listens on loopback only."""
DEFAULT_SPEED = 60.0
DEFAULT_PORT = 8080
FIRST_ALERT_PROMISE_S = 90
"""What docs/DEMO.md promises: the first alert within this many seconds of `iiot demo` starting."""
DB_NAME = "iiot-demo.sqlite"
ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "models" / "artifacts"
CPU_BACKEND = {"kind": "onnxruntime", "providers": ["CPUExecutionProvider"], "intra_op_threads": 1}
TELEMETRY_DEADBANDS = {
    "temperature_c": 0.5,
    "current_a": 1.0,
    "speed_rpm": 50.0,
    "vib_rms_g": 0.02,
    "vib_kurtosis": 0.5,
    "vib_crest": 0.5,
    "vib_1x_g": 0.02,
    "vib_2x_g": 0.01,
    "vib_bpfo_env": 0.002,
    "vib_bpfi_env": 0.002,
    "pressure_bar": 0.1,
    "flow_m3h": 2.5,
}
"""About twice each channel's sample-to-sample noise: trends go out, noise stays on the edge."""
READY_TIMEOUT_S = 60.0


class DemoError(Exception):
    """The demo cannot start or a component failed; the message says which and why."""


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """The command line, as values."""

    speed: float = DEFAULT_SPEED
    duration_s: float | None = None
    port: int | None = None
    data_dir: Path = Path("var/demo")
    view: bool = True
    seed: int = 0
    host: str = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Artifact:
    """A shipped model: its manifest, or why the demo runs without it."""

    pipeline: str
    manifest: Path | None
    problem: str = ""
    label: str = ""


# ----------------------------------------------------------------------------------- setup


def default_data_dir() -> Path:
    """``$XDG_DATA_HOME/iiot/demo`` (``~/.local/share/iiot/demo``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "iiot" / "demo"


def find_artifact(pipeline: str, folder: Path) -> Artifact:
    """The verified manifest in ``folder`` (fp32 preferred), or an Artifact saying what is wrong."""
    from edge.inference.factory import load_verified

    rel = _shown(folder)
    manifests = sorted(folder.glob("*.manifest.json"))
    if not manifests:
        return Artifact(pipeline, None, f"no {rel}/*.manifest.json")
    problems = []
    ranked = sorted(manifests, key=lambda p: ("int8" in p.name, "fp16" in p.name, p.name))
    for path in ranked:
        try:
            manifest, _ = load_verified(path)
        except Exception as exc:  # a broken artifact must not stop the other pipeline
            problems.append(f"{_shown(path)}: {exc}")
            continue
        return Artifact(pipeline, path, label=f"{manifest.name} {manifest.version} ({_shown(path)})")
    return Artifact(pipeline, None, "; ".join(problems))


def model_timing(manifest_path: Path) -> ModelTiming:
    """Window length and feature step of a fault model."""
    from proto.artifacts import load_manifest

    manifest = load_manifest(manifest_path)
    norm = manifest.normalization
    window = int(getattr(norm, "window_length", 0) or 1)
    step = float(manifest.metrics.get("feature_step_s", 0.0) or 0.0)
    return ModelTiming(window, step)


def _shown(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def fresh_data_dir(path: Path) -> None:
    """Create the folder; remove what a previous demo left (database, outboxes): each run starts clean."""
    path.mkdir(parents=True, exist_ok=True)
    for name in (DB_NAME, f"{DB_NAME}-wal", f"{DB_NAME}-shm", f"{DB_NAME}-journal", "plant-layout.json"):
        with contextlib.suppress(FileNotFoundError):
            (path / name).unlink()
    edge = path / "edge"
    if edge.is_dir():
        shutil.rmtree(edge)


def pick_port(host: str, wanted: int | None) -> int:
    """``wanted`` if it is free (DemoError if not); 0: any free port; None: 8080 if free, else any."""
    from iiot.embedded_broker import free_port

    if wanted == 0:
        return free_port(host)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, wanted or DEFAULT_PORT))
            return wanted or DEFAULT_PORT
        except OSError:
            pass
    if wanted:
        raise DemoError(f"port {wanted} on {host} is in use; pass another with --port (or --port 0 for any)")
    return free_port(host)


class _BrokerAckNoise(logging.Filter):
    """Drops amqtt's complaints about late PUBACKs.

    amqtt waits 5 s at most for a subscriber's PUBACK and then logs a warning and a traceback; the
    demo's subscribers acknowledge only after they have stored a message, which on two busy cores
    can take longer. The message has been delivered by then (its PUBACK follows), so these are noise.
    """

    NOISE = ("Timeout waiting for PUBACK", "Received PUBACK for unknown pending message")

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("amqtt"):
            return True
        text = record.getMessage()
        return not any(noise in text for noise in self.NOISE)


class _NameFilter(logging.Filter):
    """Drops records of the named loggers (the embedded broker's, which go to the log file only)."""

    def __init__(self, *names: str) -> None:
        super().__init__()
        self.names = names

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(self.names)


def quiet_console() -> None:
    """Errors only on the console from now on (the shutdown's routine warnings go to the log file)."""
    for h in logging.getLogger().handlers:
        if isinstance(h, logging.StreamHandler) and not isinstance(h, logging.FileHandler):
            h.setLevel(max(h.level, logging.ERROR))


@contextlib.contextmanager
def demo_logging(log_file: Path, view: bool) -> Iterator[None]:
    """Everything at INFO into ``log_file``; the console gets warnings only (nothing while the view draws)."""
    root = logging.getLogger()
    saved_level = root.level
    consoles = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
    consoles = [h for h in consoles if not isinstance(h, logging.FileHandler)]
    saved = [(h, h.level) for h in consoles]
    handler = logging.FileHandler(log_file, mode="w", encoding="utf-8")
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s")
    )
    handler.setLevel(logging.INFO)
    handler.addFilter(_BrokerAckNoise())
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > logging.INFO:
        root.setLevel(logging.INFO)
    broker_noise = _NameFilter("amqtt", "transitions")
    for h in consoles:
        if view:
            root.removeHandler(h)
        else:
            h.setLevel(max(saved_level, logging.WARNING))
            h.addFilter(broker_noise)
    quiet = {"amqtt": logging.WARNING, "transitions": logging.WARNING, "uvicorn.error": logging.WARNING}
    saved_quiet = {name: logging.getLogger(name).level for name in quiet}
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        root.removeHandler(handler)
        handler.close()
        for h, level in saved:
            h.setLevel(level)
            h.removeFilter(broker_noise)
            if h not in root.handlers:
                root.addHandler(h)
        for name, level in saved_quiet.items():
            logging.getLogger(name).setLevel(level)
        root.setLevel(saved_level)


# ----------------------------------------------------------------------------------- settings


def agent_settings(
    plan: DemoPlan,
    broker_host: str,
    broker_port: int,
    state_dir: Path,
    detector: Path | None,
    fault: Path | None,
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
            "node_metrics_period_s": 5.0,
            "mqtt": {"username": None, "client_id": f"iiot-demo-{agent.agent_id}"},
        }
        if fault is not None and agent.machines:
            extra["fault"] = {"backend": CPU_BACKEND}
        if detector is not None and agent.cameras:
            extra["detector"] = {"backend": CPU_BACKEND, "crop": True, "max_batch": 2}
        raw = agent_config(
            agent,
            group_id=plan.plant.group,
            broker=BrokerAccess(broker_host, broker_port, ""),
            state_dir=state_dir / agent.agent_id,
            detector=detector,
            fault=fault,
            extra=extra,
        )
        settings.append(load_settings(None, **raw))
    return settings


def dashboard_settings(opts: DemoOptions, plan: DemoPlan, port: int, broker_port: int) -> Any:
    """The dashboard's (and the runner's) settings for the demo."""
    from cloud.dashboard.settings import DashboardSettings

    layout = opts.data_dir / "plant-layout.json"
    layout.write_text(
        json.dumps(
            {line.id: [m.id for m in line.machines] for site in plan.plant.sites for line in site.lines}
        ),
        encoding="utf-8",
    )
    return DashboardSettings(
        dashboard_host=opts.host,
        dashboard_port=port,
        dashboard_storage_url=f"sqlite:///{(opts.data_dir / DB_NAME).resolve()}",
        dashboard_link="memory",
        dashboard_users_file=str(opts.data_dir / "dashboard-users.json"),
        dashboard_secret_file=str(opts.data_dir / "dashboard-secret"),
        dashboard_bootstrap_admin=f"{DEMO_USER}:{DEMO_PASSWORD}",
        dashboard_bootstrap_role="operator",
        dashboard_trend_window="6h",
        dashboard_defect_window=plan.processing.get("defect_window", "10m"),
        dashboard_layout_file=str(layout),
        mqtt_host=opts.host,
        mqtt_port=broker_port,
        mqtt_username="",
        mqtt_password="",
        embedded_sparkplug_group=plan.plant.group,
        **plan.processing,
    )


# ----------------------------------------------------------------------------------- running


@dataclass(slots=True)
class Components:
    """What is running, for the view and for the shutdown."""

    broker: EmbeddedBroker | None = None
    dashboard: Dashboard | None = None
    runner: EmbeddedRunner | None = None
    progress: ProgressSink | None = None
    mqtt: MqttClient | None = None
    twin: TwinThread | None = None
    truth: TruthBoard | None = None
    agents: dict[str, EdgeAgent] = field(default_factory=dict)
    tasks: dict[str, asyncio.Task[Any]] = field(default_factory=dict)
    edge_stop: asyncio.Event = field(default_factory=asyncio.Event)
    runner_stop: asyncio.Event = field(default_factory=asyncio.Event)
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


async def _until(predicate: Callable[[], bool], what: str, parts: Components, stop: asyncio.Event) -> None:
    """Wait until ``predicate``; DemoError when a component dies first or it takes too long."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not predicate():
        if stop.is_set():
            return
        for name, task in parts.tasks.items():
            if task.done():
                raise DemoError(f"{name} stopped while starting: {_task_error(task)}")
        if time.monotonic() > deadline:
            raise DemoError(f"{what} not ready within {READY_TIMEOUT_S:.0f} s")
        await asyncio.sleep(0.1)


def _task_error(task: asyncio.Task[Any]) -> str:
    if task.cancelled():
        return "cancelled"
    exc = task.exception()
    return f"{type(exc).__name__}: {exc}" if exc is not None else "finished early"


def _port_open(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.2)
        return sock.connect_ex((host, port)) == 0


class Say:
    """Lines for the person at the terminal (stdout, flushed)."""

    def __call__(self, text: str = "") -> None:
        print(text, flush=True)


async def start(
    opts: DemoOptions,
    plan: DemoPlan,
    detector: Artifact,
    fault: Artifact,
    port: int,
    parts: Components,
    stop: asyncio.Event,
) -> Any:
    """Start broker, runner and dashboard, edge agents, twin; return the dashboard settings."""
    from cloud.dashboard.embedded_link import MemoryLink, ObservedRunner
    from cloud.dashboard.server import build
    from cloud.embedded.runner import run_embedded
    from cloud.mqtt_client import MqttClient
    from cloud.pipeline import PipelineCore
    from cloud.processing.processor import Processor
    from cloud.storage.base import open_storage
    from iiot.demo_twin import TruthBoard, TwinThread
    from iiot.embedded_broker import EmbeddedBroker
    from proto.sparkplug import NAMESPACE
    from proto.topics import detections_filter
    from simulators.mqtt_publisher import MqttTwinPublisher
    from simulators.settings import TwinSettings

    broker = EmbeddedBroker(opts.host)
    await asyncio.to_thread(broker.start)
    parts.broker = broker
    logging.getLogger("amqtt").setLevel(logging.WARNING)

    settings = dashboard_settings(opts, plan, port, broker.port)
    storage = open_storage(settings.dashboard_storage_url)
    link = MemoryLink()
    progress = ProgressSink(storage)
    runner = ObservedRunner(PipelineCore(Processor(settings.processing_config())), progress, link)
    parts.runner, parts.progress = runner, progress
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
    parts.mqtt = mqtt
    parts.tasks["embedded runner"] = asyncio.create_task(
        run_embedded(runner, mqtt, parts.runner_stop, tick_s=1.0), name="demo-runner"
    )
    parts.tasks["dashboard"] = asyncio.create_task(
        serve_dashboard(dashboard, opts.host, port, parts.dashboard_stop), name="demo-dashboard"
    )
    await _until(lambda: _port_open(opts.host, port), "the dashboard", parts, stop)

    agents = agent_settings(
        plan, broker.host, broker.port, opts.data_dir / "edge", detector.manifest, fault.manifest
    )
    readiness = []
    for settings_one in agents:
        ready = asyncio.Event()
        readiness.append(ready)
        name = f"edge agent {settings_one.edge_node_id}"
        parts.tasks[name] = asyncio.create_task(
            _agent(settings_one, parts.edge_stop, ready, parts), name=f"demo-{settings_one.edge_node_id}"
        )
    await _until(lambda: all(r.is_set() for r in readiness), "the edge agents", parts, stop)

    twin_settings = TwinSettings(
        mqtt_host=broker.host, mqtt_port=broker.port, mqtt_client_id="iiot-demo-twin"
    )
    epoch_ms = plan.epoch_ms

    def behind(sim_s: float) -> float:
        seen = progress.newest_ms
        return sim_s - ((seen - epoch_ms) / 1000 if seen is not None else 0.0)

    truth = TruthBoard()
    parts.truth = truth
    twin = TwinThread(plan, lambda: MqttTwinPublisher(twin_settings), truth, behind=behind, seed=opts.seed)
    parts.twin = twin
    twin.start()
    return settings


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
            raise DemoError(f"the dashboard stopped: {_task_error(task)}")
    finally:
        dashboard.service.hub.close()  # end the event streams, or shutdown waits for them
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError, SystemExit):
            await task
        waiter.cancel()
        await dashboard.aclose()


async def shutdown(parts: Components) -> None:
    """Stop in order: twin, edge agents, runner, dashboard, broker; never raise."""
    if parts.twin is not None:
        await asyncio.to_thread(parts.twin.stop)
    parts.edge_stop.set()
    await _finish([t for n, t in parts.tasks.items() if n.startswith("edge agent")], 20.0)
    parts.runner_stop.set()
    await _finish([t for n, t in parts.tasks.items() if n == "embedded runner"], 10.0)
    if parts.mqtt is not None:
        with contextlib.suppress(Exception):
            await parts.mqtt.__aexit__(None, None, None)
    parts.dashboard_stop.set()
    await _finish([t for n, t in parts.tasks.items() if n == "dashboard"], 10.0)
    if parts.broker is not None:
        await asyncio.to_thread(parts.broker.stop)


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


def _failure(parts: Components) -> str | None:
    if parts.twin is not None and parts.twin.error is not None:
        return f"the twin stopped: {parts.twin.error}"
    for name, task in parts.tasks.items():
        if task.done():
            return f"{name} stopped: {_task_error(task)}"
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
    )


def _trace(parts: Components, plan: DemoPlan) -> None:
    runner, truth = parts.runner, parts.truth
    if runner is None or truth is None or parts.progress is None:
        return
    seen = parts.progress.newest_ms
    log.info(
        "progress: twin %.0f s, runner %s s, %s",
        (truth.sim_ms - plan.epoch_ms) / 1000 if truth.sim_ms else 0,
        f"{(seen - plan.epoch_ms) / 1000:.0f}" if seen is not None else "-",
        runner.stats,
    )


def _machine_order(plan: DemoPlan) -> Callable[[str], tuple[int, str]]:
    order = {m: i for i, m in enumerate(plan.plant.machine_ids())}
    return lambda m: (order.get(m, len(order)), m)


def _hms(ms: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ms / 1000))


# ----------------------------------------------------------------------------------- main


async def run_demo(opts: DemoOptions, stop: asyncio.Event, started: float, say: Say) -> None:
    """Run the demo until ``stop`` (or ``duration_s``); DemoError if it cannot run."""
    from iiot.demo_plan import plan_demo
    from iiot.demo_view import TerminalView, status_line
    from simulators.plant import load_plant
    from simulators.scenario import load_scenario

    detector = find_artifact("detector", ARTIFACTS / "detector")
    fault = find_artifact("fault", ARTIFACTS / "fault")
    timing = model_timing(fault.manifest) if fault.manifest is not None else None
    plan = plan_demo(
        load_plant("demo"),
        load_scenario("demo_faults"),
        speed=opts.speed,
        now_ms=int(time.time()) * 1000,
        timing=timing,
    )
    port = pick_port(opts.host, opts.port)
    db = (opts.data_dir / DB_NAME).resolve()
    header = {
        "url": f"http://{opts.host}:{port}/",
        "login": f"{DEMO_USER} / {DEMO_PASSWORD}",
        "data": str(db),
        "fault": f"fault: {fault.label}" if fault.manifest else "fault: OFF (missing model)",
        "detector": f"detector: {detector.label}" if detector.manifest else "detector: OFF (missing model)",
    }
    _banner(say, opts, plan, header, detector, fault)
    if fault.manifest is None and detector.manifest is None:
        say("  ! neither model is there: the plant runs and reports telemetry, but no alert will be raised")
    parts = Components()
    view = TerminalView() if opts.view and sys.stdout.isatty() else None
    periodic = opts.view and view is None
    first_alert_s: float | None = None
    seen_alerts: set[str] = set()
    notes: list[str] = []
    next_status = 0.0
    try:
        await start(opts, plan, detector, fault, port, parts, stop)
        say(f"running: the dashboard is at {header['url']} (login {header['login']}); Ctrl-C stops the demo")
        deadline = started + opts.duration_s if opts.duration_s else None
        while not stop.is_set():
            failure = _failure(parts)
            if failure:
                raise DemoError(failure)
            state = await view_state(parts, plan, started, header, first_alert_s, notes)
            _trace(parts, plan)
            for alert in state.alerts:
                key = f"{alert.source}|{alert.raised_ms}|{alert.message}"
                if key in seen_alerts:
                    continue
                seen_alerts.add(key)
                elapsed = time.monotonic() - started
                if first_alert_s is None:
                    first_alert_s = elapsed
                    line = f"first alert after {elapsed:.1f} s: "
                else:
                    line = f"alert after {elapsed:.1f} s: "
                line += f"{alert.severity} {alert.source}: {alert.message}"
                notes.append(line)
                if view is None:
                    say(line)
            if view is not None:
                view.draw(state)
            elif periodic and time.monotonic() >= next_status:
                next_status = time.monotonic() + 10.0
                say(status_line(state))
            if deadline is not None and time.monotonic() >= deadline:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
    finally:
        if view is not None:
            view.close()
        say("stopping: twin, edge agents, runner, dashboard, broker ...")
        quiet_console()
        await shutdown(parts)
    warm = parts.twin.warmup_wall_s if parts.twin else None
    summary = f"stopped after {time.monotonic() - started:.0f} s"
    if warm is not None:
        summary += f"; warm-up took {warm:.0f} s"
    summary += f"; first alert after {first_alert_s:.1f} s" if first_alert_s is not None else "; no alert yet"
    say(f"{summary}. Data kept in {db}")


def _banner(
    say: Say, opts: DemoOptions, plan: DemoPlan, header: dict[str, str], detector: Artifact, fault: Artifact
) -> None:
    say(
        "iiot demo — twin, embedded MQTT broker, edge agents, embedded runner, SQLite, dashboard: one process"
    )
    say(f"  dashboard  {header['url']}   login {header['login']} (operator)")
    say(f"  data       {header['data']}  (log: {(opts.data_dir / 'demo.log').resolve()})")
    for artifact in (fault, detector):
        if artifact.manifest is not None:
            say(f"  {artifact.pipeline:<9}  {artifact.label}")
        else:
            other = "detector" if artifact.pipeline == "fault" else "fault"
            say(
                f"  {artifact.pipeline:<9}  MISSING: {artifact.problem} — "
                f"the {artifact.pipeline} pipeline is off, the {other} pipeline runs"
            )
    if plan.warmup_s:
        say(
            f"  plan       the plant's first {plan.warmup_s / 3600:.1f} h (the fault model's history) "
            f"as fast as this machine allows, then live at {plan.speed:g}× real time"
        )
    else:
        say(f"  plan       live at {plan.speed:g}× real time")
    if plan.first_fault_s is not None:
        start_s = plan.first_fault_s - plan.warmup_s
        when = (
            f"{-start_s / 60:.0f} sim min before the live phase"
            if start_s < 0
            else f"{start_s / plan.speed:.0f} s into the live phase"
        )
        say(
            f"             first fault: spindle-1 bearing wear, {when}; first alert expected within "
            f"{FIRST_ALERT_PROMISE_S} s of start"
        )


def _raise_interrupt(signum: int, frame: Any) -> NoReturn:
    raise KeyboardInterrupt


@click.command(name="demo")
@click.option(
    "--speed",
    type=click.FloatRange(min=1.0, max=3600.0),
    default=DEFAULT_SPEED,
    show_default=True,
    help="Live phase: sim seconds per wall second.",
)
@click.option(
    "--duration",
    "duration_s",
    type=click.FloatRange(min=1.0),
    default=None,
    help="Stop after this many wall seconds (default: until Ctrl-C).",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Dashboard port (default 8080, or any free port if 8080 is taken; 0: any free port).",
)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where the SQLite database, outboxes and log go (default ~/.local/share/iiot/demo).",
)
@click.option(
    "--no-view", is_flag=True, help="No live terminal view: only the banner, alerts and the summary."
)
@click.option("--seed", type=int, default=0, show_default=True, help="Twin seed.")
@click.option(
    "--stack",
    is_flag=True,
    help="Run against the real stack (Mosquitto, Kafka, InfluxDB from deploy/local/stack) instead.",
)
def command(
    speed: float,
    duration_s: float | None,
    port: int | None,
    data_dir: Path | None,
    no_view: bool,
    seed: int,
    stack: bool,
) -> None:
    """The whole system on one machine: twin, broker, edge agents, runner, SQLite, dashboard.

    The first alert arrives within about a minute and a half; open the dashboard's address it prints
    and log in as operator / iiot-demo. Ctrl-C stops everything.
    """
    started = time.monotonic()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    opts = DemoOptions(
        speed=speed,
        duration_s=duration_s,
        port=port,
        data_dir=data_dir or default_data_dir(),
        view=not no_view,
        seed=seed,
    )
    say = Say()
    if stack:
        from iiot.demo_stack import run_stack_demo

        runner_main: Callable[[asyncio.Event], Any] = lambda stop: run_stack_demo(opts, stop, started, say)  # noqa: E731
    else:
        runner_main = lambda stop: run_demo(opts, stop, started, say)  # noqa: E731
    try:
        fresh_data_dir(opts.data_dir)
        with demo_logging(opts.data_dir / "demo.log", view=opts.view and sys.stdout.isatty()):
            asyncio.run(_main(runner_main))
    except KeyboardInterrupt:
        say("stopped.")
    except DemoError as exc:
        raise click.ClickException(str(exc)) from None


async def _main(body: Callable[[asyncio.Event], Any]) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    await body(stop)
