"""The Faust worker against real Kafka and InfluxDB, run as `iiot cloud worker`.

Normalized records go to Kafka as the bridge produces them; the worker's alerts must equal the
embedded runner's on the same input, points must land in InfluxDB with the right values, and a
worker killed mid-stream and restarted must lose and duplicate nothing.
Fails (never skips) when a service is down: the ``stack`` fixture checks them.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from cloud_worker_support import T0, WorkerProcess, alert_records, embedded, influx, key, produce, same
from stack_settings import StackSettings

from cloud.bridge.edge_feed import EdgeNodeScript
from cloud.bridge.normalize import Normalizer
from cloud.processing.records import Alert
from proto import kafka


def scenario(group: str, machine: str) -> list[tuple[str, bytes]]:
    """An overheating press predicted to fail, a defect burst on its camera, then the node dies."""
    node = EdgeNodeScript(
        group, "edge1", {machine: {"temperature": 20.0, "prediction/fault_probability": 0.0}}
    )
    messages = list(node.birth(T0))
    for i in range(1, 90):
        ts = T0 + i * 1000
        hot = 40 <= i < 60
        p = 0.9 if 50 <= i < 70 else 0.1
        messages.append(
            node.data(
                machine,
                {"temperature": 100.0 if hot else 60.0 + i % 3, "prediction/fault_probability": p},
                ts,
            )
        )
        boxes = [("scratch", 0.9)] if 20 <= i < 40 and i % 2 else [("part", 0.95)]
        messages.append(node.detection("cam1", ts, i, boxes, machine=machine))
    messages.append(node.death())
    return messages


@pytest.fixture
def prefix() -> str:
    return f"w{uuid.uuid4().hex[:8]}"


@pytest.fixture
def worker(stack: StackSettings, prefix: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(stack, prefix, tmp_path)
    yield process
    process.stop()


def embedded_alerts(messages: list[tuple[str, bytes]], prefix: str) -> list[Alert]:
    return embedded(messages, prefix)[0]


async def test_worker_matches_the_embedded_runner_and_writes_influx(
    stack: StackSettings, worker: WorkerProcess, prefix: str
) -> None:
    machine = f"{prefix}-press1"
    messages = scenario(prefix, machine)
    normalizer = Normalizer(topic_prefix=prefix)
    records = [r for t, p in messages for r in normalizer.handle(t, p, T0).records]
    expected = embedded_alerts(messages, prefix)
    assert {a.kind for a in expected} == {"range.temperature", "prediction", "defect_rate", "node.offline"}
    await asyncio.to_thread(worker.start)
    await produce(stack, records)
    got = await alert_records(stack, kafka.prefixed(kafka.ALERTS, prefix), len({key(a) for a in expected}))
    assert same(got) == same(expected)

    with influx(stack) as storage:
        series = storage.series(machine, "temperature", T0, T0 + 100_000)
        assert [p.ts_ms for p in series] == [T0 + i * 1000 for i in range(90)]
        assert series[45].value == 100.0
        windows = storage.aggregates(machine, "temperature", "10s", T0, T0 + 100_000)
        assert [w.start_ms for w in windows][:8] == [T0 + i * 10_000 for i in range(8)]
        first = windows[0]
        assert (first.count, first.min, first.max) == (10, 20.0, 62.0)
        mine = {a.alert_id for a in expected}
        stored = {a.alert_id: a for a in storage.alerts(open_only=False) if a.alert_id in mine}
        newest = {a.alert_id: a for a in sorted(expected, key=key)}
        assert same(list(stored.values())) == same(list(newest.values()))


async def test_worker_killed_mid_stream_loses_and_duplicates_nothing(
    stack: StackSettings, worker: WorkerProcess, prefix: str
) -> None:
    machine = f"{prefix}-press1"
    messages = scenario(prefix, machine)
    normalizer = Normalizer(topic_prefix=prefix)
    records = [r for t, p in messages for r in normalizer.handle(t, p, T0).records]
    expected = embedded_alerts(messages, prefix)
    half = len(records) // 2
    await asyncio.to_thread(worker.start)
    await produce(stack, records[:half])
    await asyncio.sleep(3)
    worker.kill()  # mid-stream: some batches applied, some offsets not committed
    await produce(stack, records[half:])
    await asyncio.to_thread(worker.start)
    got = await alert_records(stack, kafka.prefixed(kafka.ALERTS, prefix), len({key(a) for a in expected}))
    # at-least-once on the alerts topic, but every revision is the same record again: nothing lost,
    # nothing different, and the stores (keyed by alert id and revision) hold exactly the expected.
    assert same(list({key(a): a for a in got}.values())) == same(expected)
    with influx(stack) as storage:
        series = storage.series(machine, "temperature", T0, T0 + 100_000)
        assert [p.ts_ms for p in series] == [T0 + i * 1000 for i in range(90)]
        mine = {a.alert_id for a in expected}
        for alert_id in mine:
            revisions = [a.revision for a in storage.alert_history(alert_id)]
            assert revisions == sorted({a.revision for a in expected if a.alert_id == alert_id})
        windows = storage.aggregates(machine, "temperature", "10s", T0, T0 + 100_000)
        assert all(w.count == 10 for w in windows[1:8])
