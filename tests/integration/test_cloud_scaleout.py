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
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.partitioner import DefaultPartitioner
from stack_settings import StackSettings

from cloud.bridge.edge_feed import EdgeNodeScript
from cloud.bridge.normalize import Normalizer
from cloud.bus_records import BusRecord
from cloud.embedded.runner import EmbeddedRunner
from cloud.kafka_bus import KafkaOptions, KafkaSink
from cloud.pipeline import PipelineCore
from cloud.processing.processor import Processor
from cloud.processing.records import Alert
from cloud.proto_mapping import alert_from_proto
from cloud.settings import ProcessingSettings
from cloud.storage.base import InfluxOptions
from cloud.storage.influx import InfluxStorage
from cloud.storage.sqlite import SqliteStorage
from proto import kafka
from proto import messages as m
from proto.codec import decode

T0 = 1_700_000_000_000
STEPS = 90
PARTITIONS = 4
PROCESSING = {"IIOT_WINDOWS": "10s", "IIOT_ALERT_UPDATE_INTERVAL": "5s", "IIOT_DEFECT_MIN_INSPECTIONS": "10"}
ROOT = Path(__file__).resolve().parents[2]
READY = "[^Worker]: Ready"


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


class Worker:
    """`iiot cloud worker` in a subprocess: this test's topics, one shared app id, its own data dir."""

    def __init__(self, stack: StackSettings, prefix: str, tmp: Path, name: str) -> None:
        self.name = name
        self.env = {
            **os.environ,
            **PROCESSING,
            "IIOT_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "IIOT_KAFKA_TOPIC_PREFIX": prefix,
            "IIOT_KAFKA_PARTITIONS": str(PARTITIONS),
            "IIOT_STORAGE_URL": stack.influx_url,
            "IIOT_INFLUX_TOKEN": stack.influx_token,
            "IIOT_INFLUX_ORG": stack.influx_org,
            "IIOT_INFLUX_BUCKET": stack.influx_test_bucket,
            "IIOT_WORKER_APP_ID": f"worker-{prefix}",
            "IIOT_WORKER_DATA_DIR": str(tmp / f"faust-{name}"),
            "IIOT_WORKER_TAKE": "50",
            "IIOT_WORKER_WITHIN": "0.2",
            "IIOT_WORKER_SESSION_TIMEOUT": "6",
            # Event-time ticks use the worker's newest time; a key whose partition is still being
            # replayed could look silent. Stale nodes are not what this test is about.
            "IIOT_NODE_STALE_AFTER": "1h",
        }
        self.log = tmp / f"worker-{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start without waiting (see ``wait_ready``)."""
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "iiot"), "cloud", "worker"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    def text(self) -> str:
        """The worker's log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def assigned(self, topic: str) -> set[int]:
        """The topic's partitions in the newest assignment Faust logged ("Setting newly assigned ...")."""
        tables = self.text().split("Setting newly assigned partitions")
        found = (
            re.search(rf"\| {re.escape(topic)}\s+\| \{{([^}}]*)\}}", tables[-1]) if len(tables) > 1 else None
        )
        if found is None:
            return set()
        parts: set[int] = set()
        for item in found.group(1).split(","):
            low, _, high = item.strip().partition("-")
            parts.update(range(int(low), int(high or low) + 1))
        return parts

    def wait_assigned(self, topic: str, partitions: set[int] | None = None, timeout_s: float = 60.0) -> None:
        """Until the newest assignment of the topic is ``partitions`` (None: any non-empty one)."""
        deadline = time.monotonic() + timeout_s
        while not (self.assigned(topic) == partitions if partitions is not None else self.assigned(topic)):
            if time.monotonic() > deadline:
                pytest.fail(
                    f"worker {self.name} never got {partitions or 'partitions'}:\n{self.text()[-3000:]}"
                )
            time.sleep(0.3)

    def wait_ready(self, timeout_s: float = 90.0) -> None:
        """Until Faust says the worker is ready."""
        deadline = time.monotonic() + timeout_s
        while READY not in self.text():
            if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker {self.name} did not start:\n{self.text()[-3000:]}")
            time.sleep(0.3)

    def kill(self) -> None:
        """SIGKILL: no goodbye to the group, no commit, no flush."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


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
def workers(stack: StackSettings, prefix: str, tmp_path: Path) -> Iterator[tuple[Worker, Worker]]:
    pair = (Worker(stack, prefix, tmp_path, "a"), Worker(stack, prefix, tmp_path, "b"))
    yield pair
    for worker in pair:
        worker.stop()


def embedded(messages: list[tuple[str, bytes]], prefix: str) -> tuple[list[Alert], SqliteStorage]:
    """What the embedded runner makes of the same messages: its alerts and its storage."""
    settings = ProcessingSettings(
        windows=PROCESSING["IIOT_WINDOWS"],
        alert_update_interval=PROCESSING["IIOT_ALERT_UPDATE_INTERVAL"],
        defect_min_inspections=int(PROCESSING["IIOT_DEFECT_MIN_INSPECTIONS"]),
        node_stale_after="1h",
    )
    storage = SqliteStorage()
    runner = EmbeddedRunner(
        PipelineCore(Processor(settings.processing_config()), topic_prefix=prefix), storage
    )
    return runner.handle(messages, T0).alerts, storage


async def produce(
    stack: StackSettings, records: list[BusRecord], chunk: int = 0, pause_s: float = 0.0
) -> None:
    """Send the records, all at once or ``chunk`` at a time with a pause between."""
    async with KafkaSink(KafkaOptions(stack.kafka_bootstrap, linger_ms=5)) as sink:
        step = chunk or len(records)
        for start in range(0, len(records), step):
            await sink.send(records[start : start + step])
            await asyncio.sleep(pause_s)


def wait_some_stored(influx: InfluxStorage, device: str, timeout_s: float = 60.0) -> None:
    """Until the device has a sample in storage (its worker is at work)."""
    deadline = time.monotonic() + timeout_s
    while not influx.series(device, "temperature", T0, T0 + STEPS * 1000):
        if time.monotonic() > deadline:
            pytest.fail(f"nothing of {device} was stored")
        time.sleep(0.2)


async def alert_records(stack: StackSettings, topic: str, distinct: int, wait_s: float = 60.0) -> list[Alert]:
    """Every alert record on the topic, until ``distinct`` (id, revision) pairs are seen, and 3 s more."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack.kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    got: list[Alert] = []
    try:
        async with asyncio.timeout(wait_s):
            while len({key(a) for a in got}) < distinct:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    got.extend(alert_from_proto(decode(m.Alert, r.value)) for r in records)
        await asyncio.sleep(3)  # anything after the expected would be an alert too many
        for records in (await consumer.getmany(timeout_ms=1000)).values():
            got.extend(alert_from_proto(decode(m.Alert, r.value)) for r in records)
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return got


def key(alert: Alert) -> tuple[str, int]:
    return (alert.alert_id, alert.revision)


def same(alerts: list[Alert]) -> list[Alert]:
    """Alerts in a comparable order, evidence by name (the wire keeps numbers and text apart)."""
    return [replace(a, evidence=tuple(sorted(a.evidence))) for a in sorted(alerts, key=key)]


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
    stack: StackSettings, workers: tuple[Worker, Worker], prefix: str
) -> None:
    messages = scenario(prefix)
    normalizer = Normalizer(topic_prefix=prefix)
    records = [r for t, p in messages for r in normalizer.handle(t, p, T0).records]
    expected, reference = embedded(messages, prefix)
    assert {a.kind for a in expected} == {"range.temperature", "prediction", "defect_rate", "node.offline"}
    assert len({partition_of(r.key) for r in records}) == PARTITIONS

    telemetry = kafka.prefixed(kafka.TELEMETRY, prefix)
    everything = set(range(PARTITIONS))
    first, second = workers
    first.start()
    await asyncio.to_thread(first.wait_ready)
    second.start()
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
