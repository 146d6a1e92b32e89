"""What the Faust worker tests share: `iiot cloud worker` in a subprocess, producing records, reading alerts.

Used by test_cloud_worker.py (one worker, killed and restarted) and test_cloud_scaleout.py (two
workers in one consumer group, one killed).
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer
from stack_settings import StackSettings

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
from iiot.harness.processes import ManagedProcess
from proto import messages as m
from proto.codec import decode

T0 = 1_700_000_000_000
PROCESSING = {"IIOT_WINDOWS": "10s", "IIOT_ALERT_UPDATE_INTERVAL": "5s", "IIOT_DEFECT_MIN_INSPECTIONS": "10"}
ROOT = Path(__file__).resolve().parents[2]
READY = "[^Worker]: Ready"


class WorkerProcess:
    """`iiot cloud worker` in a subprocess: the test's topic prefix and app id, its own data dir and log."""

    def __init__(
        self,
        stack: StackSettings,
        prefix: str,
        tmp: Path,
        *,
        name: str = "",
        partitions: int = 2,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name or "worker"
        suffix = f"-{name}" if name else ""
        self.env = {
            **os.environ,
            **PROCESSING,
            "IIOT_KAFKA_BOOTSTRAP": stack.kafka_bootstrap,
            "IIOT_KAFKA_TOPIC_PREFIX": prefix,
            "IIOT_KAFKA_PARTITIONS": str(partitions),
            "IIOT_STORAGE_URL": stack.influx_url,
            "IIOT_INFLUX_TOKEN": stack.influx_token,
            "IIOT_INFLUX_ORG": stack.influx_org,
            "IIOT_INFLUX_BUCKET": stack.influx_test_bucket,
            "IIOT_WORKER_APP_ID": f"worker-{prefix}",
            "IIOT_WORKER_DATA_DIR": str(tmp / f"faust{suffix}"),
            "IIOT_WORKER_TAKE": "50",
            "IIOT_WORKER_WITHIN": "0.2",
            **(env or {}),
        }
        self.log = tmp / f"worker{suffix}.log"
        argv = [str(Path(sys.executable).parent / "iiot"), "cloud", "worker"]
        self.process = ManagedProcess(self.name, argv, self.env, self.log, cwd=ROOT)

    def start(self, *, wait: bool = True) -> None:
        """Start; with ``wait``, until Faust logs one more "Ready" than before (restarts append)."""
        marks = self.text().count(READY)
        self.process.start()
        if wait:
            self.wait_ready(marks)

    def text(self) -> str:
        """The worker's log so far."""
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def wait_ready(self, marks: int = 0, timeout_s: float = 90.0) -> None:
        """Until Faust has said "Ready" more than ``marks`` times."""
        deadline = time.monotonic() + timeout_s
        while self.text().count(READY) <= marks:
            if not self.process.running() or time.monotonic() > deadline:
                pytest.fail(f"{self.name} did not start:\n{self.text()[-3000:]}")
            time.sleep(0.3)

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
                pytest.fail(f"{self.name} never got {partitions or 'partitions'}:\n{self.text()[-3000:]}")
            time.sleep(0.3)

    def kill(self) -> None:
        """SIGKILL: no goodbye to the group, no commit, no flush."""
        self.process.kill()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL."""
        self.process.stop(20.0)


async def produce(
    stack: StackSettings, records: list[BusRecord], chunk: int = 0, pause_s: float = 0.0
) -> None:
    """Send the records as the bridge does, all at once or ``chunk`` at a time with a pause between."""
    async with KafkaSink(KafkaOptions(stack.kafka_bootstrap, linger_ms=5)) as sink:
        step = chunk or len(records) or 1
        for start in range(0, len(records), step):
            await sink.send(records[start : start + step])
            await asyncio.sleep(pause_s)


def key(alert: Alert) -> tuple[str, int]:
    return (alert.alert_id, alert.revision)


def same(alerts: list[Alert]) -> list[Alert]:
    """Alerts in a comparable order, evidence by name (the wire keeps numbers and text apart)."""
    return [replace(a, evidence=tuple(sorted(a.evidence))) for a in sorted(alerts, key=key)]


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


def embedded(
    messages: list[tuple[str, bytes]], prefix: str, **settings: str
) -> tuple[list[Alert], SqliteStorage]:
    """What the embedded runner makes of the same messages (same processing settings): alerts, storage."""
    config = ProcessingSettings(
        windows=PROCESSING["IIOT_WINDOWS"],
        alert_update_interval=PROCESSING["IIOT_ALERT_UPDATE_INTERVAL"],
        defect_min_inspections=int(PROCESSING["IIOT_DEFECT_MIN_INSPECTIONS"]),
        **settings,  # type: ignore[arg-type]
    )
    storage = SqliteStorage()
    runner = EmbeddedRunner(PipelineCore(Processor(config.processing_config()), topic_prefix=prefix), storage)
    return runner.handle(messages, T0).alerts, storage


def influx(stack: StackSettings) -> InfluxStorage:
    return InfluxStorage(
        InfluxOptions(stack.influx_url, stack.influx_token, stack.influx_org, stack.influx_test_bucket)
    )
