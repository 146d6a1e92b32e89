"""Scale-out: two `iiot cloud worker` processes share the partitions; one is killed, the other takes over.

Both workers run in one consumer group (same app id) over topics of four partitions; several
machines on two edge nodes spread their keys over the partitions. Half the records go in, one
worker is killed with SIGKILL mid-stream, the rest go in. The alerts topic must then hold exactly
the alerts the embedded runner makes of the same input (a revision may appear twice, identical:
an idempotent rewrite), and InfluxDB exactly what the embedded runner stores: every telemetry
point once, every window complete, every alert revision.
Fails (never skips) when a service is down: the ``stack`` fixture checks them.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.partitioner import DefaultPartitioner
from cloud_worker_support import T0, WorkerProcess, alert_records, embedded, key, produce, same
from stack_settings import StackSettings

from cloud.bridge.edge_feed import EdgeNodeScript
from cloud.bridge.normalize import Normalizer
from cloud.processing.records import Alert
from cloud.storage.base import InfluxOptions
from cloud.storage.influx import InfluxStorage
from proto import kafka

STEPS = 90
PARTITIONS = 4


def machines(prefix: str) -> dict[str, list[str]]:
    """Edge node -> its machines."""
    return {f"edge{n}": [f"{prefix}-n{n}m{j}" for j in range(3)] for n in range(2)}


def scenario(prefix: str) -> list[tuple[str, bytes]]:
    """Two edge nodes, three machines each: one overheats, one is predicted to fail, one's camera sees
    a defect burst; then both nodes die. Messages of all machines interleave in time order."""
    plant = machines(prefix)
    nodes = {
        name: EdgeNodeScript(
            prefix,
            name,
            {
                d: {"temperature": 20.0, "vibration": 2.0, "prediction/fault_probability": 0.0}
                for d in devices
            },
        )
        for name, devices in plant.items()
    }
    messages = [msg for node in nodes.values() for msg in node.birth(T0)]
    for i in range(1, STEPS):
        ts = T0 + i * 1000
        for name, node in nodes.items():
            hot, failing, inspected = plant[name]
            for device in plant[name]:
                temperature = 100.0 if device == hot and 30 <= i < 50 else 60.0 + i % 3
                p = 0.9 if device == failing and 40 <= i < 60 else 0.1
                values = {
                    "temperature": temperature,
                    "vibration": 2.0 + i % 4 / 10,
                    "prediction/fault_probability": p,
                }
                messages.append(node.data(device, values, ts))
            boxes = [("scratch", 0.9)] if 20 <= i < 40 and i % 2 else [("part", 0.95)]
            messages.append(node.detection(f"cam-{name}", ts, i, boxes, machine=inspected))
    messages.extend(node.death() for node in nodes.values())
    return messages


@pytest.fixture
def prefix() -> str:
    """A fresh prefix whose machines and nodes fall into every partition (work for both workers)."""
    while True:
        candidate = f"s{uuid.uuid4().hex[:8]}"
        keys = [d for devices in machines(candidate).values() for d in devices]
        keys += [f"node/{candidate}/{node}" for node in machines(candidate)]
        if len({partition_of(k.encode()) for k in keys}) == PARTITIONS:
            return candidate


@pytest.fixture
def workers(stack: StackSettings, prefix: str, tmp_path: Path) -> Iterator[tuple[WorkerProcess, ...]]:
    env = {
        "IIOT_WORKER_SESSION_TIMEOUT": "6",
        # Event-time ticks use the worker's newest time; a key whose partition is still being
        # replayed could look silent. Stale nodes are not what this test is about.
        "IIOT_NODE_STALE_AFTER": "1h",
    }
    pair = tuple(
        WorkerProcess(stack, prefix, tmp_path, name=name, partitions=PARTITIONS, env=env) for name in "ab"
    )
    yield pair
    for worker in pair:
        worker.stop()


def wait_some_stored(influx: InfluxStorage, device: str, timeout_s: float = 60.0) -> None:
    """Until the device has a sample in storage (its worker is at work)."""
    deadline = time.monotonic() + timeout_s
    while not influx.series(device, "temperature", T0, T0 + STEPS * 1000):
        if time.monotonic() > deadline:
            pytest.fail(f"nothing of {device} was stored")
        time.sleep(0.2)


def wait_stored(influx: InfluxStorage, devices: list[str], timeout_s: float) -> None:
    """Until every device's newest window is stored (the last one that closes), or the timeout."""
    newest = T0 + (STEPS // 10 - 2) * 10_000
    deadline = time.monotonic() + timeout_s
    for device in devices:
        for metric in ("temperature", "vibration"):
            while not influx.aggregates(device, metric, "10s", newest, newest + 1):
                if time.monotonic() > deadline:
                    return  # the assertions say what is missing
                time.sleep(0.5)


def partition_of(record_key: bytes) -> int:
    """The partition the producers' default partitioner picks (murmur2, as Kafka's Java client)."""
    every = list(range(PARTITIONS))
    return int(DefaultPartitioner()(record_key, every, every))


async def test_two_workers_share_partitions_and_one_takes_over_when_the_other_is_killed(
    stack: StackSettings, workers: tuple[WorkerProcess, ...], prefix: str
) -> None:
    messages = scenario(prefix)
    normalizer = Normalizer(topic_prefix=prefix)
    records = [r for t, p in messages for r in normalizer.handle(t, p, T0).records]
    expected, reference = embedded(messages, prefix, node_stale_after="1h")
    assert {a.kind for a in expected} == {"range.temperature", "prediction", "defect_rate", "node.offline"}
    assert len({partition_of(r.key) for r in records}) == PARTITIONS

    telemetry = kafka.prefixed(kafka.TELEMETRY, prefix)
    everything = set(range(PARTITIONS))
    first, second = workers
    first.start(wait=False)
    await asyncio.to_thread(first.wait_ready)
    second.start(wait=False)
    await asyncio.to_thread(second.wait_ready)
    await asyncio.to_thread(second.wait_assigned, telemetry)
    await asyncio.to_thread(first.wait_assigned, telemetry, everything - second.assigned(telemetry))
    mine_first, mine_second = first.assigned(telemetry), second.assigned(telemetry)
    assert mine_first, "the first worker kept no partition"
    assert mine_second, "the second worker got no partition"
    assert not mine_first & mine_second
    devices = [d for devices in machines(prefix).values() for d in devices]
    watched = next(d for d in devices if partition_of(d.encode()) in mine_first)

    half = len(records) // 2
    with InfluxStorage(
        InfluxOptions(stack.influx_url, stack.influx_token, stack.influx_org, stack.influx_test_bucket)
    ) as influx:
        await produce(stack, records[:half])
        await asyncio.to_thread(wait_some_stored, influx, watched)  # the first worker is at work
        rest = asyncio.create_task(produce(stack, records[half:], chunk=20, pause_s=0.05))
        await asyncio.sleep(0.5)
        first.kill()  # mid-stream: records arriving, batches applied or not, offsets not all committed
        await rest
        await asyncio.to_thread(second.wait_assigned, telemetry, everything)  # the survivor took over
        got = await alert_records(
            stack, kafka.prefixed(kafka.ALERTS, prefix), len({key(a) for a in expected})
        )

        by_revision: dict[tuple[str, int], Alert] = {}
        for alert in same(got):
            assert by_revision.setdefault(key(alert), alert) == alert, (
                f"{key(alert)} published twice, differently"
            )
        assert same(list(by_revision.values())) == same(expected)

        # the last alert may come before the survivor has caught up with every partition's telemetry
        await asyncio.to_thread(wait_stored, influx, devices, 60.0)
        end = T0 + STEPS * 1000
        for device in devices:
            for metric in ("temperature", "vibration"):
                stored = influx.series(device, metric, T0, end)
                lost = sorted(
                    {p.ts_ms for p in reference.series(device, metric, T0, end)} - {p.ts_ms for p in stored}
                )
                assert not lost, f"{device} {metric}: samples lost at {[(t - T0) // 1000 for t in lost]} s"
                assert stored == reference.series(device, metric, T0, end)
                windows = influx.aggregates(device, metric, "10s", T0, end)
                assert [w.count for w in windows] == [10] * (STEPS // 10 - 1)  # every closed window, complete
                assert windows == reference.aggregates(device, metric, "10s", T0, end)
        for alert_id in {a.alert_id for a in expected}:
            assert influx.alert_history(alert_id) == reference.alert_history(alert_id)
