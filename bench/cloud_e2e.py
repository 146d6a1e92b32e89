"""The cloud path end to end on the real services, and each service alone: `python -m bench.cloud_e2e`.

End to end: an edge node's Sparkplug B DDATA messages (blocks of timestamped samples per machine,
as the edge agent publishes them) go to the real Mosquitto; the real bridge (`iiot cloud bridge`)
moves them to Kafka; the real Faust worker (`iiot cloud worker`) runs windows and rules and writes
InfluxDB. The clock runs from the first data message published until the last sample of every
series is in InfluxDB; a Flux count then checks that every sample is there exactly once.

Alone, with the same payloads: paho publish + subscribe through Mosquitto (QoS 1), aiokafka produce
(idempotent, acks=all, as the bridge) and consume of the bridge's records, and batched
influxdb-client writes of the same samples as line protocol.

A **sample** is one sensor value at one time (one Sparkplug metric, one InfluxDB point). Every run
uses its own Sparkplug group, Kafka topic prefix, consumer group and InfluxDB bucket, and deletes
them at the end (``--keep`` keeps them). Needs `deploy/local/stack up`; settings come from the
environment (`eval "$(deploy/local/stack env)"`) or the stack's ``stack.env``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cloud.bridge.edge_feed import EdgeNodeScript
from cloud.bridge.normalize import Normalizer
from cloud.bus_records import BusRecord
from cloud.processing.records import TelemetryPoint
from cloud.storage.base import InfluxOptions
from cloud.storage.influx import InfluxStorage
from iiot.harness.processes import ManagedProcess
from proto import kafka

T0 = 1_700_000_000_000
STEP_MS = 100  # 10 Hz sensors
CHANNELS = ("temperature", "vibration", "current", "speed")
GOAL = 20_000
ROOT = Path(__file__).resolve().parents[1]
LATEST = "2200-01-01T00:00:00Z"
Message = tuple[str, bytes]


# ----------------------------------------------------------------------------- settings


@dataclass(frozen=True)
class Stack:
    """Connection settings of the running stack."""

    values: dict[str, str]

    @classmethod
    def load(cls) -> Stack:
        """The environment's IIOT_* settings over the stack's stack.env."""
        home = os.environ.get("IIOT_STACK_HOME") or str(Path.home() / ".local" / "state" / "iiot-stack")
        path = Path(home) / "stack.env"
        values: dict[str, str] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                key, sep, value = line.partition("=")
                if sep and not key.lstrip().startswith("#"):
                    values[key.strip()] = value.strip()
        values.update({k: v for k, v in os.environ.items() if k.startswith("IIOT_")})
        if "IIOT_KAFKA_BOOTSTRAP" not in values:
            raise SystemExit(f"no stack settings: run `deploy/local/stack up` ({path} is missing)")
        return cls(values)

    def __getitem__(self, key: str) -> str:
        return self.values[key]

    def user(self, name: str) -> tuple[str, str]:
        """(username, password) of one MQTT account."""
        upper = name.upper()
        return self[f"IIOT_MQTT_{upper}_USERNAME"], self[f"IIOT_MQTT_{upper}_PASSWORD"]

    @property
    def bootstrap(self) -> str:
        """Kafka bootstrap servers."""
        return self["IIOT_KAFKA_BOOTSTRAP"]


@dataclass(frozen=True)
class Run:
    """Names of one run, so that nothing it writes meets a test's or another run's data."""

    tag: str = field(default_factory=lambda: f"bench{uuid.uuid4().hex[:8]}")

    @property
    def group(self) -> str:
        """Sparkplug group of the end-to-end run."""
        return f"{self.tag}-e2e"

    @property
    def prefix(self) -> str:
        """Kafka topic prefix."""
        return self.tag

    @property
    def app_id(self) -> str:
        """Faust app id (consumer group, changelog topics ``<tag>-worker-...``)."""
        return f"{self.tag}-worker"

    @property
    def bucket(self) -> str:
        """InfluxDB bucket of the run."""
        return self.tag


# ----------------------------------------------------------------------------- workload


@dataclass(frozen=True)
class Workload:
    """An edge node's births and DDATA messages, each with ``per_message`` samples of one machine."""

    births: list[Message]
    data: list[Message]
    machines: list[str]
    per_message: int
    last_ms: int
    birth_records: int  # telemetry records the bridge makes of the births
    data_records: int  # ... and of the data (one per message, plus node heartbeats)

    @property
    def samples(self) -> int:
        """Samples in the data messages."""
        return len(self.data) * self.per_message

    @property
    def birth_samples(self) -> int:
        """Samples in the births (each machine's initial values)."""
        return len(self.machines) * len(CHANNELS)


