"""Harness events: the schedule hands each out once at its sim time; played events become outages."""

from __future__ import annotations

import pytest

from iiot.harness.events import EventSchedule, outages
from iiot.harness.records import Outage, PlayedEvent
from iiot.harness.scenario import HarnessEventSpec

EPOCH = 1_000_000


def spec(at_s: float, action: str, target: str | None = None) -> HarnessEventSpec:
    return HarnessEventSpec.model_validate({"at_s": at_s, "action": action, "target": target})


def played(sim_s: float, action: str, target: str | None = None, ok: bool = True) -> PlayedEvent:
    return PlayedEvent(sim_s, action, target, sim_s, 0.0, ok)


def test_schedule_hands_out_due_events_once_in_order() -> None:
    schedule = EventSchedule([spec(30, "broker_start"), spec(10, "broker_stop"), spec(10, "agent_kill", "e")])
    assert schedule.due(5) == []
    assert [e.action for e in schedule.due(10)] == ["broker_stop", "agent_kill"]
    assert schedule.due(10) == []
    assert [e.action for e in schedule.remaining] == ["broker_start"]
    assert [e.action for e in schedule.due(1000)] == ["broker_start"]
    assert schedule.remaining == ()


SCOPE = {"edge-1": frozenset({"m1", "cam-1"}), "edge-2": frozenset({"m2"})}


@pytest.mark.parametrize(
    ("events", "expected"),
    [
        ([], []),
        (
            [played(100, "broker_stop"), played(160, "broker_start")],
            [Outage("broker down", EPOCH + 100_000, EPOCH + 190_000, None)],
        ),
        (
            [played(200, "agent_kill", "edge-1"), played(230, "agent_start", "edge-1")],
            [Outage("agent edge-1 down", EPOCH + 200_000, EPOCH + 260_000, SCOPE["edge-1"])],
        ),
        # never restarted: lasts to the end (plus the margin)
        (
            [played(500, "agent_kill", "edge-2")],
            [Outage("agent edge-2 down", EPOCH + 500_000, EPOCH + 630_000, SCOPE["edge-2"])],
        ),
        # a failed stop caused nothing; worker kills are no outage
        ([played(100, "broker_stop", ok=False), played(50, "worker_kill", "worker-1")], []),
        # a start without a stop is ignored
        ([played(100, "broker_start")], []),
    ],
)
def test_outages(events: list[PlayedEvent], expected: list[Outage]) -> None:
    assert outages(events, epoch_ms=EPOCH, end_s=600, margin_s=30, agent_scope=SCOPE) == expected


def test_overlapping_outages_are_sorted_by_start() -> None:
    got = outages(
        [
            played(300, "agent_kill", "edge-1"),
            played(100, "broker_stop"),
            played(160, "broker_start"),
            played(400, "agent_start", "edge-1"),
        ],
        epoch_ms=0,
        end_s=600,
        margin_s=0,
        agent_scope=SCOPE,
    )
    assert [(o.cause, o.start_ms, o.end_ms) for o in got] == [
        ("broker down", 100_000, 160_000),
        ("agent edge-1 down", 300_000, 400_000),
    ]
    assert got[1].covers("m1", 350_000)
    assert not got[1].covers("m2", 350_000)
    assert got[0].covers("anything", 100_000)
