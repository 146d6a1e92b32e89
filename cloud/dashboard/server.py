"""Assembles a dashboard from its settings and serves it with uvicorn; only entry points call this.

``build`` picks the implementations by configuration: the storage and plant reader by URL scheme,
the live feed and action sink by ``dashboard_link`` (``kafka``, ``storage``, or ``memory`` where the
caller passes the in-process link of an embedded runner).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from cloud.dashboard.actions import AlertActionSink
from cloud.dashboard.auth import LoginThrottle, Role, TokenSigner
from cloud.dashboard.errors import UserStoreError
from cloud.dashboard.gate import Gate
from cloud.dashboard.live import LiveFeed
from cloud.dashboard.plant_reader import PlantReader, open_plant_reader
from cloud.dashboard.service import DashboardService, ServiceOptions
from cloud.dashboard.settings import DashboardSettings
from cloud.dashboard.users import Argon2Params, UserStore
from cloud.dashboard.web import create_app
from cloud.errors import ConfigError
from cloud.storage.base import Storage, open_storage

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Dashboard:
    """A built dashboard: the app, its service and what must be closed after it stops."""

    app: FastAPI
    service: DashboardService
    gate: Gate
    closers: list[Callable[[], Any]] = field(default_factory=list)

    async def aclose(self) -> None:
        """Close links and storage (in reverse order of opening)."""
        for close in reversed(self.closers):
            result = close()
            if asyncio.iscoroutine(result):
                await result


def signing_key(settings: DashboardSettings) -> bytes:
    """The session signing key: the setting, else a random key kept in a 0600 file across restarts."""
    if settings.dashboard_secret:
        return settings.dashboard_secret.encode()
    path = Path(settings.dashboard_secret_file)
    try:
        if path.exists():
            return bytes.fromhex(path.read_text(encoding="ascii").strip())
        path.parent.mkdir(parents=True, exist_ok=True)
        key = secrets.token_bytes(32)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(key.hex())
        return key
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read or create the signing key file {path}: {exc}") from exc


def load_layout(path: str) -> dict[str, list[str]]:
    """``{line: [machine, ...]}`` from a JSON file (empty path: no layout)."""
    if not path:
        return {}
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        return {str(line): [str(m) for m in machines] for line, machines in dict(data).items()}
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"cannot read the plant layout {path}: {exc}") from exc


def user_store(settings: DashboardSettings) -> UserStore:
    """The users file, plus the bootstrap user of the settings if one is given."""
    store = UserStore(
        settings.dashboard_users_file or None,
        Argon2Params(
            settings.dashboard_argon2_time_cost,
            settings.dashboard_argon2_memory_kib,
            settings.dashboard_argon2_parallelism,
        ),
    )
    if settings.dashboard_bootstrap_admin:
        name, sep, password = settings.dashboard_bootstrap_admin.partition(":")
        if not sep:
            raise UserStoreError("IIOT_DASHBOARD_BOOTSTRAP_ADMIN must be NAME:PASSWORD")
        store.set_user(name, Role(settings.dashboard_bootstrap_role), password)
    return store


def service_options(settings: DashboardSettings, layout: Mapping[str, Sequence[str]]) -> ServiceOptions:
    """The service's timing and sizes."""
    return ServiceOptions(
        cache_ttl_s=settings.ms("dashboard_cache_ttl") / 1000,
        refresh_s=settings.ms("dashboard_refresh") / 1000,
        trend_window_ms=settings.ms("dashboard_trend_window"),
        defect_window_ms=settings.ms("dashboard_defect_window"),
        stale_after_ms=settings.ms("node_stale_after"),
        frames_kept=settings.dashboard_detections_kept,
        layout=dict(layout),
    )


def build(
    settings: DashboardSettings,
    *,
    link: tuple[LiveFeed, AlertActionSink] | None = None,
    storage: Storage | None = None,
    reader: PlantReader | None = None,
) -> Dashboard:
    """A dashboard wired as the settings say (``link`` is required for ``dashboard_link=memory``)."""
    closers: list[Callable[[], Any]] = []
    if storage is None:
        storage = open_storage(settings.dashboard_storage_url, influx=settings.influx_options())
        closers.append(storage.close)
    if reader is None:
        reader = open_plant_reader(settings.dashboard_storage_url, influx=settings.influx_options())
        closers.append(reader.close)
    feed: LiveFeed | None
    sink: AlertActionSink | None
    if settings.dashboard_link == "memory":
        if link is None:
            raise ConfigError("dashboard_link=memory needs the embedded runner's link (use --embedded)")
        feed, sink = link
    elif settings.dashboard_link == "kafka":
        from cloud.dashboard.kafka_link import KafkaLink
        from cloud.kafka_bus import KafkaOptions

        kafka = KafkaLink(
            KafkaOptions(bootstrap=settings.kafka_bootstrap, client_id="iiot-dashboard"),
            settings.kafka_topic_prefix,
        )
        feed, sink = kafka, kafka
        closers.append(kafka.aclose)
    else:
        from cloud.dashboard.storage_link import StorageWatch

        watch = StorageWatch(storage, settings.ms("dashboard_poll") / 1000)
        feed, sink = watch, None
        closers.append(watch.close)
    service = DashboardService(
        storage,
        reader,
        config=settings.processing_config(),
        feed=feed,
        sink=sink,
        options=service_options(settings, load_layout(settings.dashboard_layout_file)),
    )
    gate = Gate(
        user_store(settings),
        TokenSigner(signing_key(settings)),
        session_ttl_ms=settings.ms("dashboard_session_ttl"),
        throttle=LoginThrottle(settings.dashboard_login_attempts, settings.ms("dashboard_login_lockout")),
    )
    if not gate.users.users:
        log.warning(
            "no dashboard users: create one with `iiot cloud dashboard --create-user NAME --role admin`"
        )
    app = create_app(
        service,
        gate,
        cookie_secure=settings.dashboard_cookie_secure,
        heartbeat_s=settings.ms("dashboard_heartbeat") / 1000,
    )
    return Dashboard(app, service, gate, closers)


def uvicorn_config(app: FastAPI, host: str, port: int, **extra: Any) -> Any:
    """uvicorn's config with httptools when installed (the event loop is the caller's)."""
    import importlib.util

    import uvicorn

    http = "httptools" if importlib.util.find_spec("httptools") else "h11"
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=http,
        loop="none",
        lifespan="on",
        access_log=False,
        timeout_graceful_shutdown=3,
        **extra,
    )


async def serve(dashboard: Dashboard, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve until ``stop`` is set; then close the links and the storage."""
    server = quiet_server(uvicorn_config(dashboard.app, host, port))
    task = asyncio.create_task(server.serve())
    waiter = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, waiter}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        dashboard.service.hub.close()  # end the event streams, or shutdown waits for them
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await task
        waiter.cancel()
        await dashboard.aclose()


def quiet_server(config: Any) -> Any:
    """uvicorn's server without its own signal handling: the caller's ``stop`` event decides."""
    import uvicorn

    class QuietServer(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            yield

    return QuietServer(config)


def run(main: Callable[[], Any]) -> Any:
    """Run a coroutine function on uvloop when installed, else asyncio's loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main())
    return uvloop.run(main())