def workload(group: str, machines: int, samples: int, per_message: int) -> Workload:
    """Messages of one edge node with ``machines`` devices; machines take turns, time runs at 10 Hz."""
    names = [f"m{i:03d}" for i in range(machines)]
    node = EdgeNodeScript(group, "edge1", {n: dict.fromkeys(CHANNELS, 0.0) for n in names})
    births = node.birth(T0)
    rows = per_message // len(CHANNELS)
    messages = max(1, round(samples / per_message))
    data = []
    step = [0] * machines
    for k in range(messages):
        i = k % machines
        block = []
        for _ in range(rows):
            step[i] += 1
            s = step[i]
            values = {
                "temperature": 60.0 + (s % 17) * 0.5,
                "vibration": 2.0 + (s % 5) * 0.1,
                "current": 20.0 + (s % 11),
                "speed": 1450.0 + (s % 3),
            }
            block.append((T0 + s * STEP_MS, values))
        data.append(node.samples(names[i], block))
    birth_records, data_records = telemetry_records(births, data, "")
    return Workload(
        births,
        data,
        names,
        rows * len(CHANNELS),
        T0 + max(step) * STEP_MS,
        len(birth_records),
        len(data_records),
    )


def telemetry_records(
    births: Sequence[Message], data: Sequence[Message], prefix: str
) -> tuple[list[BusRecord], list[BusRecord]]:
    """The telemetry records the bridge makes of the births and of the data (same normalizer)."""
    normalizer = Normalizer(topic_prefix=prefix)
    topic = kafka.prefixed(kafka.TELEMETRY, prefix)

    def records(messages: Sequence[Message]) -> list[BusRecord]:
        return [r for t, p in messages for r in normalizer.handle(t, p, T0).records if r.topic == topic]

    return records(births), records(data)


# ----------------------------------------------------------------------------- processes


class CpuMeter:
    """CPU seconds of processes by name, read from /proc (Linux), between ``start`` and ``stop``."""

    def __init__(self) -> None:
        self.pids: dict[str, int] = {}
        self._start: dict[str, float] = {}
        self.used: dict[str, float] = {}
        self._tick = os.sysconf("SC_CLK_TCK")

    def watch(self, name: str, pid: int) -> None:
        """Count this process under this name."""
        self.pids[name] = pid

    def _cpu(self, pid: int) -> float:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return 0.0
        return (int(fields[11]) + int(fields[12])) / self._tick

    def start(self) -> None:
        """Take the starting readings."""
        self._start = {n: self._cpu(p) for n, p in self.pids.items()}

    def stop(self) -> None:
        """CPU seconds used since ``start``."""
        self.used = {n: self._cpu(p) - self._start.get(n, 0.0) for n, p in self.pids.items()}


def stack_pids(stack: Stack) -> dict[str, int]:
    """Process ids of the stack's services, from its run/ folder."""
    home = os.environ.get("IIOT_STACK_HOME") or str(Path.home() / ".local" / "state" / "iiot-stack")
    out = {}
    for name in ("mosquitto", "kafka", "influxdb"):
        path = Path(home) / "run" / f"{name}.pid"
        if path.exists():
            out[name] = int(path.read_text().strip())
    return out


