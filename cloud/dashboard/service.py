"""The dashboard's core: builds the views from storage, keeps them cached, runs the live feed, takes actions.

It owns one :class:`LiveFeed` subscription and one periodic refresher for the whole server; the
web adapter (:mod:`cloud.dashboard.web`) only authenticates, calls these methods and writes bytes.
Storage calls are synchronous, so every build runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloud.dashboard import views
from cloud.dashboard.actions import ActionName, AlertActionSink, build_action
from cloud.dashboard.auth import Principal
from cloud.dashboard.cache import CachedBody, ResponseCache
from cloud.dashboard.errors import LinkUnavailable, NotFound
from cloud.dashboard.frames import DefectFrame, FrameRing
from cloud.dashboard.live import LiveFeed, LiveHub
from cloud.dashboard.plant_reader import CameraSummary, DeviceInfo, PlantReader
from cloud.dashboard.schemas import (
    ActionAccepted,
    AlertRevisions,
    Defects,
    Fleet,
    MachineDetail,
    MachineList,
    MachineTile,
    PredictionTrend,
)
from cloud.errors import CloudError
from cloud.processing.processor import ProcessingConfig
from cloud.processing.records import Alert, PredictionPoint
from cloud.storage.base import MachineState, StorageReader

log = logging.getLogger(__name__)
ALERT_STATES = ("open", "active", "acknowledged", "shelved", "cleared", "all")
MACHINE_KEY = "machine:"
DEFECTS_KEY = "defects"


def alerts_key(state: str) -> str:
    """Cache key of an alert list."""
    return f"alerts:{state}"


def machine_key(machine_id: str) -> str:
    """Cache key of one machine's detail."""
    return MACHINE_KEY + machine_id


HOT_KEYS = {"/api/v1/machines": "machines", "/api/v1/overview": "overview", "/api/v1/fleet": "fleet"}
"""Cache keys of the parameterless hot endpoints, by path (the web adapter's fast path uses them)."""


@dataclass(frozen=True, slots=True)
class ServiceOptions:
    """Timing and sizes (a value object built from the settings)."""

    cache_ttl_s: float = 2.0
    refresh_s: float = 2.0
    trend_window_ms: int = 30 * 60_000
    defect_window_ms: int = 10 * 60_000
    stale_after_ms: int = 30_000
    frames_kept: int = 200
    frames_shown: int = 48
    history_limit: int = 300
    machine_alerts: int = 20
    layout: Mapping[str, Sequence[str]] = field(default_factory=dict)


@dataclass(slots=True)
class _Snapshot:
    """What the last catalog read found (shared by overview, fleet and machine detail)."""

    devices: list[DeviceInfo] = field(default_factory=list)
    predictions: dict[str, PredictionPoint] = field(default_factory=dict)
    cameras: list[CameraSummary] = field(default_factory=list)
    read_at: float = 0.0


