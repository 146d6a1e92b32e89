"""Harness events in sim time: which are due, and the outages they caused; pure.

The harness plays its events (broker stop/start, agent, worker and bridge kill/start) when the
twin's sim clock reaches their ``at_s`` (checked after every block the twin emits), so they keep
their place in the plant's timeline whatever the speed. Played events become event-time outages:
a broker stop silences every machine until the broker is back; an agent kill silences the
machines and cameras of that agent until it is started again; both plus a margin for reconnects
and restarts. Worker and bridge kills cause no outage: Kafka and the broker's persistent
sessions hold the data, so any loss they cause is not excused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from iiot.harness.records import Outage, PlayedEvent
from iiot.harness.scenario import HarnessEventSpec


class EventSchedule:
    """The scenario's events, handed out once each when sim time reaches them."""

    def __init__(self, events: Sequence[HarnessEventSpec]) -> None:
        self._pending = sorted(events, key=lambda e: e.at_s)

    def due(self, sim_s: float) -> list[HarnessEventSpec]:
        """Events with ``at_s <= sim_s`` not handed out yet, in time order."""
        ready = [e for e in self._pending if e.at_s <= sim_s]
        self._pending = self._pending[len(ready) :]
        return ready

    @property
    def remaining(self) -> tuple[HarnessEventSpec, ...]:
        """Events not handed out yet."""
        return tuple(self._pending)


def outages(
    played: Sequence[PlayedEvent],
    *,
    epoch_ms: int,
    end_s: float,
    margin_s: float,
    agent_scope: Mapping[str, frozenset[str]],
) -> list[Outage]:
    """Event-time outages from played events; one left open at the end lasts to ``end_s``."""
    out: list[Outage] = []
    open_since: dict[tuple[str, str | None], float] = {}

    def close(key: tuple[str, str | None], until_s: float) -> None:
        start_s = open_since.pop(key)
        cause, target = key
        scope = None if cause == "broker" else agent_scope.get(target or "", frozenset())
        name = "broker down" if cause == "broker" else f"agent {target} down"
        out.append(
            Outage(
                name, epoch_ms + round(start_s * 1000), epoch_ms + round((until_s + margin_s) * 1000), scope
            )
        )

    for event in sorted(played, key=lambda e: e.sim_s):
        if not event.ok:
            continue
        if event.action == "broker_stop":
            open_since.setdefault(("broker", None), event.sim_s)
        elif event.action == "broker_start" and ("broker", None) in open_since:
            close(("broker", None), event.sim_s)
        elif event.action == "agent_kill":
            open_since.setdefault(("agent", event.target), event.sim_s)
        elif event.action == "agent_start" and ("agent", event.target) in open_since:
            close(("agent", event.target), event.sim_s)
    for key in list(open_since):
        close(key, end_s)
    return sorted(out, key=lambda o: o.start_ms)
