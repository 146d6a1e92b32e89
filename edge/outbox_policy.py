"""What the outbox keeps when it is full or old: the overflow policy as pure functions.

The policy, stated once:

1. Every message has a priority: TELEMETRY (bulk sensor samples), EVENT (detection events,
   predictions, node and camera metrics) or ALARM (alarm raises and clears).
2. When the outbox holds more than `max_messages` or `max_bytes`, messages are dropped
   oldest-first from TELEMETRY; only when no telemetry is left, oldest-first from EVENT.
3. Messages older than `max_age_ms` are dropped if they are TELEMETRY or EVENT.
4. ALARM messages are never dropped, by size or by age: if alarms alone exceed the bounds the
   outbox grows past them (and says so).

Every drop is counted by priority and reason; the store applies the decisions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import IntEnum, StrEnum


class Priority(IntEnum):
    """How much a message matters when room runs out; lower is dropped first."""

    TELEMETRY = 0
    EVENT = 1
    ALARM = 2

    @property
    def droppable(self) -> bool:
        """True for the priorities the policy may drop."""
        return self is not Priority.ALARM


DROP_ORDER: tuple[Priority, ...] = tuple(p for p in Priority if p.droppable)
"""Priorities in the order their messages are dropped (oldest first within each)."""


class DropReason(StrEnum):
    """Why a message left the outbox without being delivered."""

    SIZE = "size"
    AGE = "age"


@dataclass(frozen=True, slots=True)
class OutboxLimits:
    """Bounds of the outbox."""

    max_messages: int
    max_bytes: int
    max_age_ms: int

    def __post_init__(self) -> None:
        if min(self.max_messages, self.max_bytes, self.max_age_ms) <= 0:
            raise ValueError(f"outbox limits must be positive, got {self}")


@dataclass(frozen=True, slots=True)
class Usage:
    """Messages and payload bytes."""

    messages: int = 0
    bytes: int = 0

    def __add__(self, other: Usage) -> Usage:
        return Usage(self.messages + other.messages, self.bytes + other.bytes)

    def __sub__(self, other: Usage) -> Usage:
        return Usage(self.messages - other.messages, self.bytes - other.bytes)


def excess(total: Usage, limits: OutboxLimits) -> Usage:
    """How many messages and bytes must go for the outbox to fit its bounds (zeros when it fits)."""
    return Usage(max(0, total.messages - limits.max_messages), max(0, total.bytes - limits.max_bytes))


def choose_evictions(over: Usage, candidates: Iterable[tuple[int, int]]) -> list[int]:
    """Ids to drop, taken in order from (id, size) candidates until both excesses are covered.

    `candidates` must already be in drop order (see `DROP_ORDER`: telemetry oldest first, then
    events oldest first); it is read lazily and only as far as needed.
    """
    chosen: list[int] = []
    messages, size = over.messages, over.bytes
    if messages <= 0 and size <= 0:
        return chosen
    for message_id, message_size in candidates:
        chosen.append(message_id)
        messages -= 1
        size -= message_size
        if messages <= 0 and size <= 0:
            break
    return chosen


def age_cutoff_ms(now_ms: int, limits: OutboxLimits) -> int:
    """Droppable messages created before this time are too old."""
    return now_ms - limits.max_age_ms


def is_historical(message_id: int, birth_cursor: int | None) -> bool:
    """True when a message was queued before the current Sparkplug session's (re)birth.

    Such messages are replayed with is_historical set on their metrics so that hosts do not
    take them for current values; messages queued after the birth are live, however late.
    """
    return birth_cursor is not None and message_id <= birth_cursor