class Service:
    """An `iiot cloud ...` command as a harness `ManagedProcess`, started until its log says it is ready."""

    def __init__(
        self, name: str, args: list[str], env: dict[str, str], log: Path, ready: str, profile: Path | None
    ) -> None:
        iiot = str(Path(sys.executable).parent / "iiot")
        profiled = [sys.executable, "-m", "cProfile", "-o", str(profile)] if profile else []
        self.name, self.log, self.ready = name, log, ready
        self.process = ManagedProcess(name, [*profiled, iiot, *args], env, log, cwd=ROOT)

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def start(self, timeout_s: float = 120.0) -> None:
        """Start and wait for the line that says it is ready."""
        self.process.start()
        deadline = time.monotonic() + timeout_s
        while self.ready not in self.log.read_text(errors="replace"):
            if not self.process.running() or time.monotonic() > deadline:
                tail = self.log.read_text(errors="replace")[-3000:]
                raise SystemExit(f"{self.name} did not start:\n{tail}")
            time.sleep(0.2)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 20 s."""
        self.process.stop(20.0)


def service_env(stack: Stack, run: Run, args: argparse.Namespace) -> dict[str, str]:
    """Environment of the bridge and worker: this run's names on the stack's services."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("IIOT_")}
    bridge_user, bridge_password = stack.user("bridge")
    env.update(
        {
            "IIOT_LOG_LEVEL": "INFO",
            "IIOT_MQTT_HOST": stack["IIOT_MQTT_HOST"],
            "IIOT_MQTT_PORT": stack["IIOT_MQTT_PORT"],
            "IIOT_MQTT_USERNAME": bridge_user,
            "IIOT_MQTT_PASSWORD": bridge_password,
            "IIOT_MQTT_CLIENT_ID": f"{run.tag}-bridge",
            "IIOT_MQTT_SESSION_EXPIRY_S": "0",
            "IIOT_KAFKA_BOOTSTRAP": stack.bootstrap,
            "IIOT_KAFKA_TOPIC_PREFIX": run.prefix,
            "IIOT_KAFKA_PARTITIONS": str(args.partitions),
            "IIOT_BRIDGE_SHARE_GROUP": f"{run.tag}-share",
            "IIOT_BRIDGE_SPARKPLUG_GROUP": run.group,
            "IIOT_BRIDGE_PRIMARY_HOST_ID": "",
            "IIOT_STORAGE_URL": stack["IIOT_INFLUX_URL"],
            "IIOT_INFLUX_TOKEN": stack["IIOT_INFLUX_TOKEN"],
            "IIOT_INFLUX_ORG": stack["IIOT_INFLUX_ORG"],
            "IIOT_INFLUX_BUCKET": run.bucket,
            "IIOT_WORKER_APP_ID": run.app_id,
        }
    )
    if args.worker_take:
        env["IIOT_WORKER_TAKE"] = str(args.worker_take)
    if args.linger_ms is not None:
        env["IIOT_KAFKA_LINGER_MS"] = str(args.linger_ms)
    return env


# ----------------------------------------------------------------------------- MQTT, Kafka, InfluxDB


class Publisher:
    """A paho client publishing QoS 1 as the edge does; counts broker acknowledgements."""

    def __init__(self, stack: Stack, client_id: str, user: str = "edge") -> None:
        import paho.mqtt.client as paho

        self.client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.client.username_pw_set(*stack.user(user))
        self.client.max_inflight_messages_set(100)
        self.client.connect(stack["IIOT_MQTT_HOST"], int(stack["IIOT_MQTT_PORT"]))
        self.client.loop_start()
        self.sent = 0

    def publish(self, message: Message) -> None:
        """Queue one message (paho sends it from its thread)."""
        self.client.publish(message[0], message[1], qos=1)
        self.sent += 1

    def close(self) -> None:
        """Disconnect."""
        self.client.disconnect()
        self.client.loop_stop()


Count = Callable[[], Awaitable[int]]