class DashboardService:
    """Views, cache, live fan-out and the action path over one storage and one pipeline link."""

    def __init__(
        self,
        storage: StorageReader,
        reader: PlantReader,
        *,
        config: ProcessingConfig | None = None,
        feed: LiveFeed | None = None,
        sink: AlertActionSink | None = None,
        options: ServiceOptions | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.storage = storage
        self.reader = reader
        self.config = config or ProcessingConfig()
        self.feed = feed
        self.sink = sink
        self.options = options or ServiceOptions()
        self.clock = clock
        self.hub = LiveHub()
        self.cache = ResponseCache(self.options.cache_ttl_s)
        self.frames = FrameRing(self.options.frames_kept, self.config.defects.limits)
        self.watermark_ms: int | None = None
        self.feed_connected = feed is None
        self._snapshot = _Snapshot()
        self._snapshot_lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        self._digests: dict[str, str] = {}
        self._line_of = {m: line for line, machines in self.options.layout.items() for m in machines}
        self._alerts_cache: dict[bool, tuple[float, list[Alert]]] = {}

    # ----------------------------------------------------------------- lifecycle

    async def start(self) -> None:
        """Start the feed pump and the refresher."""
        if self.feed is not None:
            self._tasks.append(asyncio.create_task(self._pump(self.feed), name="dashboard-feed"))
        self._tasks.append(asyncio.create_task(self._refresher(), name="dashboard-refresh"))

    async def stop(self) -> None:
        """Stop background work and end every page's stream."""
        self.hub.close()
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()

    def now_ms(self) -> int:
        """The reference time: the wall clock, or the newest event time if the plant runs ahead of it."""
        wall = int(self.clock() * 1000)
        return max(wall, self.watermark_ms or 0)

    # ----------------------------------------------------------------- live feed

    async def _pump(self, feed: LiveFeed) -> None:
        backoff = 1.0
        while True:
            try:
                async for event in feed.events():
                    if not self.feed_connected:
                        self.feed_connected = True
                        self.hub.publish("link", '{"connected": true}')
                    backoff = 1.0
                    self.on_event(event)
                return
            except asyncio.CancelledError:
                raise
            except CloudError as exc:
                log.warning("live feed: %s (retrying in %.0f s)", exc, backoff)
            except Exception:
                log.exception("live feed failed (retrying in %.0f s)", backoff)
            if self.feed_connected:
                self.feed_connected = False
                self.hub.publish("link", '{"connected": false}')
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 30.0)

    def on_event(self, event: Alert | DefectFrame) -> None:
        """One alert revision or frame from the pipeline: invalidate, then push to every page."""
        if isinstance(event, Alert):
            self.watermark_ms = max(self.watermark_ms or 0, event.updated_ms)
            touched = machine_key(views.subject_of(event.source)[2] or "")
            per_page = (MACHINE_KEY, DEFECTS_KEY)  # other machines' pages and the defects view stay
            self.cache.invalidate(lambda key: key == touched or not key.startswith(per_page))
            self._alerts_cache.clear()
            self.hub.publish("alert", views.alert_view(event).model_dump_json())
            return
        if self.frames.add(event):
            self.cache.invalidate(lambda key: key == DEFECTS_KEY)
            url = f"/api/v1/defects/{event.frame_id}/image.jpg"
            self.hub.publish(
                "frame", views.frame_view(event, self.config.defects.limits, url).model_dump_json()
            )

    async def _refresher(self) -> None:
        """Recompute overview, fleet and defects on a timer and push them to pages when they change.

        The defect rates per line come from storage, which the frames pushed one by one do not
        update: a page left on the defects view gets them from here.
        """
        while True:
            await asyncio.sleep(self.options.refresh_s)
            if not self.hub.subscribers:
                continue
            for name, build in (
                ("overview", self._overview_body),
                ("fleet", self._fleet_body),
                (DEFECTS_KEY, self._defects_body),
            ):
                try:
                    body = await build(fresh=True)
                except CloudError as exc:
                    log.warning("refresh %s: %s", name, exc)
                    continue
                entry = self.cache.put(name, body)
                digest = hashlib.blake2b(_without_now(body), digest_size=12).hexdigest()
                if self._digests.get(name) != digest:
                    self._digests[name] = digest
                    self.hub.publish(name, entry.body.decode())

    # ----------------------------------------------------------------- snapshot

    async def _catalog(self, fresh: bool = False) -> _Snapshot:
        async with self._snapshot_lock:
            snap = self._snapshot
            if fresh or time.monotonic() - snap.read_at > self.options.refresh_s / 2:
                snap = await asyncio.to_thread(self._read_catalog)
                self._snapshot = snap
            return snap

    def _read_catalog(self) -> _Snapshot:
        devices = self.reader.devices()
        machine_ids = {d.device_id for d in devices if d.kind == "machine"} | set(self._line_of)
        predictions = {}
        for machine_id in sorted(machine_ids):
            p = self.reader.latest_prediction(machine_id)
            if p is not None:
                predictions[machine_id] = p
        cameras = self.reader.cameras(self.options.defect_window_ms, self.config.defects.limits)
        times = [d.updated_ms for d in devices if d.updated_ms is not None] + [
            p.ts_ms for p in predictions.values()
        ]
        if times:
            self.watermark_ms = max(self.watermark_ms or 0, *times)
        return _Snapshot(devices, predictions, cameras, time.monotonic())

    async def stored_alerts(self, *, open_only: bool = True) -> list[Alert]:
        """Alerts from storage, read once per alert change (and at most ``cache_ttl_s`` old)."""
        cached = self._alerts_cache.get(open_only)
        now = time.monotonic()
        if cached is not None and now - cached[0] <= self.options.cache_ttl_s:
            return cached[1]
        alerts = await asyncio.to_thread(self.storage.alerts, open_only=open_only)
        self._alerts_cache[open_only] = (now, alerts)
        return alerts

    async def open_alerts(self) -> list[Alert]:
        """Alerts not cleared."""
        return await self.stored_alerts(open_only=True)

    # ----------------------------------------------------------------- cached JSON

    async def alerts_body(self, state: str = "open") -> CachedBody:
        """``GET /api/v1/alerts?state=``."""
        if state not in ALERT_STATES:
            raise NotFound(f"unknown alert state {state!r}; use one of {', '.join(ALERT_STATES)}")

        async def build() -> bytes:
            alerts = await self.stored_alerts(open_only=state not in ("all", "cleared"))
            if state in ("all", "cleared"):
                alerts = alerts[: self.options.history_limit]
            return views.alert_list(alerts, state, self.now_ms()).model_dump_json().encode()

        return await self.cache.get(alerts_key(state), build)

    async def overview(self) -> CachedBody:
        """The plant overview."""
        return await self.cache.get("overview", self._overview_body)

    async def machines(self) -> CachedBody:
        """``GET /api/v1/machines``."""

        async def build() -> bytes:
            tiles = await self._tiles()
            return MachineList(now_ms=self.now_ms(), machines=tiles).model_dump_json().encode()

        return await self.cache.get("machines", build)

    async def machine(self, machine_id: str) -> CachedBody:
        """``GET /api/v1/machines/{id}``."""
        return await self.cache.get(machine_key(machine_id), lambda: self._machine_body(machine_id))

    async def fleet(self) -> CachedBody:
        """``GET /api/v1/fleet``."""
        return await self.cache.get("fleet", self._fleet_body)

    async def defects(self) -> CachedBody:
        """``GET /api/v1/defects``: one entry, invalidated by each new frame, refreshed on the timer."""
        return await self.cache.get(DEFECTS_KEY, self._defects_body)

    async def _defects_body(self, fresh: bool = False) -> bytes:
        snap = await self._catalog(fresh)
        limits = self.config.defects.limits
        frames = [
            views.frame_view(f, limits, f"/api/v1/defects/{f.frame_id}/image.jpg")
            for f in list(self.frames)[: self.options.frames_shown]
        ]
        return (
            Defects(
                now_ms=self.now_ms(),
                window_ms=self.options.defect_window_ms,
                enter_rate=limits.enter_rate,
                exit_rate=limits.exit_rate,
                lines=views.line_defects(snap.cameras, limits),
                frames=frames,
            )
            .model_dump_json()
            .encode()
        )

    async def alert_revisions(self, alert_id: str) -> bytes:
        """Every stored revision of one alert."""
        revisions = await asyncio.to_thread(self.storage.alert_history, alert_id)
        if not revisions:
            raise NotFound(f"no alert {alert_id}")
        return (
            AlertRevisions(alert_id=alert_id, revisions=[views.alert_view(a) for a in revisions])
            .model_dump_json()
            .encode()
        )

    def frame_image(self, frame_id: str) -> bytes:
        """The JPEG crop of a kept frame."""
        frame = self.frames.find(frame_id)
        if frame is None or not frame.crop_jpeg:
            raise NotFound(f"no image for frame {frame_id}")
        return frame.crop_jpeg

    # ----------------------------------------------------------------- builders

    async def _tiles(self, fresh: bool = False) -> list[MachineTile]:
        snap = await self._catalog(fresh)
        alerts = views.alerts_by_machine(await self.open_alerts())
        devices = {d.device_id: d for d in snap.devices if d.kind == "machine"}
        ids = set(devices) | set(snap.predictions) | set(alerts) | set(self._line_of)
        cfg = self.config
        return [
            views.machine_tile(
                m,
                devices.get(m),
                snap.predictions.get(m),
                alerts.get(m, []),
                cfg.predictions,
                cfg.ranges,
                self._line_of,
            )
            for m in sorted(ids)
        ]

    async def _overview_body(self, fresh: bool = False) -> bytes:
        tiles = await self._tiles(fresh)
        snap = self._snapshot
        rates = {
            line.line_id: line.rate for line in views.line_defects(snap.cameras, self.config.defects.limits)
        }
        alerts = await self.open_alerts()
        body = views.overview(
            tiles, alerts, self.now_ms(), self.watermark_ms, list(self.options.layout), rates
        )
        return body.model_dump_json().encode()

    async def _fleet_body(self, fresh: bool = False) -> bytes:
        snap = await self._catalog(fresh)
        sessions = await asyncio.to_thread(self.reader.sessions)
        alerts = await self.open_alerts()
        keys: set[tuple[str, str]] = {(s.group, s.edge_node) for s in sessions}
        keys |= {(d.group, d.edge_node) for d in snap.devices if d.edge_node}
        groups = {node: group for group, node in keys}
        for camera in snap.cameras:
            if camera.edge_node and camera.edge_node not in groups:
                keys.add(("", camera.edge_node))
        nodes = []
        for group, node in sorted(keys):
            devices = [
                d for d in snap.devices if d.edge_node == node and d.group == group and d.kind != "node"
            ]
            node_device = next(
                (d for d in snap.devices if d.kind == "node" and d.edge_node == node and d.group == group),
                None,
            )
            on_node = {d.device_id for d in devices}
            nodes.append(
                views.node_view(
                    group,
                    node,
                    next((s for s in sessions if (s.group, s.edge_node) == (group, node)), None),
                    node_device.metrics if node_device else (),
                    devices,
                    [p for m, p in snap.predictions.items() if m in on_node or p.edge_node == node],
                    [c for c in snap.cameras if c.edge_node == node],
                    [a for a in alerts if a.source == f"node/{group}/{node}"],
                    self.watermark_ms,
                    self.options.stale_after_ms,
                )
            )
        counts = {
            status: sum(1 for n in nodes if n.status == status) for status in ("online", "stale", "offline")
        }
        fleet = Fleet(
            now_ms=self.now_ms(),
            watermark_ms=self.watermark_ms,
            stale_after_ms=self.options.stale_after_ms,
            nodes=nodes,
            counts=counts,
        )
        return fleet.model_dump_json().encode()

    async def _machine_body(self, machine_id: str) -> bytes:
        snap = await self._catalog()
        known = next((d for d in snap.devices if d.device_id == machine_id), None)
        if known is not None:  # the catalog already holds the newest samples: no per-machine scan
            state = MachineState(machine_id, known.metrics, snap.predictions.get(machine_id))
        else:
            state = await asyncio.to_thread(self.storage.latest, machine_id)
        alerts_all = await self.stored_alerts(open_only=False)
        mine = [a for a in alerts_all if views.subject_of(a.source)[2] == machine_id]
        if not state.metrics and state.prediction is None and not mine:
            raise NotFound(f"no machine {machine_id}")
        device = DeviceInfo(
            machine_id,
            known.group if known else (state.prediction.group if state.prediction else ""),
            known.edge_node if known else (state.prediction.edge_node if state.prediction else ""),
            state.metrics,
        )
        cfg = self.config
        end = (state.updated_ms or self.now_ms()) + 1
        start = end - self.options.trend_window_ms

        def read_trends() -> tuple[list[Any], list[PredictionPoint]]:
            trends = [
                views.trend(
                    m.metric, m.unit, self.storage.series(machine_id, m.metric, start, end), cfg.ranges
                )
                for m in views.visible_metrics(state.metrics)
            ]
            return trends, self.reader.predictions(machine_id, start, end)

        trends, predictions = await asyncio.to_thread(read_trends)
        open_mine = [a for a in mine if a.is_open]
        tile = views.machine_tile(
            machine_id, device, state.prediction, open_mine, cfg.predictions, cfg.ranges, self._line_of
        )
        limits = views.thresholds_for(cfg.predictions, machine_id)
        detail = MachineDetail(
            now_ms=self.now_ms(),
            window_ms=self.options.trend_window_ms,
            tile=tile,
            readings=[views.reading(m, cfg.ranges) for m in views.visible_metrics(state.metrics)],
            trends=trends,
            prediction=PredictionTrend(
                points=views.downsample([(p.ts_ms, p.probability) for p in predictions]),
                rul=views.downsample([(p.ts_ms, p.rul_s) for p in predictions if p.rul_s is not None]),
                enter=limits.enter,
                exit=limits.exit,
                critical=views.critical_floor(limits),
                fault_types=views.fault_changes(predictions),
            ),
            alerts=[
                views.alert_view(a)
                for a in sorted(mine, key=views.alert_sort_key)[: self.options.machine_alerts]
            ],
        )
        return detail.model_dump_json().encode()

    # ----------------------------------------------------------------- actions

    async def act(
        self,
        principal: Principal,
        alert_id: str,
        action: ActionName,
        *,
        note: str = "",
        shelve_minutes: int | None = None,
    ) -> ActionAccepted:
        """Check the action against the alert's current state and hand it to the pipeline."""
        if self.sink is None:
            raise LinkUnavailable(
                "this dashboard is read-only: no link to the pipeline (dashboard_link=storage)"
            )
        alerts = await self.open_alerts()
        alert = next((a for a in alerts if a.alert_id == alert_id), None)
        if alert is None:
            history = await asyncio.to_thread(self.storage.alert_history, alert_id)
            alert = history[-1] if history else None
        if alert is None:
            raise NotFound(f"no alert {alert_id}")
        operator_action = build_action(
            alert, action, principal.name, int(self.clock() * 1000), note=note, shelve_minutes=shelve_minutes
        )
        await self.sink.send(operator_action)
        log.info("%s: %s %s by %s", alert.source, action, alert_id, principal.name)
        return ActionAccepted(
            request_id=operator_action.request_id,
            alert_id=alert_id,
            action=action,
            who=principal.name,
            at_ms=operator_action.at_ms,
        )


def _without_now(body: bytes) -> bytes:
    """The body without its ``now_ms`` field, to tell real changes from the clock moving."""
    head, sep, rest = body.partition(b'"now_ms":')
    if not sep:
        return body
    _, comma, tail = rest.partition(b",")
    return head + tail if comma else head
