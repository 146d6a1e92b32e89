"""An asyncio front for paho-mqtt: subscribe, receive with backpressure, acknowledge after use, publish.

paho runs its network loop on its own thread; received messages cross into asyncio through a
bounded queue, and the paho thread waits while the queue is full, so a slow consumer slows the
broker instead of growing memory. QoS 1 messages are acknowledged only when the caller says they
are safely handled (``ack``), so a crash before that gets them redelivered by the broker.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import threading
from collections.abc import Sequence
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from typing import Any

from cloud.errors import BusRejected, BusUnavailable

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class MqttWill:
    """The message the broker publishes for us when the connection drops."""

    topic: str
    payload: bytes
    qos: int = 1
    retain: bool = False


@dataclass(frozen=True, slots=True)
class MqttOptions:
    """Connection options (a value object built from the service's settings)."""

    host: str = "127.0.0.1"
    port: int = 1883
    username: str = ""
    password: str = ""
    client_id: str = ""
    tls: bool = False
    ca_file: str = ""
    keepalive_s: int = 30
    session_expiry_s: int = 0
    queue_size: int = 10_000
    protocol: str = "5"  # "5", or "3.1.1" for brokers without MQTT 5 (the demo's embedded amqtt)
    will: MqttWill | None = None


@dataclass(frozen=True, slots=True)
class MqttMessage:
    """One received message; ``mid``/``qos`` are what ``ack`` needs."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool = False


class MqttClient:
    """Async context manager around one paho client (MQTT 5)."""

    def __init__(self, options: MqttOptions, subscriptions: Sequence[str] = (), qos: int = 1) -> None:
        import paho.mqtt.client as paho

        self.options = options
        self.subscriptions = tuple(subscriptions)
        self.qos = qos
        self._paho = paho
        self._v5 = options.protocol != "3.1.1"
        self._client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=options.client_id,
            clean_session=None if self._v5 else not options.session_expiry_s,
            protocol=paho.MQTTv5 if self._v5 else paho.MQTTv311,
            manual_ack=True,
        )
        if options.username:
            self._client.username_pw_set(options.username, options.password or None)
        if options.will is not None:
            w = options.will
            self._client.will_set(w.topic, w.payload, qos=w.qos, retain=w.retain)
        if options.tls:
            self._client.tls_set(ca_certs=options.ca_file or None, cert_reqs=ssl.CERT_REQUIRED)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._queue: asyncio.Queue[MqttMessage] = asyncio.Queue(options.queue_size)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        self._failure: str | None = None
        self._closing = False

    async def __aenter__(self) -> MqttClient:
        self._loop = asyncio.get_running_loop()
        props = None
        if self.options.session_expiry_s and self._v5:
            from paho.mqtt.packettypes import PacketTypes
            from paho.mqtt.properties import Properties

            props = Properties(PacketTypes.CONNECT)
            props.SessionExpiryInterval = self.options.session_expiry_s
        v5_args: dict[str, Any] = (
            {"clean_start": not self.options.session_expiry_s, "properties": props} if self._v5 else {}
        )
        try:
            self._client.connect(
                self.options.host, self.options.port, keepalive=self.options.keepalive_s, **v5_args
            )
        except OSError as exc:
            raise BusUnavailable(
                f"MQTT broker {self.options.host}:{self.options.port} unreachable: {exc}"
            ) from exc
        self._client.loop_start()
        ready = await asyncio.to_thread(self._connected.wait, 15.0)
        if self._failure:
            await self.__aexit__(None, None, None)
            raise BusRejected(f"MQTT connect refused: {self._failure}")
        if not ready:
            await self.__aexit__(None, None, None)
            raise BusUnavailable(f"MQTT broker {self.options.host}:{self.options.port} did not answer")
        if self.subscriptions:
            await asyncio.to_thread(self._subscribed.wait, 15.0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._closing = True
        self._client.disconnect()
        await asyncio.to_thread(self._client.loop_stop)

    async def get(self, wait_s: float | None = None) -> MqttMessage | None:
        """The next message, or None after ``wait_s`` seconds."""
        try:
            return await asyncio.wait_for(self._queue.get(), wait_s)
        except TimeoutError:
            return None

    def get_nowait(self) -> MqttMessage | None:
        """A message if one is waiting."""
        try:
            return self._queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def ack(self, message: MqttMessage) -> None:
        """Acknowledge a QoS 1/2 message once it is safely handled."""
        if message.qos > 0:
            self._client.ack(message.mid, message.qos)

    async def publish(self, topic: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        """Publish and wait until the broker has it (QoS 1)."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        if info.rc != self._paho.MQTT_ERR_SUCCESS:
            raise BusUnavailable(f"MQTT publish to {topic} failed: {self._paho.error_string(info.rc)}")
        if qos:
            await asyncio.to_thread(info.wait_for_publish, 10.0)

    # ----------------------------------------------------------------- paho thread

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if reason.is_failure:
            self._failure = str(reason)
            self._connected.set()
            return
        log.info("MQTT connected to %s:%s", self.options.host, self.options.port)
        if self.subscriptions:
            client.subscribe([(s, self.qos) for s in self.subscriptions])
        self._connected.set()

    def _on_subscribe(self, *args: Any) -> None:
        self._subscribed.set()

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, properties: Any) -> None:
        if not self._closing:
            log.warning("MQTT disconnected (%s); paho reconnects", reason)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        message = MqttMessage(msg.topic, bytes(msg.payload), msg.qos, msg.mid, bool(msg.retain))
        loop = self._loop
        if loop is None or self._closing:
            return
        future = asyncio.run_coroutine_threadsafe(self._queue.put(message), loop)
        while not self._closing:  # backpressure: hold paho's thread while the queue is full
            try:
                future.result(timeout=1.0)
                return
            except FutureTimeout:
                continue
        future.cancel()