async def paced(
    publisher: Publisher, messages: Sequence[Message], done: Count, window: int, stall_s: float
) -> None:
    """Publish, keeping at most ``window`` messages ahead of what the consumer has taken.

    Mosquitto queues a limited number of QoS 1 messages per subscriber and drops the rest ("Outgoing
    messages are being dropped" in its log), so an unpaced publisher would measure the broker's
    drops, not the path's rate.
    """
    for i, message in enumerate(messages):
        if i - await done() >= window:
            await wait_count(done, i - window + 1, "consumer", stall_s)
        publisher.publish(message)


async def wait_count(count: Count, target: int, what: str, stall_s: float) -> None:
    """Poll a growing count until it reaches ``target``; give up when it stops growing for ``stall_s``."""
    last, since = -1, time.monotonic()
    while (n := await count()) < target:
        if n != last:
            last, since = n, time.monotonic()
        elif time.monotonic() - since > stall_s:
            raise SystemExit(
                f"{what} stuck at {n} of {target} for {stall_s:.0f} s"
                " (did Mosquitto drop messages? look for 'being dropped' in its log)"
            )
        await asyncio.sleep(0.005)


class KafkaProgress:
    """How many records the bridge has produced to a topic, from end offsets (cheap to poll)."""

    def __init__(self, bootstrap: str, topic: str, partitions: int) -> None:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        self.consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
        self.partitions = [TopicPartition(topic, p) for p in range(partitions)]
        self.base = 0
        self.count = 0
        self._polled = 0.0

    async def __aenter__(self) -> KafkaProgress:
        await self.consumer.start()
        self.base = await self._total()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.consumer.stop()

    async def _total(self) -> int:
        ends = await self.consumer.end_offsets(self.partitions)
        return int(sum(ends.values()))

    async def produced(self, every_s: float = 0.05) -> int:
        """Records produced since start (refreshed at most every ``every_s``)."""
        now = time.monotonic()
        if now - self._polled >= every_s:
            self._polled = now
            self.count = await self._total() - self.base
        return self.count


class Influx:
    """The run's bucket: create, count, write line protocol, delete."""

    def __init__(self, stack: Stack, bucket: str) -> None:
        from influxdb_client import InfluxDBClient
        from influxdb_client.client.write_api import SYNCHRONOUS

        self.org = stack["IIOT_INFLUX_ORG"]
        self.bucket = bucket
        self.options = InfluxOptions(stack["IIOT_INFLUX_URL"], stack["IIOT_INFLUX_TOKEN"], self.org, bucket)
        self.client = InfluxDBClient(
            url=stack["IIOT_INFLUX_URL"], token=stack["IIOT_INFLUX_TOKEN"], org=self.org, timeout=60_000
        )
        self.write_api = self.client.write_api(write_options=SYNCHRONOUS)
        self.query_api = self.client.query_api()

    def create(self) -> None:
        """A bucket that keeps data forever (event times are in the past)."""
        self.client.buckets_api().create_bucket(bucket_name=self.bucket, org=self.org)

    def delete(self) -> None:
        """Delete the bucket."""
        api = self.client.buckets_api()
        found = api.find_bucket_by_name(self.bucket)
        if found is not None:
            api.delete_bucket(found)

    def count(self, group: str, start: str = "1970-01-01T00:00:00Z", stop: str = LATEST) -> int:
        """Telemetry samples of one Sparkplug group in [start, stop)."""
        flux = (
            f'from(bucket: "{self.bucket}") |> range(start: {start}, stop: {stop})'
            f' |> filter(fn: (r) => r._measurement == "telemetry" and r._field == "value"'
            f' and r.group == "{group}") |> group() |> count()'
        )
        tables = self.query_api.query(flux, org=self.org)
        return sum(int(r.get_value()) for t in tables for r in t.records)

    def count_at(self, group: str, ts_ms: int) -> int:
        """Samples of one group stamped exactly ``ts_ms`` (cheap: a 1 ms range)."""
        return self.count(group, start=flux_ms(ts_ms), stop=flux_ms(ts_ms + 1))

    def write_lines(self, lines: Sequence[str], batch: int) -> None:
        """Synchronous batched writes (ns precision, the client's default)."""
        for i in range(0, len(lines), batch):
            self.write_api.write(bucket=self.bucket, org=self.org, record=list(lines[i : i + batch]))

    def close(self) -> None:
        """Release connections."""
        self.write_api.close()
        self.client.close()


