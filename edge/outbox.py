"""The durable outbox: every outgoing message is written here before MQTT sees it.

SQLite in WAL mode. The publisher appends a message, hands it to the MQTT client, and deletes
it on the PUBACK, so the outbox is the source of truth: after a broker outage or a kill -9 of
the agent, whatever is still here was not acknowledged and is sent again, in id order. Ids come
from AUTOINCREMENT and are never reused, so id order is production order across restarts.
Overflow follows `edge.outbox_policy`. A `meta` table keeps small integers that must survive
restarts (the Sparkplug bdSeq).

One connection, used from one thread at a time (the publisher runs it on a single worker).
"""

from __future__ import annotations

import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from types import TracebackType
from typing import Self

from edge.errors import OutboxError
from edge.outbox_policy import (
    DropReason,
    OutboxLimits,
    Priority,
    Usage,
    age_cutoff_ms,
    choose_evictions,
    excess,
)

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    priority INTEGER NOT NULL,
    kind TEXT NOT NULL,
    target TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    size INTEGER NOT NULL,
    body BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_drop_order ON outbox (priority, id);
CREATE INDEX IF NOT EXISTS outbox_age ON outbox (created_ms);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""
_CHUNK = 500  # ids per DELETE statement, below SQLite's variable limit


class MessageKind(StrEnum):
    """How a stored message goes out."""

    SPARKPLUG = "sparkplug"  # target: device id ('' for node metrics); body: metrics, encoded at send
    MQTT = "mqtt"  # target: topic; body: the payload as is
    DEVICE_DEATH = "ddeath"  # target: device id; body empty: a DDEATH, in order with the data


@dataclass(frozen=True, slots=True)
class NewMessage:
    """A message to store."""

    priority: Priority
    kind: MessageKind
    target: str
    body: bytes
    created_ms: int | None = None


@dataclass(frozen=True, slots=True)
class StoredMessage:
    """A message as the outbox holds it."""

    id: int
    priority: Priority
    kind: MessageKind
    target: str
    created_ms: int
    body: bytes


