"""The Sparkplug edge node service: outbox in, MQTT out, reconnecting, replaying what was not acknowledged.

Flow of one message: `send_data`/`send_raw` stores it in the outbox (durably) and wakes the
sender; the sender, while the session is online and fewer than `window` messages await their
PUBACK, reads the next messages in id order, encodes them (Sparkplug DATA gets the session's
next seq and aliases; messages queued before the current birth are flagged historical) and
hands them to the transport; each PUBACK deletes its message. When the connection drops, what
was not acknowledged stays in the outbox and goes out again, in order, after the next births.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self, TypeVar

from edge.errors import ConnectRefused, OutboxError, TransportError
from edge.outbox import MessageKind, NewMessage, Outbox, StoredMessage
from edge.outbox_policy import Priority, is_historical
from edge.publisher.session import EdgeNodeSession, OutMessage, Reaction
from edge.publisher.transport import Transport
from proto.errors import ContractError
from proto.sparkplug import Metric, decode_payload, encode_ndata

log = logging.getLogger(__name__)

BD_SEQ_KEY = "sparkplug.bd_seq"
T = TypeVar("T")


def backoff_delay(attempt: int, minimum: float, maximum: float, jitter: float = 0.2) -> float:
    """Exponential backoff: minimum * 2**attempt, capped at maximum, with ± jitter share."""
    base = min(maximum, minimum * (2 ** min(attempt, 30)))
    return max(0.0, base * (1 + jitter * (2 * random.random() - 1)))


def encode_metrics(metrics: Sequence[Metric], timestamp: int) -> bytes:
    """How Sparkplug metrics sit in the outbox: a payload with names and data types, no seq."""
    return encode_ndata(metrics, seq=0, timestamp=timestamp, include_datatypes=True)


@dataclass(frozen=True, slots=True)
class PublisherConfig:
    """Flow control and reconnect timing."""

    window: int = 32
    reconnect_min_s: float = 0.5
    reconnect_max_s: float = 30.0
    refused_min_s: float = 10.0
    expire_every_s: float = 60.0


class SparkplugPublisher:
    """Runs the edge node: connection loop, sender, acknowledgements. Use as an async context manager."""

    def __init__(
        self,
        session: EdgeNodeSession,
        outbox: Outbox,
        transport_factory: Callable[[], Transport],
        config: PublisherConfig = PublisherConfig(),
        *,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.session = session
        self.outbox = outbox
        self.config = config
        self._factory = transport_factory
        self._clock = clock_ms
        self._db = ThreadPoolExecutor(1, thread_name_prefix="outbox")
        self._wake = asyncio.Event()
        self._closing = asyncio.Event()
        self._lost = asyncio.Event()
        self._end_gracefully = False
        self._transport: Transport | None = None
        self._inflight: dict[int, int] = {}  # mid -> outbox id
        self._cursor = 0
        self._birth_cursor: int | None = None
        self._last_id = 0
        self._acks: list[int] = []
        self._ack_task: asyncio.Task[None] | None = None
        self._task: asyncio.Task[None] | None = None
        self.connected_once = asyncio.Event()
        self.stats = {"published": 0, "acked": 0, "connects": 0, "births": 0, "replayed": 0}

    # ------------------------------------------------------------------ lifecycle

    async def __aenter__(self) -> Self:
        stored = await self._run_db(self.outbox.get_int, BD_SEQ_KEY)
        if stored is not None and self.session.bd_seq is None:
            self.session.bd_seq = stored
        self._last_id = await self._run_db(self.outbox.last_id)
        self._task = asyncio.create_task(self._run(), name="sparkplug-publisher")
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def close(self) -> None:
        """Publish the NDEATH, disconnect, flush acknowledgements; undelivered messages stay stored."""
        self._closing.set()
        self._wake.set()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._flush_acks()
        self._db.shutdown(wait=True)

    async def drain(self, within_s: float) -> bool:
        """Wait until every stored message is acknowledged; False if that takes longer than within_s."""
        deadline = asyncio.get_running_loop().time() + within_s
        while self.outbox.total.messages or self._inflight or self._acks:
            if asyncio.get_running_loop().time() > deadline:
                return False
            await asyncio.sleep(0.05)
        return True

    @property
    def online(self) -> bool:
        """True while births are out and the connection is up."""
        return self.session.online and not self._lost.is_set() and self._transport is not None

    @property
    def inflight(self) -> int:
        """Messages handed to MQTT and not yet acknowledged."""
        return len(self._inflight)

    # ------------------------------------------------------------------ producers

    async def send_data(
        self, device_id: str | None, metrics: Sequence[Metric], priority: Priority = Priority.TELEMETRY
    ) -> None:
        """Queue Sparkplug metrics of the node (None) or a device; they become NDATA/DDATA."""
        if not metrics:
            return
        self.session.catalog.update(device_id, metrics)
        body = encode_metrics(metrics, self._clock())
        await self._append([NewMessage(priority, MessageKind.SPARKPLUG, device_id or "", body)])

    async def send_device_death(self, device_id: str) -> None:
        """Queue a DDEATH for a device whose source is lost; its next DATA goes out after a DBIRTH.

        It waits in the outbox like data (ALARM priority: never dropped), so it reaches the broker
        after the device's DATA queued before it, and a replay after a reconnect keeps that order.
        """
        await self._append([NewMessage(Priority.ALARM, MessageKind.DEVICE_DEATH, device_id, b"")])

    async def send_raw(self, topic: str, payload: bytes, priority: Priority = Priority.EVENT) -> None:
        """Queue a non-Sparkplug message (a detection event) for its topic."""
        await self._append([NewMessage(priority, MessageKind.MQTT, topic, payload)])

    async def _append(self, messages: list[NewMessage]) -> None:
        ids = await self._run_db(self.outbox.append, messages)
        if ids:
            self._last_id = max(self._last_id, ids[-1])
        self._wake.set()

    # ------------------------------------------------------------------ connection loop

    async def _run(self) -> None:
        attempt = 0
        expire = asyncio.create_task(self._expire_loop())
        try:
            while not self._closing.is_set():
                transport = self._factory()
                will = self.session.start()
                await self._run_db(self.outbox.set_int, BD_SEQ_KEY, self.session.bd_seq or 0)
                self._lost.clear()
                self._end_gracefully = False
                try:
                    await transport.connect(will, self.session.subscriptions(), self)
                except TransportError as exc:
                    await transport.close()
                    minimum = self.config.refused_min_s if isinstance(exc, ConnectRefused) else 0.0
                    delay = max(
                        minimum,
                        backoff_delay(attempt, self.config.reconnect_min_s, self.config.reconnect_max_s),
                    )
                    attempt += 1
                    log.warning("MQTT connect failed (%s); retrying in %.1f s", exc, delay)
                    await self._sleep_unless_closing(delay)
                    continue
                attempt = 0
                self._transport = transport
                self.stats["connects"] += 1
                self.connected_once.set()
                log.info("connected, bdSeq %s", self.session.bd_seq)
                sender = asyncio.create_task(self._send_loop(transport))
                self._react(self.session.connected())
                await self._wait_lost_or_closing()
                sender.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await sender
                if self._end_gracefully or (self._closing.is_set() and not self._lost.is_set()):
                    await transport.close(self.session.death())
                else:
                    self.session.lost()
                    await transport.close()
                self._transport = None
                self._inflight.clear()
                self._cursor = 0
                self._birth_cursor = None
        finally:
            expire.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await expire

    async def _wait_lost_or_closing(self) -> None:
        lost = asyncio.create_task(self._lost.wait())
        closing = asyncio.create_task(self._closing.wait())
        await asyncio.wait({lost, closing}, return_when=asyncio.FIRST_COMPLETED)
        for task in (lost, closing):
            task.cancel()

    async def _sleep_unless_closing(self, delay: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closing.wait(), delay)

    async def _expire_loop(self) -> None:
        while True:
            await asyncio.sleep(self.config.expire_every_s)
            try:
                await self._run_db(self.outbox.expire)
            except OutboxError as exc:
                log.error("outbox expiry failed: %s", exc)

    # ------------------------------------------------------------------ sender

    async def _send_loop(self, transport: Transport) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while self.session.online and not self._lost.is_set():
                room = self.config.window - len(self._inflight)
                if room <= 0:
                    break
                batch = await self._run_db(self.outbox.after, self._cursor, room)
                if not batch or self._lost.is_set() or not self.session.online:
                    break
                for stored in batch:
                    self._cursor = stored.id
                    try:
                        messages = self._encode(stored)
                    except ContractError as exc:
                        log.error("dropping undecodable outbox message %d: %s", stored.id, exc)
                        messages = ()
                    if not messages:  # nothing to send (a death of a device not born): done with it
                        self._done(stored.id)
                        continue
                    try:
                        for message in messages[:-1]:
                            transport.publish(message)
                        mid = transport.publish(messages[-1])
                    except TransportError as exc:
                        self.on_lost(str(exc))
                        return
                    self._inflight[mid] = stored.id
                    self.stats["published"] += 1

    def _encode(self, stored: StoredMessage) -> tuple[OutMessage, ...]:
        if stored.kind is MessageKind.MQTT:
            return (OutMessage(stored.target, stored.body),)
        if stored.kind is MessageKind.DEVICE_DEATH:
            return self.session.device_death(stored.target)
        payload = decode_payload(stored.body)
        historical = is_historical(stored.id, self._birth_cursor)
        if historical:
            self.stats["replayed"] += 1
        return self.session.data(stored.target or None, payload.metrics, historical=historical)

    def _react(self, reaction: Reaction) -> None:
        transport = self._transport
        if transport is None:
            return
        births = False
        try:
            for message in reaction.publish:
                transport.publish(message)
                births = births or "/NBIRTH/" in message.topic
        except TransportError as exc:
            self.on_lost(str(exc))
            return
        if births:
            self._birth_cursor = self._last_id
            self.stats["births"] += 1
        if reaction.disconnect:
            self._end_gracefully = True
            self._lost.set()
        self._wake.set()

    # ------------------------------------------------------------------ TransportEvents

    def on_message(self, topic: str, payload: bytes) -> None:
        """A command or STATE: let the session decide."""
        self._react(self.session.on_message(topic, payload))

    def on_ack(self, mid: int) -> None:
        """A PUBACK: the message may leave the outbox."""
        message_id = self._inflight.pop(mid, None)
        if message_id is None:
            return  # a birth or the will
        self.stats["acked"] += 1
        self._done(message_id)
        self._wake.set()

    def _done(self, message_id: int) -> None:
        """The stored message may leave the outbox."""
        self._acks.append(message_id)
        if self._ack_task is None or self._ack_task.done():
            self._ack_task = asyncio.create_task(self._flush_acks())

    def on_lost(self, reason: str) -> None:
        """The connection dropped."""
        if not self._lost.is_set():
            log.warning("MQTT connection lost: %s", reason)
        self._lost.set()
        self.session.lost()

    async def _flush_acks(self) -> None:
        while self._acks:
            ids, self._acks = self._acks, []
            try:
                await self._run_db(self.outbox.ack, ids)
            except OutboxError as exc:
                log.error("outbox ack failed (will resend %d messages later): %s", len(ids), exc)

    async def _run_db(self, fn: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._db, fn, *args)
