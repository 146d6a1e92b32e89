"""What the dashboard asks of storage beyond :class:`cloud.storage.base.StorageReader`.

The pipeline's reader answers per machine (``latest``, ``series``, alerts). A plant overview also
needs to *enumerate*: which machines, cameras and edge nodes exist, their newest samples, the
prediction history, the defect counts per line, the edge nodes' sessions. :class:`PlantReader`
asks exactly that, against the same tables (``cloud/storage/schema.py``), read-only.
Implementations: :mod:`cloud.dashboard.sqlite_reader` and :mod:`cloud.dashboard.influx_reader`,
chosen by the storage URL like :func:`cloud.storage.base.open_storage`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable
from urllib.parse import urlparse

from cloud.errors import ConfigError
from cloud.processing.alert_rules import DefectRateLimits
from cloud.processing.records import PredictionPoint
from cloud.storage.base import InfluxOptions, MetricValue

DeviceKind = Literal["machine", "camera", "node"]
CAMERA_METRICS = frozenset({"frames/processed", "frames/dropped", "defects/total"})


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """A machine, camera or edge node seen in telemetry, with its newest sample per metric."""

    device_id: str
    group: str
    edge_node: str
    metrics: tuple[MetricValue, ...] = ()

    @property
    def kind(self) -> DeviceKind:
        """Node-level metrics carry the edge node as id; cameras publish frame counters."""
        if self.device_id == self.edge_node:
            return "node"
        if any(m.metric in CAMERA_METRICS for m in self.metrics):
            return "camera"
        return "machine"

    @property
    def updated_ms(self) -> int | None:
        """Event time of the newest sample."""
        return max((m.ts_ms for m in self.metrics), default=None)


@dataclass(frozen=True, slots=True)
class NodeSession:
    """The newest Sparkplug session event of an edge node."""

    group: str
    edge_node: str
    event: str  # birth, death, data
    ts_ms: int
    bd_seq: int | None = None

    @property
    def online(self) -> bool:
        """False after a death certificate."""
        return self.event != "death"


@dataclass(frozen=True, slots=True)
class CameraSummary:
    """One camera's inspections in a window: counts, newest frame, detector version, frame rate."""

    line_id: str
    camera_id: str
    edge_node: str
    inspected: int
    defective: int
    newest_ms: int
    model_version: str = ""
    fps: float = 0.0

    @property
    def rate(self) -> float:
        """Defective share of inspected frames."""
        return self.defective / self.inspected if self.inspected else 0.0


@runtime_checkable
class PlantReader(Protocol):
    """Enumerating reads over the pipeline's tables; synchronous, run in a thread by async hosts."""

    def devices(self) -> list[DeviceInfo]:
        """Every machine, camera and node in telemetry, with its newest sample per metric."""
        ...

    def latest_prediction(self, machine_id: str) -> PredictionPoint | None:
        """The newest fault prediction of one machine."""
        ...

    def predictions(self, machine_id: str, start_ms: int, end_ms: int) -> list[PredictionPoint]:
        """Fault predictions of one machine in ``[start_ms, end_ms)``, oldest first."""
        ...

    def sessions(self) -> list[NodeSession]:
        """The newest session event of every edge node."""
        ...

    def cameras(self, window_ms: int, limits: DefectRateLimits) -> list[CameraSummary]:
        """Per camera: inspections and defective frames in the last ``window_ms`` of its event time."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def is_defective_labels(labels: Iterable[str], max_score: float, limits: DefectRateLimits) -> bool:
    """A stored frame is defective when a non-good class was found with enough confidence.

    Storage keeps the set of labels and the top score per frame, not every box's score, so a
    frame with a confident "ok" box and a weak defect box counts as defective here (rare).
    """
    return max_score >= limits.min_score and any(
        label and label not in limits.good_labels for label in labels
    )


def open_plant_reader(url: str, *, influx: InfluxOptions | None = None) -> PlantReader:
    """The reader for the same URL schemes as :func:`cloud.storage.base.open_storage`."""
    scheme = urlparse(url).scheme
    if scheme == "sqlite":
        from cloud.dashboard.sqlite_reader import SqlitePlantReader

        path = url[len("sqlite://") :]
        path = path[1:] if path.startswith("/") else path
        if not path or path == ":memory:":
            raise ConfigError("the dashboard reads the pipeline's SQLite file; an in-memory URL has none")
        return SqlitePlantReader(path)
    if scheme in ("influxdb", "influxdbs", "http", "https"):
        from cloud.dashboard.influx_reader import InfluxPlantReader

        http = {"influxdb": "http", "influxdbs": "https"}.get(scheme, scheme)
        options = influx or InfluxOptions()
        return InfluxPlantReader(
            InfluxOptions(
                url=f"{http}://{urlparse(url).netloc}",
                token=options.token,
                org=options.org,
                bucket=options.bucket,
                timeout_ms=options.timeout_ms,
            )
        )
    raise ConfigError(f"unknown storage URL scheme {scheme!r} in {url!r} (use sqlite:// or influxdb://)")
