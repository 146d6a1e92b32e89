"""The publisher against a fake transport: outbox first, window, PUBACK deletes, replay after loss, will."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from pathlib import Path

from edge.errors import TransportError
from edge.outbox import Outbox
from edge.outbox_policy import OutboxLimits, Priority
from edge.publisher.metric_map import DeviceCatalog
from edge.publisher.node import PublisherConfig, SparkplugPublisher, backoff_delay
from edge.publisher.session import EdgeNodeSession, OutMessage
from edge.publisher.transport import TransportEvents
from proto.sparkplug import DataType, MessageType, Metric, decode_message, encode_rebirth_request, parse_topic


class FakeBroker:
    """Collects what every connection published; acks on demand; fails connects on demand."""

    def __init__(self) -> None:
        self.published: list[tuple[int, OutMessage]] = []  # (connection number, message)
        self.wills: list[OutMessage] = []
        self.refuse = 0
        self.auto_ack = True
        self.connections: list[FakeTransport] = []


class FakeTransport:
    def __init__(self, broker: FakeBroker) -> None:
        self.broker = broker
        self.events: TransportEvents | None = None
        self.unacked: list[int] = []
        self.mid = 0
        self.closed_with: OutMessage | None = None
        self.alive = False

    async def connect(self, will: OutMessage, subscriptions: Sequence[str], events: TransportEvents) -> None:
        self.broker.wills.append(will)
        if self.broker.refuse:
            self.broker.refuse -= 1
            raise TransportError("refused")
        self.events, self.alive = events, True
        self.broker.connections.append(self)

    def publish(self, message: OutMessage) -> int:
        if not self.alive:
            raise TransportError("not connected")
        self.mid += 1
        self.broker.published.append((len(self.broker.connections), message))
        if self.broker.auto_ack or "BIRTH/" in message.topic:
            asyncio.get_running_loop().call_soon(self.ack, self.mid)
        else:
            self.unacked.append(self.mid)
        return self.mid

    def ack(self, mid: int) -> None:
        if self.alive and self.events is not None:
            self.events.on_ack(mid)

    def drop(self) -> None:
        self.alive = False
        if self.events is not None:
            self.events.on_lost("test")

    async def close(self, last: OutMessage | None = None) -> None:
        self.closed_with = last
        self.alive = False


def make_publisher(tmp_path: Path, broker: FakeBroker, window: int = 4) -> SparkplugPublisher:
    outbox = Outbox(tmp_path / "o.sqlite", OutboxLimits(10_000, 1 << 24, 10**9), synchronous="NORMAL")
    session = EdgeNodeSession("plant", "edge-1", DeviceCatalog())
    config = PublisherConfig(window=window, reconnect_min_s=0.01, reconnect_max_s=0.02, refused_min_s=0.01)
    return SparkplugPublisher(session, outbox, lambda: FakeTransport(broker), config)


def temp(i: int) -> list[Metric]:
    return [Metric("temperature_c", DataType.DOUBLE, float(i), timestamp=1000 + i)]


def data_values(broker: FakeBroker) -> list[tuple[int, float, bool]]:
    out: list[tuple[int, float, bool]] = []
    for connection, message in broker.published:
        topic = parse_topic(message.topic)
        if getattr(topic, "message_type", None) is MessageType.DDATA:
            payload = decode_message(MessageType.DDATA, message.payload)
            out.extend((connection, float(m.value), m.is_historical) for m in payload.metrics)  # type: ignore[arg-type]
    return out


def kinds(broker: FakeBroker) -> list[str]:
    return [str(getattr(parse_topic(m.topic), "message_type", "STATE")) for _, m in broker.published]


async def until(predicate: Callable[[], object], within_s: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + within_s
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached"
        await asyncio.sleep(0.005)


async def test_births_then_data_in_order_and_acks_empty_the_outbox(tmp_path: Path) -> None:
    broker = FakeBroker()
    async with make_publisher(tmp_path, broker) as publisher:
        await until(lambda: publisher.online)
        for i in range(10):
            await publisher.send_data("m1", temp(i))
        assert await publisher.drain(5)
    assert kinds(broker)[:2] == ["NBIRTH", "DBIRTH"]
    assert [v for _, v, _ in data_values(broker)] == [float(i) for i in range(10)]
    assert not any(h for _, _, h in data_values(broker))
    seqs = [
        decode_message(MessageType(k), m.payload).seq
        for k, (_, m) in zip(kinds(broker), broker.published, strict=True)
    ]
    assert seqs == list(range(len(seqs)))
    assert publisher.outbox.total.messages == 0
    last = broker.connections[-1].closed_with
    assert last is not None
    assert "/NDEATH/" in last.topic


async def test_window_bounds_unacknowledged_messages(tmp_path: Path) -> None:
    broker = FakeBroker()
    broker.auto_ack = False
    async with make_publisher(tmp_path, broker, window=3) as publisher:
        for i in range(10):
            await publisher.send_data("m1", temp(i))
        await until(lambda: len(data_values(broker)) == 3)
        await asyncio.sleep(0.05)
        assert len(data_values(broker)) == 3
        assert publisher.inflight == 3
        assert publisher.outbox.total.messages == 10  # written before publishing, deleted on PUBACK
        transport = broker.connections[-1]
        for mid in list(transport.unacked):
            transport.unacked.remove(mid)
            transport.ack(mid)
        await until(lambda: len(data_values(broker)) == 6)


async def test_connection_loss_replays_unacked_in_order_flagged_historical(tmp_path: Path) -> None:
    broker = FakeBroker()
    broker.auto_ack = False
    async with make_publisher(tmp_path, broker, window=4) as publisher:
        for i in range(6):
            await publisher.send_data("m1", temp(i))
        await until(lambda: len(data_values(broker)) == 4)
        first = broker.connections[-1]
        first.ack(first.unacked.pop(0))  # value 0 delivered
        await until(lambda: len(data_values(broker)) == 5)
        broker.auto_ack = True
        first.drop()
        await until(lambda: len(broker.connections) == 2)
        await publisher.send_data("m1", temp(6))
        assert await publisher.drain(5)
    second = [(v, h) for c, v, h in data_values(broker) if c == 2]
    assert second == [(1.0, True), (2.0, True), (3.0, True), (4.0, True), (5.0, True), (6.0, False)]
    bd = [decode_message(MessageType.NDEATH, w.payload).bd_seq for w in broker.wills]
    assert bd == [0, 1]


async def test_reconnects_after_refusals_and_keeps_bd_seq_across_restarts(tmp_path: Path) -> None:
    broker = FakeBroker()
    broker.refuse = 2
    async with make_publisher(tmp_path, broker) as publisher:
        await publisher.send_data("m1", temp(1))
        assert await publisher.drain(5)
    async with make_publisher(tmp_path, broker) as publisher:
        await until(lambda: len(broker.connections) == 2)
    bd = [decode_message(MessageType.NDEATH, w.payload).bd_seq for w in broker.wills]
    assert bd == [0, 1, 2, 3]  # every CONNECT takes the next bdSeq, also after a restart


async def test_rebirth_request_republishes_births(tmp_path: Path) -> None:
    broker = FakeBroker()
    async with make_publisher(tmp_path, broker) as publisher:
        await publisher.send_data("m1", temp(1))
        assert await publisher.drain(5)
        publisher.on_message("spBv1.0/plant/NCMD/edge-1", encode_rebirth_request(timestamp=1))
        await publisher.send_data("m1", temp(2), Priority.ALARM)
        assert await publisher.drain(5)
    assert kinds(broker) == ["NBIRTH", "DBIRTH", "DDATA", "NBIRTH", "DBIRTH", "DDATA"]
    assert data_values(broker)[-1] == (1, 2.0, False)


async def test_raw_messages_pass_through(tmp_path: Path) -> None:
    broker = FakeBroker()
    async with make_publisher(tmp_path, broker) as publisher:
        await publisher.send_raw("iiot/v1/plant/edge-1/cam1/detections", b"event")
        assert await publisher.drain(5)
    assert (1, OutMessage("iiot/v1/plant/edge-1/cam1/detections", b"event")) in broker.published


def test_backoff_grows_and_caps() -> None:
    delays = [backoff_delay(a, 0.5, 4.0, jitter=0.0) for a in range(6)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert 0.4 <= backoff_delay(0, 0.5, 4.0) <= 0.6


WALL, TWIN = 1_000, 1_000 + 4 * 3_600_000  # a twin four hours ahead of the edge's wall clock


async def test_metrics_keep_their_event_time_through_the_outbox_and_a_replay(tmp_path: Path) -> None:
    broker = FakeBroker()
    broker.auto_ack = False
    outbox = Outbox(tmp_path / "o.sqlite", OutboxLimits(10_000, 1 << 24, 10**9), synchronous="NORMAL")
    session = EdgeNodeSession("plant", "edge-1", DeviceCatalog(), clock_ms=lambda: WALL)
    config = PublisherConfig(window=8, reconnect_min_s=0.01, reconnect_max_s=0.02)
    async with SparkplugPublisher(session, outbox, lambda: FakeTransport(broker), config) as publisher:
        for i in range(3):
            sample = Metric("temperature_c", DataType.DOUBLE, float(i), timestamp=TWIN + 1_000 * i)
            await publisher.send_data("m1", [sample])
        await until(lambda: len(data_values(broker)) == 3)
        broker.auto_ack = True
        broker.connections[-1].drop()  # nothing acknowledged: all three go out again
        await until(lambda: len(broker.connections) == 2)
        assert await publisher.drain(5)
    sent = [
        (kind, connection, decode_message(MessageType(kind), message.payload))
        for kind, (connection, message) in zip(kinds(broker), broker.published, strict=True)
    ]
    assert {payload.timestamp for _, _, payload in sent} == {WALL}  # built on the edge's clock
    ddata = [(c, m.timestamp, m.is_historical) for k, c, p in sent if k == "DDATA" for m in p.metrics]
    stamps = [TWIN, TWIN + 1_000, TWIN + 2_000]
    assert [(c, t) for c, t, _ in ddata] == [(1, t) for t in stamps] + [(2, t) for t in stamps]
    assert all(historical for c, _, historical in ddata if c == 2)
    # the second connection's DBIRTH carries the newest value at its sample time
    (dbirth,) = [p for k, c, p in sent if c == 2 and k == "DBIRTH"]
    assert [(m.value, m.timestamp) for m in dbirth.metrics] == [(2.0, TWIN + 2_000)]


def counters(i: int) -> list[Metric]:
    return [Metric("frames/processed", DataType.UINT64, i, timestamp=TWIN + i)]


def devices(broker: FakeBroker, connection: int | None = None) -> list[tuple[str, str | None]]:
    return [
        (kind, getattr(parse_topic(m.topic), "device_id", None))
        for kind, (c, m) in zip(kinds(broker), broker.published, strict=True)
        if connection is None or c == connection
    ]


async def test_device_death_goes_out_in_order_and_data_births_the_device_again(tmp_path: Path) -> None:
    broker = FakeBroker()
    async with make_publisher(tmp_path, broker) as publisher:
        await publisher.send_data("cam-1", counters(1))
        await publisher.send_device_death("cam-1")
        await publisher.send_device_death("cam-9")  # never born: nothing to publish, and done with
        await publisher.send_data("cam-1", counters(2))
        assert await publisher.drain(5)
        assert publisher.outbox.total.messages == 0
    assert devices(broker) == [
        ("NBIRTH", None),
        ("DBIRTH", "cam-1"),
        ("DDATA", "cam-1"),
        ("DDEATH", "cam-1"),
        ("DBIRTH", "cam-1"),
        ("DDATA", "cam-1"),
    ]
    seqs = [
        decode_message(MessageType(k), m.payload).seq
        for k, (_, m) in zip(kinds(broker), broker.published, strict=True)
    ]
    assert seqs == list(range(6))


async def test_a_dead_device_is_not_born_again_by_a_reconnect(tmp_path: Path) -> None:
    broker = FakeBroker()
    async with make_publisher(tmp_path, broker) as publisher:
        await publisher.send_data("cam-1", counters(1))
        await publisher.send_device_death("cam-1")
        assert await publisher.drain(5)
        broker.connections[-1].drop()
        await until(lambda: len(broker.connections) == 2 and publisher.online)
        assert devices(broker, 2) == [("NBIRTH", None)]
        await publisher.send_data("cam-1", counters(2))
        assert await publisher.drain(5)
    assert devices(broker, 2) == [("NBIRTH", None), ("DBIRTH", "cam-1"), ("DDATA", "cam-1")]


async def test_a_death_queued_while_offline_follows_the_replayed_data(tmp_path: Path) -> None:
    broker = FakeBroker()
    broker.refuse = 1_000  # the broker is away while the camera is lost
    async with make_publisher(tmp_path, broker) as publisher:
        await publisher.send_data("cam-1", counters(1))
        await publisher.send_device_death("cam-1")
        broker.refuse = 0
        await until(lambda: publisher.online)
        assert await publisher.drain(5)
    assert devices(broker) == [("NBIRTH", None), ("DBIRTH", "cam-1"), ("DDATA", "cam-1"), ("DDEATH", "cam-1")]
