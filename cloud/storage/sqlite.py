"""SQLite storage, the embedded default: one table per measurement, WAL, UPSERT on the identity."""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from cloud.errors import StorageRejected, StorageUnavailable
from cloud.processing.records import Aggregate, Alert
from cloud.storage.base import MachineState, MetricValue, SeriesPoint
from cloud.storage.schema import (
    MEASUREMENTS,
    FieldType,
    MeasurementSpec,
    Row,
    Storable,
    aggregate_from_values,
    alert_from_values,
    prediction_from_values,
    rows_of,
)

_SQL_TYPES: dict[FieldType, str] = {"float": "REAL", "int": "INTEGER", "str": "TEXT", "bool": "INTEGER"}


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _ddl(spec: MeasurementSpec) -> list[str]:
    columns = [f"{_q(tag)} TEXT NOT NULL" for tag in spec.tag_keys]
    columns.append('"time" INTEGER NOT NULL')
    columns += [f"{_q(f.name)} {_SQL_TYPES[f.type]}" for f in spec.fields]
    key = ", ".join(_q(k) for k in (*spec.tag_keys, "time"))
    table = _q(spec.measurement)
    index_name = _q(f"{spec.measurement}_by_{'_'.join(spec.index)}_time")
    index_cols = ", ".join(_q(c) for c in (*spec.index, "time"))
    return [
        f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(columns)}, PRIMARY KEY ({key})) WITHOUT ROWID",
        f"CREATE INDEX IF NOT EXISTS {index_name} ON {table} ({index_cols})",
    ]


def _upsert(spec: MeasurementSpec) -> str:
    cols = (*spec.tag_keys, "time", *spec.field_keys)
    updates = ", ".join(f"{_q(f)} = excluded.{_q(f)}" for f in spec.field_keys)
    key = ", ".join(_q(k) for k in (*spec.tag_keys, "time"))
    guard = ""
    if spec.version_field:
        v = _q(spec.version_field)
        guard = f" WHERE excluded.{v} >= {_q(spec.measurement)}.{v}"
    return (
        f"INSERT INTO {_q(spec.measurement)} ({', '.join(_q(c) for c in cols)}) "
        f"VALUES ({', '.join('?' for _ in cols)}) ON CONFLICT ({key}) DO UPDATE SET {updates}{guard}"
    )


class SqliteStorage:
    """Storage in one SQLite file (or ``:memory:``); safe to share between threads."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None, timeout=30.0)
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            for spec in MEASUREMENTS.values():
                for statement in _ddl(spec):
                    self._db.execute(statement)
        except sqlite3.Error as exc:
            raise StorageUnavailable(f"cannot open SQLite database {self.path}: {exc}") from exc
        self._lock = threading.Lock()
        self._upserts = {name: _upsert(spec) for name, spec in MEASUREMENTS.items()}

    def __enter__(self) -> SqliteStorage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ----------------------------------------------------------------- sink

    def write(self, records: Iterable[Storable]) -> int:
        """UPSERT every record's rows in one transaction."""
        by_table: dict[str, list[tuple[Any, ...]]] = {}
        for row in rows_of(records):
            by_table.setdefault(row.measurement, []).append(_values(row))
        count = sum(len(v) for v in by_table.values())
        if not count:
            return 0
        with self._lock:
            try:
                self._db.execute("BEGIN IMMEDIATE")
                for table, values in by_table.items():
                    self._db.executemany(self._upserts[table], values)
                self._db.execute("COMMIT")
            except sqlite3.OperationalError as exc:
                self._rollback()
                raise StorageUnavailable(f"SQLite write failed: {exc}") from exc
            except sqlite3.Error as exc:
                self._rollback()
                raise StorageRejected(f"SQLite refused the write: {exc}") from exc
        return count

    def close(self) -> None:
        """Close the connection."""
        with self._lock:
            self._db.close()

    # ----------------------------------------------------------------- reader

    def latest(self, machine_id: str) -> MachineState:
        """Newest sample per metric and newest prediction of one machine."""
        metrics = self._query(
            'SELECT metric, "time", value, stale, unit FROM ('
            '  SELECT *, row_number() OVER (PARTITION BY metric ORDER BY "time" DESC) AS rn'
            "  FROM telemetry WHERE machine_id = ?) WHERE rn = 1 ORDER BY metric",
            (machine_id,),
        )
        predictions = self._query(
            'SELECT * FROM prediction WHERE machine_id = ? ORDER BY "time" DESC LIMIT 1', (machine_id,)
        )
        return MachineState(
            machine_id,
            tuple(
                MetricValue(r["metric"], r["time"], r["value"], bool(r["stale"]), r["unit"] or "")
                for r in metrics
            ),
            prediction_from_values(dict(predictions[0])) if predictions else None,
        )

    def series(self, machine_id: str, metric: str, start_ms: int, end_ms: int) -> list[SeriesPoint]:
        """Raw samples of one metric in ``[start_ms, end_ms)``."""
        rows = self._query(
            'SELECT "time", value FROM telemetry WHERE machine_id = ? AND metric = ?'
            ' AND "time" >= ? AND "time" < ? ORDER BY "time"',
            (machine_id, metric, start_ms, end_ms),
        )
        return [SeriesPoint(r["time"], r["value"]) for r in rows]

    def aggregates(
        self, machine_id: str, metric: str, window: str, start_ms: int, end_ms: int
    ) -> list[Aggregate]:
        """Windows of one metric and spec starting in ``[start_ms, end_ms)``."""
        rows = self._query(
            'SELECT * FROM telemetry_window WHERE machine_id = ? AND metric = ? AND "window" = ?'
            ' AND "time" >= ? AND "time" < ? ORDER BY "time"',
            (machine_id, metric, window, start_ms, end_ms),
        )
        return [aggregate_from_values(dict(r)) for r in rows]

    def alerts(self, *, open_only: bool = True) -> list[Alert]:
        """Newest revision of each alert, newest first."""
        where = " WHERE state != 'cleared'" if open_only else ""
        rows = self._query(f"SELECT * FROM alert{where} ORDER BY updated_ms DESC, alert_id", ())
        return [alert_from_values(dict(r)) for r in rows]

    def alert_history(self, alert_id: str) -> list[Alert]:
        """Every stored revision of one alert, oldest first."""
        rows = self._query('SELECT * FROM alert_history WHERE alert_id = ? ORDER BY "time"', (alert_id,))
        return [alert_from_values(dict(r)) for r in rows]

    def _query(self, sql: str, params: tuple[Any, ...]) -> list[sqlite3.Row]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.OperationalError as exc:
                raise StorageUnavailable(f"SQLite query failed: {exc}") from exc
            except sqlite3.Error as exc:
                raise StorageRejected(f"SQLite refused the query: {exc}") from exc

    def _rollback(self) -> None:
        with contextlib.suppress(sqlite3.Error):
            self._db.execute("ROLLBACK")


def _values(row: Row) -> tuple[Any, ...]:
    return (
        *(v for _, v in row.tags),
        row.time,
        *(int(v) if isinstance(v, bool) else v for _, v in row.fields),
    )
