"""Health of the agent: Prometheus metrics, liveness and readiness, served over plain HTTP.

    GET /metrics   Prometheus text format (own registry, not the process-global one)
    GET /healthz   liveness: 200 while the event loop answers and no worker is stuck, else 503
    GET /readyz    readiness: 200 once models are loaded and the Sparkplug node is online, else 503
                   (both answer a JSON body naming each check)

A tiny asyncio HTTP server: no framework for three GET endpoints on a Jetson.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable
from types import TracebackType
from typing import Self

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

log = logging.getLogger(__name__)

STEP_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
Check = Callable[[], bool]


class HealthMetrics:
    """Every metric the agent exports, on one registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        r = self.registry = registry or CollectorRegistry()
        self.frames = Counter(
            "edge_frames_total", "Frames processed by the vision pipeline.", ["camera"], registry=r
        )
        self.frames_dropped = Counter(
            "edge_frames_dropped_total",
            "Frames dropped under overload (drop-oldest).",
            ["camera"],
            registry=r,
        )
        self.fps = Gauge(
            "edge_frames_per_second", "Frames processed per second, per camera.", ["camera"], registry=r
        )
        self.step_seconds = Histogram(
            "edge_step_seconds",
            "Time per pipeline step and batch.",
            ["pipeline", "step"],
            buckets=STEP_BUCKETS,
            registry=r,
        )
        self.batch_size = Histogram(
            "edge_batch_size",
            "Items per inference batch.",
            ["pipeline"],
            buckets=(1, 2, 4, 8, 16, 64, 256, 1024, 4096),
            registry=r,
        )
        self.detections = Counter(
            "edge_detections_total", "Defects detected.", ["camera", "line", "class_name"], registry=r
        )
        self.predictions = Counter("edge_predictions_total", "Fault predictions made.", registry=r)
        self.alarms_active = Gauge("edge_alarms_active", "Machines with a raised alarm.", registry=r)
        self.alarm_transitions = Counter(
            "edge_alarm_transitions_total", "Alarms raised and cleared.", ["transition"], registry=r
        )
        self.queue_depth = Gauge(
            "edge_queue_depth", "Items waiting in an internal queue.", ["queue"], registry=r
        )
        self.samples_dropped = Counter(
            "edge_samples_dropped_total", "Sensor sample blocks dropped (queue full).", registry=r
        )
        self.windows_skipped = Gauge(
            "edge_windows_skipped", "Fault windows skipped because a machine fell behind.", registry=r
        )
        self.outbox_messages = Gauge(
            "edge_outbox_messages", "Messages in the outbox.", ["priority"], registry=r
        )
        self.outbox_bytes = Gauge(
            "edge_outbox_bytes", "Payload bytes in the outbox.", ["priority"], registry=r
        )
        self.outbox_dropped = Gauge(
            "edge_outbox_dropped",
            "Messages dropped by the outbox policy since start.",
            ["priority", "reason"],
            registry=r,
        )
        self.inflight = Gauge("edge_mqtt_inflight", "Messages awaiting their PUBACK.", registry=r)
        self.mqtt_online = Gauge(
            "edge_sparkplug_online", "1 while births are out and data flows.", registry=r
        )
        self.mqtt_connects = Gauge("edge_mqtt_connects", "MQTT connections made since start.", registry=r)
        self.model_info = Gauge(
            "edge_model_info",
            "The serving model of each pipeline (value 1).",
            ["pipeline", "name", "version"],
            registry=r,
        )
        self.model_swaps = Counter(
            "edge_model_swaps_total", "Model slot events.", ["pipeline", "event"], registry=r
        )

    def set_model(self, pipeline: str, name: str, version: str) -> None:
        """Record the serving model of a pipeline (and forget the previous one)."""
        for metric in list(self.model_info.collect()):
            for sample in metric.samples:
                if sample.labels.get("pipeline") == pipeline:
                    with contextlib.suppress(KeyError):
                        self.model_info.remove(pipeline, sample.labels["name"], sample.labels["version"])
        self.model_info.labels(pipeline, name, version).set(1)

    def render(self) -> bytes:
        """The Prometheus exposition text."""
        return bytes(generate_latest(self.registry))


class Probes:
    """Liveness heartbeats and readiness checks, by name."""

    def __init__(self, stall_after_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.stall_after_s = stall_after_s
        self._clock = clock
        self._beats: dict[str, float] = {}
        self._busy: dict[str, float] = {}
        self._ready: dict[str, Check] = {}

    def beat(self, name: str) -> None:
        """A periodic worker is alive."""
        self._beats[name] = self._clock()

    def busy(self, name: str, since: float | None) -> None:
        """A worker started (since = monotonic time) or finished (None) a unit of work."""
        if since is None:
            self._busy.pop(name, None)
        else:
            self._busy[name] = since

    def readiness(self, name: str, check: Check) -> None:
        """Register a readiness condition."""
        self._ready[name] = check

    def live(self) -> dict[str, bool]:
        """Each heartbeat and busy worker: True unless silent or stuck longer than stall_after_s."""
        now = self._clock()
        out = {f"beat:{n}": now - t <= self.stall_after_s for n, t in self._beats.items()}
        out.update({f"busy:{n}": now - t <= self.stall_after_s for n, t in self._busy.items()})
        return out

    def ready(self) -> dict[str, bool]:
        """Each readiness condition."""
        out = {}
        for name, check in self._ready.items():
            try:
                out[name] = bool(check())
            except Exception:
                out[name] = False
        return out


class HealthServer:
    """Serves /metrics, /healthz and /readyz; an async context manager."""

    def __init__(
        self, metrics: HealthMetrics, probes: Probes, host: str = "0.0.0.0", port: int = 9108
    ) -> None:
        self.metrics, self.probes = metrics, probes
        self.host, self.port = host, port
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._handle, self.host, self.port)
        self.port = int(self._server.sockets[0].getsockname()[1])
        log.info("health endpoints on http://%s:%d/{metrics,healthz,readyz}", self.host, self.port)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await asyncio.wait_for(reader.readline(), 5.0)
            while (await asyncio.wait_for(reader.readline(), 5.0)).strip():
                pass  # headers
            parts = request.decode("latin-1").split()
            method, path = (parts[0], parts[1].split("?")[0]) if len(parts) >= 2 else ("", "")
            status, content_type, body = self._respond(method, path)
            head = (
                f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
                "Connection: close\r\n\r\n"
            )
            writer.write(head.encode("latin-1") + body)
            await writer.drain()
        except (TimeoutError, ConnectionError, UnicodeDecodeError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    def _respond(self, method: str, path: str) -> tuple[str, str, bytes]:
        if method != "GET":
            return "405 Method Not Allowed", "text/plain", b"GET only\n"
        if path == "/metrics":
            return "200 OK", CONTENT_TYPE_LATEST, self.metrics.render()
        if path in ("/healthz", "/livez"):
            return _verdict(self.probes.live())
        if path == "/readyz":
            return _verdict(self.probes.ready(), empty_ok=False)
        return "404 Not Found", "text/plain", b"try /metrics, /healthz or /readyz\n"


def _verdict(checks: dict[str, bool], empty_ok: bool = True) -> tuple[str, str, bytes]:
    ok = all(checks.values()) and (empty_ok or bool(checks))
    body = json.dumps({"ok": ok, "checks": checks}, sort_keys=True).encode() + b"\n"
    return ("200 OK" if ok else "503 Service Unavailable"), "application/json", body