def flux_ms(ms: int) -> str:
    """An RFC 3339 time for Flux, ms resolution."""
    seconds, millis = divmod(ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}Z"


def samples_as_points(load: Workload) -> list[TelemetryPoint]:
    """The data messages' samples as the worker stores them (for the InfluxDB writes alone)."""
    from cloud.proto_mapping import telemetry_events
    from proto import messages as m
    from proto.codec import decode

    _, records = telemetry_records(load.births, load.data, "")
    return [
        event
        for record in records
        if not record.key.startswith(b"node/")
        for event in telemetry_events(decode(m.TelemetryBatch, record.value))
        if isinstance(event, TelemetryPoint)
    ]


def line_protocol(points: Sequence[TelemetryPoint], group: str) -> list[str]:
    """Points of measurement ``telemetry`` with the schema's tags and fields, as line protocol."""
    return [
        f"telemetry,edge_node={p.edge_node},group={group},machine_id={p.machine_id},metric={p.metric}"
        f' historical={str(p.historical).lower()},stale={str(p.stale).lower()},unit="{p.unit}",'
        f"value={float(p.value)!r} {p.ts_ms * 1_000_000}"
        for p in points
    ]


# ----------------------------------------------------------------------------- the measurements


@dataclass
class Result:
    """One measured rate."""

    name: str
    samples: int
    seconds: float
    messages: int = 0
    note: str = ""

    @property
    def rate(self) -> float:
        """Samples per second."""
        return self.samples / self.seconds if self.seconds > 0 else 0.0


async def end_to_end(stack: Stack, run: Run, load: Workload, args: argparse.Namespace, tmp: Path) -> Result:
    """Edge messages → Mosquitto → bridge → Kafka → Faust worker → InfluxDB, until all samples are stored."""
    env = service_env(stack, run, args)
    workers = []
    for i in range(args.workers):
        worker_env = {**env, "IIOT_WORKER_DATA_DIR": str(tmp / f"faust{i}")}
        profile = args.profile / f"worker{i}.prof" if args.profile else None
        log = tmp / f"worker{i}.log"
        workers.append(
            Service(f"worker{i}", ["cloud", "worker"], worker_env, log, "[^Worker]: Ready", profile)
        )
    profile = args.profile / "bridge.prof" if args.profile else None
    bridge = Service("bridge", ["cloud", "bridge"], env, tmp / "bridge.log", "bridge up", profile)
    influx = Influx(stack, run.bucket)
    cpu = CpuMeter()
    for name, pid in stack_pids(stack).items():
        cpu.watch(name, pid)
    cpu.watch("bench", os.getpid())
    try:
        for worker in workers:
            worker.start()
            assert worker.pid is not None
            cpu.watch(worker.name, worker.pid)
        bridge.start()
        assert bridge.pid is not None
        cpu.watch("bridge", bridge.pid)
        edge = Publisher(stack, f"{run.tag}-edge")
        topic = kafka.prefixed(kafka.TELEMETRY, run.prefix)
        async with KafkaProgress(stack.bootstrap, topic, args.partitions) as progress:
            for message in load.births:
                edge.publish(message)
            # warm-up: the births' samples through the whole path
            await wait_for(
                lambda: influx.count_at(run.group, T0) >= load.birth_samples, "births in InfluxDB", 120
            )
            print(f"  warm: births stored; publishing {len(load.data)} messages", flush=True)
            births = await progress.produced(0)
            if births != load.birth_records:
                raise SystemExit(f"{births} birth records in Kafka, expected {load.birth_records}")
            cpu.start()
            started = time.perf_counter()
            marks: dict[str, float] = {}

            async def bridged() -> int:
                return await progress.produced() - births

            await paced(edge, load.data, bridged, args.window, args.stall)
            marks["published"] = time.perf_counter() - started
            await wait_count(bridged, load.data_records, "records in Kafka", args.stall)
            marks["in Kafka"] = time.perf_counter() - started
            last = len(load.machines) * len(CHANNELS)
            await wait_for(
                lambda: influx.count_at(run.group, load.last_ms) >= last,
                "last samples in InfluxDB",
                args.timeout,
            )
            elapsed = time.perf_counter() - started
            cpu.stop()
        edge.close()
        stored = influx.count(run.group)
        expected = load.samples + load.birth_samples
        note = ", ".join(f"{k} at {v:.1f} s" for k, v in marks.items())
        if stored != expected:
            note += f"; InfluxDB holds {stored} samples, expected {expected}"
        else:
            note += f"; all {stored} samples stored once"
        print(f"  {note}")
        print(
            "  CPU seconds during the run: " + ", ".join(f"{n} {s:.1f}" for n, s in sorted(cpu.used.items()))
        )
        per = {n: s / load.samples * 1e6 for n, s in cpu.used.items()}
        print("  CPU µs per sample: " + ", ".join(f"{n} {v:.1f}" for n, v in sorted(per.items())))
        return Result("end to end", load.samples, elapsed, len(load.data), note)
    finally:
        bridge.stop()
        for worker in workers:
            worker.stop()
        influx.close()


