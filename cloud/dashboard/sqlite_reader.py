"""The plant reader over the pipeline's SQLite file: read-only, index seeks only (no table scans).

Distinct machines, cameras and nodes are found by skip-scanning the primary keys (one seek per
distinct key), and "newest" is one ``ORDER BY time DESC LIMIT 1`` seek per key, so the cost grows
with the number of devices and metrics, not with the hours of history stored.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from cloud.dashboard.plant_reader import CameraSummary, DeviceInfo, NodeSession, is_defective_labels
from cloud.errors import StorageRejected, StorageUnavailable
from cloud.processing.alert_rules import DefectRateLimits
from cloud.processing.records import PredictionPoint
from cloud.storage.base import MetricValue
from cloud.storage.schema import NONE_FLOAT, NONE_INT, prediction_from_values

FPS_SPAN_MS = 10_000


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class SqlitePlantReader:
    """Read-only queries on the pipeline's SQLite database (WAL lets them run beside its writes)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._db: sqlite3.Connection | None = None
        self._lock = threading.Lock()

    def _connect(self) -> sqlite3.Connection | None:
        if self._db is None:
            if not self.path.exists():
                return None  # the pipeline has not written anything yet
            try:
                db = sqlite3.connect(
                    f"file:{self.path.resolve()}?mode=ro", uri=True, check_same_thread=False, timeout=10.0
                )
            except sqlite3.Error as exc:
                raise StorageUnavailable(f"cannot open {self.path} read-only: {exc}") from exc
            db.row_factory = sqlite3.Row
            self._db = db
        return self._db

    def _rows(self, sql: str, params: tuple[Any, ...] = ()) -> list[sqlite3.Row]:
        with self._lock:
            db = self._connect()
            if db is None:
                return []
            try:
                return db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return []
                raise StorageUnavailable(f"SQLite query failed: {exc}") from exc
            except sqlite3.Error as exc:
                raise StorageRejected(f"SQLite refused the query: {exc}") from exc

    def _distinct(self, table: str, columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
        """Distinct values of a primary-key prefix, one index seek each."""
        cols = ", ".join(_q(c) for c in columns)
        marks = ", ".join("?" for _ in columns)
        found: list[tuple[Any, ...]] = []
        rows = self._rows(f"SELECT {cols} FROM {_q(table)} ORDER BY {cols} LIMIT 1")
        while rows:
            key = tuple(rows[0])
            found.append(key)
            rows = self._rows(
                f"SELECT {cols} FROM {_q(table)} WHERE ({cols}) > ({marks}) ORDER BY {cols} LIMIT 1", key
            )
        return found

    # ----------------------------------------------------------------- devices

    def devices(self) -> list[DeviceInfo]:
        """Every machine, camera and node in telemetry, newest sample per metric."""
        by_device: dict[tuple[str, str, str], list[MetricValue]] = {}
        for machine_id, metric, group, edge_node in self._distinct(
            "telemetry", ("machine_id", "metric", "group", "edge_node")
        ):
            newest = self._rows(
                'SELECT "time", value, stale, unit FROM telemetry WHERE machine_id = ? AND metric = ?'
                ' AND "group" = ? AND edge_node = ? ORDER BY "time" DESC LIMIT 1',
                (machine_id, metric, group, edge_node),
            )
            if newest:
                r = newest[0]
                by_device.setdefault((machine_id, group, edge_node), []).append(
                    MetricValue(metric, int(r["time"]), float(r["value"]), bool(r["stale"]), r["unit"] or "")
                )
        merged: dict[str, DeviceInfo] = {}
        for (machine_id, group, edge_node), metrics in by_device.items():
            info = DeviceInfo(machine_id, group, edge_node, tuple(metrics))
            known = merged.get(machine_id)
            if known is None or (info.updated_ms or 0) > (known.updated_ms or 0):
                # a machine that moved to another edge node keeps its newest home and all metrics
                extra = tuple(
                    m for m in (known.metrics if known else ()) if m.metric not in {x.metric for x in metrics}
                )
                merged[machine_id] = DeviceInfo(machine_id, group, edge_node, tuple(metrics) + extra)
        return sorted(merged.values(), key=lambda d: d.device_id)

    def latest_prediction(self, machine_id: str) -> PredictionPoint | None:
        """The newest fault prediction of one machine."""
        rows = self._rows(
            'SELECT * FROM prediction WHERE machine_id = ? ORDER BY "time" DESC LIMIT 1', (machine_id,)
        )
        return prediction_from_values(dict(rows[0])) if rows else None

    def predictions(self, machine_id: str, start_ms: int, end_ms: int) -> list[PredictionPoint]:
        """Predictions of one machine in ``[start_ms, end_ms)``."""
        rows = self._rows(
            'SELECT "time", probability, fault_type, rul_s, edge_node FROM prediction'
            ' WHERE machine_id = ? AND "time" >= ? AND "time" < ? ORDER BY "time"',
            (machine_id, start_ms, end_ms),
        )
        return [
            PredictionPoint(
                machine_id,
                int(t),
                float(p),
                fault or "",
                None if rul is None or rul == NONE_FLOAT else float(rul),
                edge_node=node or "",
            )
            for t, p, fault, rul, node in rows
        ]

    # ----------------------------------------------------------------- fleet and cameras

    def sessions(self) -> list[NodeSession]:
        """The newest session event of every edge node."""
        out = []
        for group, edge_node in self._distinct("node_status", ("group", "edge_node")):
            rows = self._rows(
                'SELECT "time", event, bd_seq FROM node_status WHERE "group" = ? AND edge_node = ?'
                ' ORDER BY "time" DESC LIMIT 1',
                (group, edge_node),
            )
            if rows:
                bd = int(rows[0]["bd_seq"])
                out.append(
                    NodeSession(
                        group,
                        edge_node,
                        rows[0]["event"],
                        int(rows[0]["time"]),
                        None if bd == NONE_INT else bd,
                    )
                )
        return out

    def cameras(self, window_ms: int, limits: DefectRateLimits) -> list[CameraSummary]:
        """Per camera: inspected and defective frames in its last ``window_ms``, detector version, fps."""
        out = []
        for line_id, camera_id, edge_node in self._distinct(
            "detection", ("line_id", "camera_id", "edge_node")
        ):
            key = (line_id, camera_id, edge_node)
            where = "line_id = ? AND camera_id = ? AND edge_node = ?"
            newest = self._rows(
                f'SELECT "time", model_version FROM detection WHERE {where} ORDER BY "time" DESC LIMIT 1', key
            )
            if not newest:
                continue
            end = int(newest[0]["time"])
            groups = self._rows(
                f'SELECT labels, max_score, count(*) AS n FROM detection WHERE {where} AND "time" > ?'
                " GROUP BY labels, max_score >= ?",
                (*key, end - window_ms, limits.min_score),
            )
            inspected = sum(int(g["n"]) for g in groups)
            defective = sum(
                int(g["n"])
                for g in groups
                if is_defective_labels(
                    str(g["labels"] or "").split(","), float(g["max_score"] or 0.0), limits
                )
            )
            recent = self._rows(
                f'SELECT count(*) AS n FROM detection WHERE {where} AND "time" > ?', (*key, end - FPS_SPAN_MS)
            )
            fps = int(recent[0]["n"]) / (FPS_SPAN_MS / 1000) if recent else 0.0
            out.append(
                CameraSummary(
                    line_id,
                    camera_id,
                    edge_node,
                    inspected,
                    defective,
                    end,
                    newest[0]["model_version"] or "",
                    fps,
                )
            )
        return out

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
