"""Shared browser fixtures: real headless Chromium, and a live dashboard fed by the embedded pipeline.

The dashboard under test runs in-process with uvicorn on a free loopback port. Faults are injected
the way the pipeline receives them: Sparkplug B messages of a scripted edge node (the bridge's own
``EdgeNodeScript``) handed to the embedded runner, which normalizes them, runs the processor core,
writes SQLite and publishes alert revisions to the dashboard's in-process link.

Chromium is Debian's (``/usr/bin/chromium``, or ``IIOT_CHROMIUM``); if it is missing the tests
fail, they do not skip.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cloud.bridge.edge_feed import EdgeNodeScript
from cloud.dashboard.embedded_link import MemoryLink, ObservedRunner
from cloud.dashboard.server import Dashboard, build, quiet_server, uvicorn_config
from cloud.dashboard.settings import DashboardSettings
from cloud.pipeline import PipelineCore
from cloud.processing.processor import Processor
from cloud.storage.base import open_storage
from cloud.storage.sqlite import SqliteStorage
from proto import messages as m
from proto.codec import encode
from proto.topics import detections_topic

CHROMIUM = os.environ.get("IIOT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
IMG = ROOT / "docs" / "img"
USERS = {
    "olga": ("operator", "olga-operator-pw"),
    "otto": ("operator", "otto-operator-pw"),
    "vera": ("viewer", "vera-viewer-pw"),
}
STEP_MS = 10_000


# ----------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Chromium through Playwright; a missing browser is a failure.

    Module scope, not session: while Playwright's sync API is open it keeps an asyncio loop marked
    as running on the main thread, and every pytest-asyncio test after it would then fail with
    "Runner.run() cannot be called from a running event loop".
    """
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set IIOT_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


# ----------------------------------------------------------------------------- plant feed


@dataclass
class Machine:
    """One machine of the scripted plant: its line, sensors and current fault probability."""

    machine_id: str
    line: str
    temperature: float = 55.0
    vibration: float = 2.0
    current: float = 24.0
    speed: float = 1480.0
    probability: float = 0.05
    fault: str = "normal"
    rul_s: float = 400 * 3600.0

    def values(self, i: int) -> dict[str, float | str]:
        """The DDATA metrics of one step (a little ripple so the charts look like sensors)."""
        ripple = ((i * 7919) % 13 - 6) / 6
        return {
            "temperature": round(self.temperature + 0.6 * ripple, 2),
            "vibration": round(self.vibration + 0.08 * ripple, 3),
            "current": round(self.current + 0.4 * ripple, 2),
            "speed": round(self.speed + 3 * ripple, 1),
            "prediction/fault_probability": round(self.probability, 4),
            "prediction/fault_type": self.fault,
            "prediction/rul_s": self.rul_s,
            "prediction/line_id": self.line,
            "prediction/model": "fault-lstm",
            "prediction/model_version": "1.4.0",
        }