async def wait_for(check: Callable[[], bool], what: str, timeout_s: float, every_s: float = 0.2) -> None:
    """Poll a blocking check (in a thread) until it holds."""
    deadline = time.monotonic() + timeout_s
    while not await asyncio.to_thread(check):
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        await asyncio.sleep(every_s)


async def mqtt_alone(stack: Stack, run: Run, load: Workload, window: int, stall_s: float) -> Result:
    """paho publish (edge user) → Mosquitto → paho subscribe (bridge user), QoS 1, the same payloads."""
    import paho.mqtt.client as paho

    group = f"{run.tag}-mqtt"
    prefix = f"spBv1.0/{run.group}/"
    messages = [(f"spBv1.0/{group}/" + t.removeprefix(prefix), p) for t, p in load.data]
    received = 0
    last = threading.Event()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        nonlocal received
        received += 1
        if received >= len(messages):
            last.set()

    subscribed = threading.Event()
    sub = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"{run.tag}-sub")
    sub.username_pw_set(*stack.user("bridge"))
    sub.on_message = on_message
    sub.on_subscribe = lambda *a: subscribed.set()
    sub.connect(stack["IIOT_MQTT_HOST"], int(stack["IIOT_MQTT_PORT"]))
    sub.subscribe(f"spBv1.0/{group}/#", qos=1)
    sub.loop_start()
    subscribed.wait(10)
    pub = Publisher(stack, f"{run.tag}-pub")

    async def taken() -> int:
        return received

    try:
        started = time.perf_counter()
        await paced(pub, messages, taken, window, stall_s)
        await asyncio.to_thread(last.wait, 120)
        elapsed = time.perf_counter() - started
    finally:
        pub.close()
        sub.disconnect()
        sub.loop_stop()
    return Result("Mosquitto (paho QoS 1 pub + sub)", load.per_message * received, elapsed, received)


