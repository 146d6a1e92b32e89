"""The Faust worker against real Kafka and InfluxDB, run as `iiot cloud worker`.

Normalized records go to Kafka as the bridge produces them; the worker's alerts must equal the
embedded runner's on the same input, points must land in InfluxDB with the right values, and a
worker killed mid-stream and restarted must lose and duplicate nothing.
Fails (never skips) when a service is down: the ``stack`` fixture checks them.
"""

from __future__ import annotations

import asyncio
import os
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
PROCESSING = {"IIOT_WINDOWS": "10s", "IIOT_ALERT_UPDATE_INTERVAL": "5s", "IIOT_DEFECT_MIN_INSPECTIONS": "10"}
ROOT = Path(__file__).resolve().parents[2]


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


class WorkerProcess:
    """`iiot cloud worker` in a subprocess with its own topic prefix and app id."""

    def __init__(self, stack: StackSettings, prefix: str, tmp: Path) -> None:
        self.env = {
            **os.environ,
            **PROCESSING,
            "IIOT_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "IIOT_KAFKA_TOPIC_PREFIX": prefix,
            "IIOT_KAFKA_PARTITIONS": "2",
            "IIOT_STORAGE_URL": stack.influx_url,
            "IIOT_INFLUX_TOKEN": stack.influx_token,
            "IIOT_INFLUX_ORG": stack.influx_org,
            "IIOT_INFLUX_BUCKET": stack.influx_test_bucket,
            "IIOT_WORKER_APP_ID": f"worker-{prefix}",
            "IIOT_WORKER_DATA_DIR": str(tmp / "faust"),
            "IIOT_WORKER_TAKE": "50",
            "IIOT_WORKER_WITHIN": "0.2",
        }
        self.log = tmp / "worker.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [str(Path(sys.executable).parent / "iiot"), "cloud", "worker"],
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 90
        marks = self.log.read_text(errors="replace").count("[^Worker]: Ready")
        while self.log.read_text(errors="replace").count("[^Worker]: Ready") <= marks:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"worker did not start:\n{self.log.read_text(errors='replace')[-3000:]}")
            time.sleep(0.5)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@pytest.fixture
def prefix() -> str:
    return f"w{uuid.uuid4().hex[:8]}"


@pytest.fixture
def worker(stack: StackSettings, prefix: str, tmp_path: Path) -> Iterator[WorkerProcess]:
    process = WorkerProcess(stack, prefix, tmp_path)
    yield process
    process.stop()


async def produce(stack: StackSettings, records: list[BusRecord]) -> None:
    async with KafkaSink(KafkaOptions(stack.kafka_bootstrap, linger_ms=5)) as sink:
        await sink.send(records)


async def alerts_from_kafka(
    stack: StackSettings, topic: str, expected: int, wait_s: float = 60.0
) -> list[Alert]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack.kafka_bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    alerts: list[Alert] = []
    try:
        async with asyncio.timeout(wait_s):
            while len(alerts) < expected:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    alerts.extend(alert_from_proto(decode(m.Alert, r.value)) for r in records)
        await asyncio.sleep(2)  # anything beyond the expected would be a duplicate
        for records in (await consumer.getmany(timeout_ms=1000)).values():
            alerts.extend(alert_from_proto(decode(m.Alert, r.value)) for r in records)
    except TimeoutError:
        pass
    finally:
        await consumer.stop()
    return alerts


def embedded_alerts(messages: list[tuple[str, bytes]], prefix: str) -> list[Alert]:
    env_settings = ProcessingSettings(
        windows=PROCESSING["IIOT_WINDOWS"],
        alert_update_interval=PROCESSING["IIOT_ALERT_UPDATE_INTERVAL"],
        defect_min_inspections=int(PROCESSING["IIOT_DEFECT_MIN_INSPECTIONS"]),
    )
    runner = EmbeddedRunner(
        PipelineCore(Processor(env_settings.processing_config()), topic_prefix=prefix), SqliteStorage()
    )
    return runner.handle(messages, T0).alerts


def key(alert: Alert) -> tuple[str, int]:
    return (alert.alert_id, alert.revision)


def same(alerts: list[Alert]) -> list[Alert]:
    """Alerts in a comparable order, evidence by name (the wire keeps numbers and text apart)."""
    return [replace(a, evidence=tuple(sorted(a.evidence))) for a in sorted(alerts, key=key)]


def influx(stack: StackSettings) -> InfluxStorage:
    return InfluxStorage(
        InfluxOptions(stack.influx_url, stack.influx_token, stack.influx_org, stack.influx_test_bucket)
    )


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
    got = await alerts_from_kafka(stack, kafka.prefixed(kafka.ALERTS, prefix), len(expected))
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
    got = await alerts_from_kafka(stack, kafka.prefixed(kafka.ALERTS, prefix), len(expected))
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