@dataclass
class Plant:
    """Scripted edge nodes feeding the embedded runner through its MQTT entry point."""

    runner: ObservedRunner
    machines: dict[str, Machine]
    nodes: dict[str, EdgeNodeScript] = field(default_factory=dict)
    node_of: dict[str, str] = field(default_factory=dict)
    now_ms: int = 0
    step_index: int = 0
    frame_seq: int = 0

    @classmethod
    def start(
        cls, runner: ObservedRunner, machines: list[Machine], nodes: dict[str, list[str]], t0: int
    ) -> Plant:
        """Birth every node and its devices at event time ``t0``."""
        plant = cls(runner, {mach.machine_id: mach for mach in machines}, now_ms=t0)
        for node, ids in nodes.items():
            script = EdgeNodeScript("plant", node, {i: plant.machines[i].values(0) for i in ids})
            plant.nodes[node] = script
            plant.node_of.update(dict.fromkeys(ids, node))
            plant.feed(script.birth(t0))
            plant.feed([script.node_data({"Outbox/messages": 0, "Outbox/bytes": 0, "Frames/dropped": 0}, t0)])
        return plant

    def feed(self, messages: list[tuple[str, bytes]]) -> None:
        """Hand MQTT messages to the runner, as the MQTT loop does."""
        self.runner.handle(messages, int(time.time() * 1000))

    def step(self, count: int = 1) -> None:
        """Advance event time by ``count`` steps, every machine publishing one sample set."""
        for _ in range(count):
            self.step_index += 1
            self.now_ms += STEP_MS
            messages = [
                self.nodes[self.node_of[mid]].data(mid, mach.values(self.step_index), self.now_ms)
                for mid, mach in self.machines.items()
                if mid in self.node_of
            ]
            self.feed(messages)

    def ramp(self, machine: str, to: float, steps: int, fault: str) -> None:
        """Raise a machine's fault probability linearly to ``to`` over ``steps`` samples; it heats up too."""
        mach = self.machines[machine]
        start = mach.probability
        for i in range(1, steps + 1):
            mach.probability = start + (to - start) * i / steps
            mach.fault = fault if mach.probability > 0.5 else "normal"
            mach.rul_s = max(mach.rul_s * 0.93, 1800.0)
            mach.temperature += 0.5
            mach.vibration += 0.08
            self.step()

    def node_metrics(self, node: str, **values: int) -> None:
        """Node-level metrics (outbox depth and the like)."""
        self.feed(
            [self.nodes[node].node_data({k.replace("__", "/"): v for k, v in values.items()}, self.now_ms)]
        )

    def frame(
        self,
        node: str,
        camera: str,
        line: str,
        image: Any,
        boxes: list[tuple[str, float, tuple[int, int, int, int]]],
    ) -> None:
        """A detection event with its JPEG crop (the whole frame here) and pixel boxes."""
        import cv2

        ok, jpeg = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        height, width = image.shape[:2]
        self.frame_seq += 1
        event = m.DetectionEvent(
            group_id="plant",
            edge_node=node,
            camera_id=camera,
            line_id=line,
            timestamp_ms=self.now_ms + self.frame_seq,
            seq=self.frame_seq,
            image_width=width,
            image_height=height,
            crop_jpeg=jpeg.tobytes(),
            crop_box=m.Box(x1=0, y1=0, x2=width, y2=height),
            model=m.ModelRef(name="detector", version="2.1.0"),
        )
        for i, (label, score, (x1, y1, x2, y2)) in enumerate(boxes):
            event.detections.append(
                m.Detection(class_id=i, class_name=label, score=score, box=m.Box(x1=x1, y1=y1, x2=x2, y2=y2))
            )
        self.feed([(detections_topic("plant", node, camera), encode(event))])


# ----------------------------------------------------------------------------- live dashboard


class ServerThread:
    """uvicorn serving one app on a loopback port, in its own thread and event loop."""

    def __init__(self, dashboard: Dashboard, port: int) -> None:
        self.dashboard = dashboard
        self.server = quiet_server(uvicorn_config(dashboard.app, "127.0.0.1", port, log_level="warning"))
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            await self.server.serve()

        asyncio.run(main())

    def start(self) -> None:
        """Start and wait until it accepts connections."""
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the dashboard server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        """End the event streams (as a restart does), stop, and wait for the thread."""
        if self.loop is not None:
            self.loop.call_soon_threadsafe(self.dashboard.service.hub.close)
        self.server.should_exit = True
        self.thread.join(15)


def free_port() -> int:
    """A free loopback TCP port."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LiveDashboard:
    """A running dashboard, the pipeline feeding it, and the way in for a browser."""

    settings: DashboardSettings
    storage: SqliteStorage
    link: MemoryLink
    runner: ObservedRunner
    port: int
    server: ServerThread | None = None
    dashboard: Dashboard | None = None

    @property
    def url(self) -> str:
        """Base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """(Re)start the web server on the same port, storage, link and signing key."""
        self.dashboard = build(self.settings, link=(self.link, self.link), storage=self.storage)
        self.server = ServerThread(self.dashboard, self.port)
        self.server.start()

    def stop(self) -> None:
        """Stop the web server (the pipeline keeps running)."""
        if self.server is not None:
            self.server.stop()
            self.server = None

    def login(self, browser: Any, user: str, *, viewport: tuple[int, int] = (1600, 1000)) -> Any:
        """A new browser context logged in as ``user``; returns its page on the overview."""
        context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
        page = context.new_page()
        page.goto(f"{self.url}/login")
        page.fill("#username", user)
        page.fill("#password", USERS[user][1])
        page.click("button[type=submit]")
        page.wait_for_url(f"{self.url}/")
        page.wait_for_selector("#link[data-status=live]", timeout=15_000)
        return page