async def kafka_alone(stack: Stack, run: Run, load: Workload, partitions: int) -> tuple[Result, Result]:
    """aiokafka produce (idempotent, acks=all, linger 20 ms) and consume of the bridge's records."""
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from cloud.kafka_bus import ensure_topics, topic_configs

    prefix = f"{run.prefix}.probe"
    _, records = telemetry_records(load.births, load.data, prefix)
    records = [r for r in records if not r.key.startswith(b"node/")]  # heartbeats are not samples
    topic = kafka.prefixed(kafka.TELEMETRY, prefix)
    await ensure_topics(stack.bootstrap, [topic], partitions=partitions, configs=topic_configs(prefix))
    producer = AIOKafkaProducer(
        bootstrap_servers=stack.bootstrap, enable_idempotence=True, acks="all", linger_ms=20
    )
    await producer.start()

    async def send(batch: Sequence[BusRecord]) -> None:
        futures = [
            await producer.send(
                r.topic, r.value, key=r.key, timestamp_ms=r.timestamp_ms, headers=list(r.headers)
            )
            for r in batch
        ]
        await asyncio.gather(*futures)

    warm = len(records) // 10  # a new topic's partitions need leaders first: not timed
    try:
        await send(records[:warm])
        started = time.perf_counter()
        await send(records[warm:])
        produced = time.perf_counter() - started
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=stack.bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        got = 0
        started = time.perf_counter()
        while got < len(records):
            for batch in (await consumer.getmany(timeout_ms=500, max_records=5_000)).values():
                got += len(batch)
        consumed = time.perf_counter() - started
    finally:
        await consumer.stop()
    n = len(records) * load.per_message
    timed = len(records) - warm
    return (
        Result("Kafka produce (aiokafka, acks=all)", timed * load.per_message, produced, timed),
        Result("Kafka consume (aiokafka)", n, consumed, len(records), "no consumer group"),
    )


def influx_alone(stack: Stack, run: Run, load: Workload, batch: int) -> tuple[Result, Result]:
    """Batched synchronous writes: prepared line protocol, and the worker's storage adapter."""
    points = samples_as_points(load)
    lines = line_protocol(points, f"{run.tag}-influx")
    influx = Influx(stack, run.bucket)
    try:
        started = time.perf_counter()
        influx.write_lines(lines, batch)
        raw = time.perf_counter() - started
        stored = influx.count(f"{run.tag}-influx")
        adapter_points = [replace(p, group=f"{run.tag}-storage") for p in points]
        with InfluxStorage(replace(influx.options, batch_size=batch)) as storage:
            started = time.perf_counter()
            storage.write(adapter_points)
            adapter = time.perf_counter() - started
    finally:
        influx.close()
    return (
        Result("InfluxDB write (influxdb-client, line protocol)", len(lines), raw, note=f"{stored} stored"),
        Result(
            "InfluxDB write via cloud.storage (the worker's writer)", len(points), adapter, note="diagnostic"
        ),
    )


async def cleanup(stack: Stack, run: Run) -> None:
    """Delete the run's topics (``<tag>.…``, ``<tag>-…``) and its bucket."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap)
    await admin.start()
    try:
        mine = [t for t in await admin.list_topics() if t.startswith((f"{run.tag}.", f"{run.tag}-"))]
        if mine:
            await admin.delete_topics(mine)
    finally:
        await admin.close()
    influx = Influx(stack, run.bucket)
    try:
        influx.delete()
    finally:
        influx.close()


@contextmanager
def workdir(keep: bool) -> Iterator[Path]:
    """A temporary folder for the services' logs and Faust data (kept with --keep)."""
    path = Path(tempfile.mkdtemp(prefix="cloud-e2e-"))
    yield path
    if not keep:
        import shutil

        shutil.rmtree(path, ignore_errors=True)


def report(results: Sequence[Result], e2e: Result | None) -> None:
    """The table and the two ratios of the issue."""
    print(f"\n{'path':<52} {'samples/s':>12} {'messages/s':>11}  note")
    for r in results:
        msgs = f"{r.messages / r.seconds:,.0f}" if r.messages else "–"
        print(f"{r.name:<52} {r.rate:>12,.0f} {msgs:>11}  {r.note}")
    components = [r for r in results if r is not e2e and r.note != "diagnostic"]
    if e2e is not None:
        print(f"\nend to end / {GOAL:,} goal: {e2e.rate / GOAL:.2f}")
        if components:
            slowest = min(components, key=lambda r: r.rate)
            print(
                f"end to end / slowest component ({slowest.name}): {e2e.rate / slowest.rate:.2f} (goal ≥ 0.5)"
            )