class Outbox:
    """SQLite store-and-forward queue with bounded size and age (see `edge.outbox_policy`)."""

    def __init__(
        self,
        path: str | Path,
        limits: OutboxLimits,
        *,
        synchronous: str = "FULL",
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.path = Path(path)
        self.limits = limits
        self._clock = clock_ms
        self.dropped: Counter[tuple[Priority, DropReason]] = Counter()
        self._usage: dict[Priority, Usage] = {p: Usage() for p in Priority}
        self._warned_alarms = False
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute(f"PRAGMA synchronous={'FULL' if synchronous == 'FULL' else 'NORMAL'}")
            self._db.execute("PRAGMA busy_timeout=5000")
            self._db.executescript(_SCHEMA)
            self._load_usage()
        except (sqlite3.Error, OSError) as exc:
            raise OutboxError(f"{self.path}: cannot open the outbox: {exc}") from exc

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the database (committed data is on disk)."""
        self._db.close()

    # ------------------------------------------------------------------ queue

    def append(self, messages: Sequence[NewMessage]) -> list[int]:
        """Store messages in one transaction, then enforce the size bounds; their ids, in order."""
        if not messages:
            return []
        now = self._clock()
        ids: list[int] = []
        with self._transaction():
            for message in messages:
                cursor = self._db.execute(
                    "INSERT INTO outbox (priority, kind, target, created_ms, size, body) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        int(message.priority),
                        str(message.kind),
                        message.target,
                        message.created_ms if message.created_ms is not None else now,
                        len(message.body),
                        message.body,
                    ),
                )
                ids.append(int(cursor.lastrowid or 0))
                self._usage[message.priority] += Usage(1, len(message.body))
            self._enforce_size()
        return ids

    def after(self, cursor: int, limit: int) -> list[StoredMessage]:
        """Up to `limit` messages with ids above `cursor`, oldest first."""
        try:
            rows = self._db.execute(
                "SELECT id, priority, kind, target, created_ms, body FROM outbox "
                "WHERE id > ? ORDER BY id LIMIT ?",
                (cursor, limit),
            ).fetchall()
        except sqlite3.Error as exc:
            raise OutboxError(f"{self.path}: read failed: {exc}") from exc
        return [
            StoredMessage(int(i), Priority(p), MessageKind(k), str(t), int(c), bytes(b))
            for i, p, k, t, c, b in rows
        ]

    def ack(self, ids: Sequence[int]) -> int:
        """Delete delivered messages; how many were still here."""
        with self._transaction():
            return self._delete(ids)

    def expire(self, now_ms: int | None = None) -> int:
        """Drop telemetry and events older than the age bound; how many went."""
        cutoff = age_cutoff_ms(self._clock() if now_ms is None else now_ms, self.limits)
        with self._transaction():
            rows = self._db.execute(
                "SELECT id, priority FROM outbox WHERE created_ms < ? AND priority < ?",
                (cutoff, int(Priority.ALARM)),
            ).fetchall()
            for _, priority in rows:
                self.dropped[(Priority(priority), DropReason.AGE)] += 1
            return self._delete([int(r[0]) for r in rows])

    def usage(self) -> dict[Priority, Usage]:
        """Messages and bytes held, per priority."""
        return dict(self._usage)

    @property
    def total(self) -> Usage:
        """Messages and bytes held."""
        return sum(self._usage.values(), Usage())

    def last_id(self) -> int:
        """The highest id ever handed out (0 before the first message)."""
        row = self._db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'outbox'").fetchone()
        return int(row[0]) if row else 0

    # ------------------------------------------------------------------ meta

    def get_int(self, key: str) -> int | None:
        """A stored integer, or None."""
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else int(row[0])

    def set_int(self, key: str, value: int) -> None:
        """Store an integer durably."""
        with self._transaction():
            self._db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            )

    # ------------------------------------------------------------------ internals

    def _enforce_size(self) -> None:
        over = excess(self.total, self.limits)
        if over == Usage():
            return
        candidates = self._db.execute(
            "SELECT id, size, priority FROM outbox WHERE priority < ? ORDER BY priority, id",
            (int(Priority.ALARM),),
        )
        priorities: dict[int, Priority] = {}

        def pairs() -> Iterator[tuple[int, int]]:
            for message_id, size, priority in candidates:
                priorities[message_id] = Priority(priority)
                yield message_id, size

        chosen = choose_evictions(over, pairs())
        candidates.close()
        for message_id in chosen:
            self.dropped[(priorities[message_id], DropReason.SIZE)] += 1
        self._delete(chosen)
        if excess(self.total, self.limits) != Usage() and not self._warned_alarms:
            self._warned_alarms = True
            log.warning(
                "outbox %s holds %s, over its bounds, and all of it is alarms, which are never dropped",
                self.path,
                self.total,
            )

    def _delete(self, ids: Sequence[int]) -> int:
        deleted = 0
        for start in range(0, len(ids), _CHUNK):
            chunk = list(ids[start : start + _CHUNK])
            marks = ",".join("?" * len(chunk))
            rows = self._db.execute(
                f"SELECT priority, size FROM outbox WHERE id IN ({marks})", chunk
            ).fetchall()
            self._db.execute(f"DELETE FROM outbox WHERE id IN ({marks})", chunk)
            for priority, size in rows:
                self._usage[Priority(priority)] -= Usage(1, int(size))
            deleted += len(rows)
        return deleted

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        """BEGIN IMMEDIATE ... COMMIT; on any error ROLLBACK, reload the usage, raise OutboxError."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:
            raise OutboxError(f"{self.path}: cannot begin a transaction: {exc}") from exc
        try:
            yield
            self._db.execute("COMMIT")
        except BaseException as exc:
            if self._db.in_transaction:
                self._db.execute("ROLLBACK")
            self._load_usage()
            if isinstance(exc, sqlite3.Error):
                raise OutboxError(f"{self.path}: write failed: {exc}") from exc
            raise

    def _load_usage(self) -> None:
        self._usage = {p: Usage() for p in Priority}
        for priority, count, size in self._db.execute(
            "SELECT priority, COUNT(*), COALESCE(SUM(size), 0) FROM outbox GROUP BY priority"
        ):
            self._usage[Priority(priority)] = Usage(int(count), int(size))