def settings_for(tmp_path: Path, layout: dict[str, list[str]] | None = None) -> DashboardSettings:
    """Fast argon2 parameters, files in ``tmp_path``, memory link, quick refresh."""
    layout_file = ""
    if layout:
        layout_file = str(tmp_path / "layout.json")
        Path(layout_file).write_text(json.dumps(layout), encoding="utf-8")
    return DashboardSettings(
        dashboard_storage_url=f"sqlite:///{tmp_path / 'cloud.db'}",
        dashboard_link="memory",
        dashboard_users_file=str(tmp_path / "users.json"),
        dashboard_secret_file=str(tmp_path / "secret"),
        dashboard_argon2_time_cost=1,
        dashboard_argon2_memory_kib=8192,
        dashboard_argon2_parallelism=1,
        dashboard_refresh="1s",
        dashboard_heartbeat="2s",
        dashboard_trend_window="20m",
        dashboard_layout_file=layout_file,
        alert_update_interval="10s",
    )


@pytest.fixture
def live_dashboard(tmp_path: Path) -> Iterator[LiveDashboard]:
    """A dashboard with operators olga and otto and viewer vera, linked to an embedded runner."""
    from cloud.dashboard.auth import Role
    from cloud.dashboard.server import user_store

    settings = settings_for(
        tmp_path,
        layout={"L1": ["press-1", "press-2", "spindle-1"], "L2": ["pump-1", "pump-2", "conveyor-1"]},
    )
    store = user_store(settings)
    for name, (role, password) in USERS.items():
        store.set_user(name, Role(role), password)
    store.save()
    storage = open_storage(settings.dashboard_storage_url)
    assert isinstance(storage, SqliteStorage)
    link = MemoryLink()
    runner = ObservedRunner(PipelineCore(Processor(settings.processing_config())), storage, link)
    live = LiveDashboard(settings, storage, link, runner, free_port())
    live.start()
    try:
        yield live
    finally:
        live.stop()
        storage.close()


@pytest.fixture
def img_dir() -> Path:
    """Where the screenshots for the documentation go."""
    IMG.mkdir(parents=True, exist_ok=True)
    return IMG


@pytest.fixture
def make_plant(live_dashboard: LiveDashboard) -> Callable[[int], Plant]:
    """Start the standard plant feeding the live dashboard, with ``minutes`` of history."""
    return lambda minutes: standard_plant(live_dashboard.runner, minutes)


def standard_plant(runner: ObservedRunner, minutes: int = 20) -> Plant:
    """Two lines, five reporting machines (conveyor-1 is in the layout but silent), `minutes` of history."""
    machines = [
        Machine("press-1", "L1", probability=0.04, rul_s=900 * 3600.0),
        Machine("press-2", "L1", probability=0.30, fault="normal", rul_s=310 * 3600.0),
        Machine("spindle-1", "L1", temperature=61.0, vibration=2.6, probability=0.12, rul_s=120 * 3600.0),
        Machine("pump-1", "L2", temperature=58.0, vibration=3.1, probability=0.20, rul_s=200 * 3600.0),
        Machine("pump-2", "L2", probability=0.03, rul_s=1200 * 3600.0),
    ]
    t0 = int(time.time() * 1000) - minutes * 60_000
    plant = Plant.start(
        runner,
        machines,
        {"edge-l1": ["press-1", "press-2", "spindle-1"], "edge-l2": ["pump-1", "pump-2"]},
        t0,
    )
    plant.step(minutes * 60_000 // STEP_MS // 2)
    return plant