async def main_async(args: argparse.Namespace) -> None:
    """Run the measurements in order: end to end, then each service alone."""
    stack = Stack.load()
    run = Run()
    load = workload(run.group, args.machines, args.samples, args.samples_per_message)
    load_avg = os.getloadavg()
    print(
        f"run {run.tag}: {load.samples:,} samples in {len(load.data):,} DDATA messages of {load.per_message}"
        f" samples, {args.machines} machines, {args.partitions} partitions, {args.workers} worker(s);"
        f" load average {load_avg[0]:.2f} {load_avg[1]:.2f} {load_avg[2]:.2f}",
        flush=True,
    )
    influx = Influx(stack, run.bucket)
    influx.create()
    influx.close()
    results: list[Result] = []
    e2e = None
    with workdir(args.keep) as tmp:
        try:
            if "e2e" in args.only:
                print("end to end ...", flush=True)
                e2e = await end_to_end(stack, run, load, args, tmp)
                results.append(e2e)
            if "mqtt" in args.only:
                print("Mosquitto alone ...", flush=True)
                results.append(await mqtt_alone(stack, run, load, args.window, args.stall))
            if "kafka" in args.only:
                print("Kafka alone ...", flush=True)
                results.extend(await kafka_alone(stack, run, load, args.partitions))
            if "influx" in args.only:
                print("InfluxDB alone ...", flush=True)
                results.extend(await asyncio.to_thread(influx_alone, stack, run, load, args.influx_batch))
        finally:
            if args.keep:
                print(f"kept: topics {run.tag}.*, {run.tag}-*, bucket {run.bucket}, logs in {tmp}")
            else:
                await cleanup(stack, run)
    report(results, e2e)
    end_avg = os.getloadavg()
    print(f"load average at the end: {end_avg[0]:.2f} {end_avg[1]:.2f} {end_avg[2]:.2f}")


def main(argv: Sequence[str] | None = None) -> None:
    """Parse options and run."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--samples", type=int, default=200_000, help="samples in the data messages")
    parser.add_argument("--machines", type=int, default=10, help="devices of the edge node")
    parser.add_argument(
        "--samples-per-message",
        type=int,
        default=100,
        help=f"samples per DDATA (a multiple of {len(CHANNELS)})",
    )
    parser.add_argument("--partitions", type=int, default=4, help="partitions of the run's topics")
    parser.add_argument("--workers", type=int, default=1, help="`iiot cloud worker` processes")
    parser.add_argument("--worker-take", type=int, default=0, help="IIOT_WORKER_TAKE (0: the default)")
    parser.add_argument(
        "--linger-ms", type=int, default=None, help="IIOT_KAFKA_LINGER_MS (default: the services')"
    )
    parser.add_argument("--window", type=int, default=100, help="messages the publisher may run ahead")
    parser.add_argument("--influx-batch", type=int, default=5_000, help="points per write alone")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds to wait for InfluxDB")
    parser.add_argument("--stall", type=float, default=60.0, help="give up after this long without progress")
    parser.add_argument(
        "--only", default="e2e,mqtt,kafka,influx", help="comma separated: e2e, mqtt, kafka, influx"
    )
    parser.add_argument("--keep", action="store_true", help="keep topics, bucket and logs")
    parser.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="run bridge and workers under cProfile, stats to this folder",
    )
    args = parser.parse_args(argv)
    if args.samples_per_message < len(CHANNELS) or args.samples_per_message % len(CHANNELS):
        parser.error(f"--samples-per-message must be a multiple of {len(CHANNELS)}")
    args.only = set(args.only.split(","))
    if args.profile:
        args.profile.mkdir(parents=True, exist_ok=True)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
