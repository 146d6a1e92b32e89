"""What the pipeline, the dashboard and the harness need from storage, and how a backend is chosen.

A backend is two small protocols: :class:`TelemetrySink` (write any storable record; writes are
idempotent, the same identity overwrites) and :class:`StorageReader` (the questions the dashboard
and the harness ask). :func:`open_storage` picks the implementation by URL scheme and imports it
lazily: ``sqlite:///relative.db`` or ``sqlite:////abs.db`` (embedded default) or ``influxdb://host:8086`` / ``http(s)://…``.
Calls are synchronous; asyncio hosts run them with ``asyncio.to_thread``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Protocol, runtime_checkable
from urllib.parse import urlparse

from cloud.errors import ConfigError
from cloud.processing.records import Aggregate, Alert, PredictionPoint
from cloud.retry import RetryPolicy
from cloud.storage.schema import Storable


@dataclass(frozen=True, slots=True)
class MetricValue:
    """The newest sample of one metric."""

    metric: str
    ts_ms: int
    value: float
    stale: bool = False
    unit: str = ""


@dataclass(frozen=True, slots=True)
class MachineState:
    """What a machine looks like now: newest sample per metric and newest prediction."""

    machine_id: str
    metrics: tuple[MetricValue, ...] = ()
    prediction: PredictionPoint | None = None

    @property
    def updated_ms(self) -> int | None:
        """Event time of the newest thing known about the machine."""
        times = [m.ts_ms for m in self.metrics] + ([self.prediction.ts_ms] if self.prediction else [])
        return max(times) if times else None


@dataclass(frozen=True, slots=True)
class SeriesPoint:
    """One (time, value) of a series."""

    ts_ms: int
    value: float


@runtime_checkable
class TelemetrySink(Protocol):
    """Writes records; the same identity overwrites, so replays never duplicate."""

    def write(self, records: Iterable[Storable]) -> int:
        """Store records (any mix of types); return how many points were written."""
        ...

    def close(self) -> None:
        """Flush and release connections."""
        ...


@runtime_checkable
class StorageReader(Protocol):
    """The questions the dashboard and the harness ask."""

    def latest(self, machine_id: str) -> MachineState:
        """Newest sample per metric and newest prediction of one machine."""
        ...

    def series(self, machine_id: str, metric: str, start_ms: int, end_ms: int) -> list[SeriesPoint]:
        """Raw samples of one metric in ``[start_ms, end_ms)``, oldest first."""
        ...

    def aggregates(
        self, machine_id: str, metric: str, window: str, start_ms: int, end_ms: int
    ) -> list[Aggregate]:
        """Windows of one metric and window spec whose start is in ``[start_ms, end_ms)``."""
        ...

    def alerts(self, *, open_only: bool = True) -> list[Alert]:
        """Newest revision of each alert (only those not cleared by default), newest first."""
        ...

    def alert_history(self, alert_id: str) -> list[Alert]:
        """Every stored revision of one alert, oldest first."""
        ...


class Storage(TelemetrySink, StorageReader, Protocol):
    """A full backend: sink and reader."""


@dataclass(frozen=True, slots=True)
class InfluxOptions:
    """Connection and batching options of the InfluxDB backend."""

    url: str = "http://127.0.0.1:8086"
    token: str = ""
    org: str = "iiot"
    bucket: str = "telemetry"
    batch_size: int = 5_000
    timeout_ms: int = 10_000
    retry: RetryPolicy = field(default_factory=RetryPolicy)


def open_storage(url: str, *, influx: InfluxOptions | None = None) -> Storage:
    """A storage backend for ``sqlite:///path``, ``sqlite://:memory:``, ``influxdb://`` or ``http(s)://``."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        from cloud.storage.sqlite import SqliteStorage

        # sqlite:///relative.db, sqlite:////absolute.db, sqlite://:memory:
        path = url[len("sqlite://") :]
        path = path[1:] if path.startswith("/") else path
        return SqliteStorage(path or ":memory:")
    if scheme in ("influxdb", "influxdbs", "http", "https"):
        from cloud.storage.influx import InfluxStorage

        http = {"influxdb": "http", "influxdbs": "https"}.get(scheme, scheme)
        return InfluxStorage(replace(influx or InfluxOptions(), url=f"{http}://{urlparse(url).netloc}"))
    raise ConfigError(f"unknown storage URL scheme {scheme!r} in {url!r} (use sqlite:// or influxdb://)")
