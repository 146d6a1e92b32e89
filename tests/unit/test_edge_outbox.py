"""Outbox: overflow policy tables, FIFO order, acks, age, and durability across reopen."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.outbox import MessageKind, NewMessage, Outbox
from edge.outbox_policy import (
    DropReason,
    OutboxLimits,
    Priority,
    Usage,
    choose_evictions,
    excess,
    is_historical,
)

T, E, A = Priority.TELEMETRY, Priority.EVENT, Priority.ALARM


@pytest.mark.parametrize(
    ("total", "limits", "expected"),
    [
        (Usage(5, 500), OutboxLimits(10, 1000, 1), Usage(0, 0)),
        (Usage(12, 500), OutboxLimits(10, 1000, 1), Usage(2, 0)),
        (Usage(5, 1500), OutboxLimits(10, 1000, 1), Usage(0, 500)),
        (Usage(11, 1001), OutboxLimits(10, 1000, 1), Usage(1, 1)),
    ],
)
def test_excess(total: Usage, limits: OutboxLimits, expected: Usage) -> None:
    assert excess(total, limits) == expected


@pytest.mark.parametrize(
    ("over", "candidates", "expected"),
    [
        (Usage(0, 0), [(1, 10)], []),
        (Usage(1, 0), [(1, 10), (2, 10)], [1]),
        (Usage(0, 15), [(1, 10), (2, 10), (3, 10)], [1, 2]),
        (Usage(3, 5), [(1, 10), (2, 10), (3, 10), (4, 10)], [1, 2, 3]),
        (Usage(5, 0), [(1, 10)], [1]),  # not enough candidates: take what there is
    ],
)
def test_choose_evictions_oldest_first(
    over: Usage, candidates: list[tuple[int, int]], expected: list[int]
) -> None:
    assert choose_evictions(over, iter(candidates)) == expected


@pytest.mark.parametrize(
    ("message_id", "cursor", "expected"), [(5, None, False), (5, 5, True), (5, 4, False), (1, 10, True)]
)
def test_historical_is_queued_before_the_birth(message_id: int, cursor: int | None, expected: bool) -> None:
    assert is_historical(message_id, cursor) is expected


def msg(priority: Priority, body: bytes = b"x" * 10, created_ms: int | None = None) -> NewMessage:
    return NewMessage(priority, MessageKind.MQTT, f"t/{priority.name}", body, created_ms)


def open_outbox(path: Path, **limits: int) -> Outbox:
    bounds = {"max_messages": 1000, "max_bytes": 1 << 20, "max_age_ms": 10**9} | limits
    return Outbox(path / "outbox.sqlite", OutboxLimits(**bounds), synchronous="NORMAL", clock_ms=lambda: 1000)


def test_fifo_order_and_ack(tmp_path: Path) -> None:
    with open_outbox(tmp_path) as box:
        ids = box.append([msg(T, b"1"), msg(E, b"2"), msg(A, b"3")])
        assert ids == sorted(ids)
        assert [m.body for m in box.after(0, 10)] == [b"1", b"2", b"3"]
        assert [m.body for m in box.after(ids[0], 1)] == [b"2"]
        assert box.ack([ids[1], 999]) == 1
        assert [m.id for m in box.after(0, 10)] == [ids[0], ids[2]]
        assert box.total == Usage(2, 2)


def test_overflow_drops_telemetry_oldest_first_then_events_never_alarms(tmp_path: Path) -> None:
    with open_outbox(tmp_path, max_messages=4) as box:
        box.append([msg(A, b"a1"), msg(T, b"t1"), msg(E, b"e1"), msg(T, b"t2")])
        box.append([msg(T, b"t3")])  # over by one: the oldest telemetry goes
        assert [m.body for m in box.after(0, 10)] == [b"a1", b"e1", b"t2", b"t3"]
        box.append([msg(A, b"a2"), msg(A, b"a3")])  # all telemetry goes before any event
        assert [m.body for m in box.after(0, 10)] == [b"a1", b"e1", b"a2", b"a3"]
        box.append([msg(A, b"a4")])  # then events
        assert [m.body for m in box.after(0, 10)] == [b"a1", b"a2", b"a3", b"a4"]
        box.append([msg(A, b"a5")])  # alarms are never dropped: the outbox grows past its bound
        assert [m.body for m in box.after(0, 10)] == [b"a1", b"a2", b"a3", b"a4", b"a5"]
        assert box.dropped[(T, DropReason.SIZE)] == 3
        assert box.dropped[(E, DropReason.SIZE)] == 1
        assert box.dropped[(A, DropReason.SIZE)] == 0


def test_byte_bound(tmp_path: Path) -> None:
    with open_outbox(tmp_path, max_bytes=100) as box:
        box.append([msg(E, b"e" * 40), msg(T, b"t" * 40), msg(T, b"u" * 40)])
        assert [m.body[:1] for m in box.after(0, 10)] == [b"e", b"u"]
        assert box.total == Usage(2, 80)


def test_age_bound_spares_alarms(tmp_path: Path) -> None:
    with open_outbox(tmp_path, max_age_ms=500) as box:
        box.append(
            [msg(T, created_ms=100), msg(E, created_ms=200), msg(A, created_ms=100), msg(T, created_ms=900)]
        )
        assert box.expire(now_ms=1000) == 2
        assert [m.priority for m in box.after(0, 10)] == [A, T]
        assert box.dropped[(T, DropReason.AGE)] == 1
        assert box.dropped[(E, DropReason.AGE)] == 1


def test_survives_reopen_with_ids_never_reused(tmp_path: Path) -> None:
    with open_outbox(tmp_path) as box:
        ids = box.append([msg(T, b"1"), msg(T, b"2")])
        box.ack([ids[1]])
        box.set_int("bd_seq", 7)
    with open_outbox(tmp_path) as box:
        assert [m.body for m in box.after(0, 10)] == [b"1"]
        assert box.total == Usage(1, 1)
        assert box.get_int("bd_seq") == 7
        assert box.get_int("missing") is None
        (new,) = box.append([msg(T, b"3")])
        assert new > ids[1]
        assert box.last_id() == new
