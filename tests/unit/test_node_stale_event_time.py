"""Stale edge nodes under an accelerated twin: the edge's Sparkplug messages through the embedded runner.

The edge stamps payloads with its wall clock and metrics with the twin's event time, which runs 60×
faster and starts hours ahead (the demo's warm-up). The cloud's stale rule runs on event time, with
the demo's limit (60 s of wall time = 3600 s of event time): a node that falls silent while the other
node's data moves event time on goes stale about 60 wall seconds later, and its data clears it; a
node that restarts (NDEATH, then an NBIRTH stamped only with its wall clock) is not stale at birth.
"""

from __future__ import annotations

from cloud.embedded.runner import EmbeddedRunner
from cloud.pipeline import PipelineCore
from cloud.processing.processor import Processor
from cloud.processing.records import Alert, AlertState
from cloud.settings import ProcessingSettings
from cloud.storage.sqlite import SqliteStorage
from edge.publisher.metric_map import DeviceCatalog
from edge.publisher.session import EdgeNodeSession, OutMessage
from iiot.demo_plan import node_stale_after
from proto.sparkplug import DataType, Metric

SPEED = 60
WALL0 = 1_700_000_000_000
TWIN0 = WALL0 + 4 * 3_600_000  # the warm-up put the twin four hours ahead


class Clock:
    """Wall seconds of the test; the twin runs SPEED times faster."""

    def __init__(self) -> None:
        self.step = 0

    def wall_ms(self) -> int:
        return WALL0 + self.step * 1_000

    def twin_ms(self) -> int:
        return TWIN0 + self.step * 1_000 * SPEED


class Node:
    """One edge node: its Sparkplug session on the wall clock, one machine sampled on the twin's clock."""

    def __init__(self, name: str, clock: Clock, bd_seq: int | None = None) -> None:
        self.name, self.clock = name, clock
        self.machine = f"{name}-pump"
        self.session = EdgeNodeSession(
            "plant", name, DeviceCatalog(), clock_ms=clock.wall_ms, last_bd_seq=bd_seq
        )

    def births(self) -> list[OutMessage]:
        self.session.start()
        return list(self.session.connected().publish)

    def sample(self) -> list[OutMessage]:
        metric = Metric("pressure_bar", DataType.DOUBLE, 3.0, timestamp=self.clock.twin_ms())
        self.session.catalog.update(self.machine, [metric])
        return list(self.session.data(self.machine, [metric]))


def node_alerts(alerts: list[tuple[int, Alert]], node: str) -> list[tuple[int, str, AlertState]]:
    return [(step, a.kind, a.state) for step, a in alerts if a.source == f"node/plant/{node}"]


def test_a_silent_node_goes_stale_after_the_wall_limit_and_its_data_clears_it() -> None:
    settings = ProcessingSettings(node_stale_after=node_stale_after(SPEED))
    runner = EmbeddedRunner(PipelineCore(Processor(settings.processing_config())), SqliteStorage())
    clock = Clock()
    a, b = Node("edge-a", clock), Node("edge-b", clock)
    alerts: list[tuple[int, Alert]] = []

    def run(messages: list[OutMessage]) -> None:
        found = runner.handle([(m.topic, m.payload) for m in messages], clock.wall_ms()).alerts
        found += runner.tick().alerts  # the runner's timer: the newest event time for every key
        alerts.extend((clock.step, alert) for alert in found)

    run(a.births() + b.births())
    for clock.step in range(1, 200):
        messages = a.sample()
        if clock.step < 30 or 100 <= clock.step < 120 or clock.step >= 125:
            messages += b.sample()  # b falls silent at 30, talks again at 100, restarts at 120
        if clock.step == 120:
            messages += [b.session.death()]  # its agent stops: NDEATH
        if clock.step == 122:
            b = Node("edge-b", clock, bd_seq=b.session.bd_seq)
            messages += b.births()  # restarted: births on the wall clock, hours behind the twin
        run(messages)

    assert node_alerts(alerts, "edge-a") == []  # talking all along, whatever its payloads' clock says
    (raised, *_), (cleared, *_), *rest = node_alerts(alerts, "edge-b")
    assert node_alerts(alerts, "edge-b")[:2] == [
        (raised, "node.stale", AlertState.ACTIVE),
        (cleared, "node.stale", AlertState.CLEARED),
    ]
    assert 60 <= raised - 29 <= 62  # about 60 wall seconds of silence
    assert cleared == 100  # the first data again
    assert rest == [
        (120, "node.offline", AlertState.ACTIVE),
        (122, "node.offline", AlertState.CLEARED),  # reborn, and not stale while its data resumes
    ]
