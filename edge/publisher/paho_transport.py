"""The `Transport` over paho-mqtt 2.x: one client per connection, callbacks moved onto the event loop.

Paho runs its network loop on its own thread (`loop_start`); every callback is handed to the
asyncio loop with `call_soon_threadsafe`, so the publisher never sees paho's thread. The client
does not reconnect by itself: the publisher makes a new transport (and a new bdSeq) instead.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from edge.errors import ConnectRefused, TransportError
from edge.mqtt_client import connect_properties, new_client
from edge.publisher.session import OutMessage
from edge.publisher.transport import TransportEvents
from edge.settings import MqttSettings

log = logging.getLogger(__name__)

_REFUSALS = {"Bad user name or password", "Not authorized", "Client identifier not valid", "Banned"}


class PahoTransport:
    """One paho connection to the broker in `settings`."""

    def __init__(self, settings: MqttSettings, client_id: str) -> None:
        self._settings = settings
        self._client_id = client_id
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._events: TransportEvents | None = None
        self._connack: asyncio.Future[ReasonCode] | None = None
        self._subacks: dict[int, asyncio.Future[list[ReasonCode]]] = {}
        self._acked: dict[int, asyncio.Future[None]] = {}
        self._connected = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def connect(self, will: OutMessage, subscriptions: Sequence[str], events: TransportEvents) -> None:
        """TCP/TLS connect, CONNECT with the will, wait for the CONNACK, subscribe at QoS 1."""
        loop = asyncio.get_running_loop()
        self._loop, self._events = loop, events
        client = new_client(self._settings, self._client_id, reconnect=False)
        client.will_set(will.topic, will.payload, qos=will.qos, retain=will.retain)
        client.max_inflight_messages_set(max(self._settings.inflight_window, 1) + 16)
        client.max_queued_messages_set(0)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_message = self._on_message
        client.on_subscribe = self._on_subscribe
        self._client = client
        self._connack = loop.create_future()
        s = self._settings
        try:
            await loop.run_in_executor(
                None,
                lambda: client.connect(
                    s.host,
                    s.port,
                    keepalive=s.keepalive_s,
                    properties=connect_properties(s),  # type: ignore[arg-type]
                ),
            )
        except (OSError, ValueError) as exc:
            raise TransportError(f"cannot reach {s.host}:{s.port}: {exc}") from exc
        client.loop_start()
        try:
            reason = await asyncio.wait_for(self._connack, s.connect_timeout_s)
        except TimeoutError as exc:
            await self._stop()
            raise TransportError(f"no CONNACK from {s.host}:{s.port} in {s.connect_timeout_s} s") from exc
        if reason.is_failure:
            await self._stop()
            error = ConnectRefused if str(reason) in _REFUSALS else TransportError
            raise error(f"{s.host}:{s.port} refused the connection: {reason}")
        self._connected = True
        for topic in subscriptions:
            rc, mid = client.subscribe(topic, qos=1)
            if rc != mqtt.MQTT_ERR_SUCCESS or mid is None:
                raise TransportError(f"subscribe {topic} failed: {mqtt.error_string(rc)}")
            future: asyncio.Future[list[ReasonCode]] = loop.create_future()
            self._subacks[mid] = future
            try:
                codes = await asyncio.wait_for(future, s.connect_timeout_s)
            except TimeoutError as exc:
                raise TransportError(f"no SUBACK for {topic}") from exc
            if any(code.is_failure for code in codes):
                raise ConnectRefused(f"subscription to {topic} refused: {[str(c) for c in codes]}")

    def publish(self, message: OutMessage) -> int:
        """Queue a publish with paho; its mid."""
        if self._client is None or not self._connected:
            raise TransportError("publish while not connected")
        info = self._client.publish(message.topic, message.payload, qos=message.qos, retain=message.retain)
        if info.rc != mqtt.MQTT_ERR_SUCCESS:
            raise TransportError(f"publish to {message.topic} failed: {mqtt.error_string(info.rc)}")
        return int(info.mid)

    async def close(self, last: OutMessage | None = None) -> None:
        """Publish `last` and wait (up to the connect timeout) for its PUBACK, then DISCONNECT."""
        client = self._client
        if client is None:
            return
        if last is not None and self._connected and self._loop is not None:
            try:
                info = client.publish(last.topic, last.payload, qos=last.qos, retain=last.retain)
                done: asyncio.Future[None] = self._loop.create_future()
                self._acked[info.mid] = done
                await asyncio.wait_for(done, self._settings.connect_timeout_s)
            except (TimeoutError, RuntimeError, ValueError) as exc:
                log.warning("final message %s not acknowledged: %s", last.topic, exc)
        await self._stop()

    async def _stop(self) -> None:
        client, self._client = self._client, None
        self._connected = False
        if client is None:
            return
        client.disconnect()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, client.loop_stop)

    # ------------------------------------------------------------------ paho thread -> event loop

    def _call(self, fn: Any, *args: Any) -> None:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(fn, *args)

    def _on_connect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self._call(self._set_connack, reason)

    def _set_connack(self, reason: ReasonCode) -> None:
        if self._connack is not None and not self._connack.done():
            self._connack.set_result(reason)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self._call(self._lost, str(reason))

    def _lost(self, reason: str) -> None:
        was_connected = self._connected
        self._connected = False
        if self._connack is not None and not self._connack.done():
            self._connack.set_exception(TransportError(f"connection closed before CONNACK: {reason}"))
        pending: list[asyncio.Future[Any]] = [*self._subacks.values(), *self._acked.values()]
        for future in pending:
            if not future.done():
                future.set_exception(TransportError(f"connection lost: {reason}"))
        if was_connected and self._events is not None:
            self._events.on_lost(reason)

    def _on_publish(self, _c: mqtt.Client, _u: Any, mid: int, _r: ReasonCode, _p: Any) -> None:
        self._call(self._ack, mid)

    def _ack(self, mid: int) -> None:
        future = self._acked.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(None)
        if self._events is not None:
            self._events.on_ack(mid)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self._call(self._message, message.topic, bytes(message.payload))

    def _message(self, topic: str, payload: bytes) -> None:
        if self._events is not None:
            self._events.on_message(topic, payload)

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, mid: int, codes: list[ReasonCode], _p: Any) -> None:
        self._call(self._suback, mid, list(codes))

    def _suback(self, mid: int, codes: list[ReasonCode]) -> None:
        future = self._subacks.pop(mid, None)
        if future is not None and not future.done():
            future.set_result(codes)
