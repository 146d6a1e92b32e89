"""Thin paho-mqtt 2.x adapter: publishes the twin's batches, truth and frames like PLC gateways and cameras.

QoS 1 by default, user name and password, optional TLS with a CA file. paho's errors become
``PublishError`` with ``retriable`` set, so callers never inspect paho types.
"""

from __future__ import annotations

import logging
import ssl
import threading
import uuid
from collections import defaultdict
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from simulators.errors import PublishError
from simulators.records import MachineBatch, TwinEvent
from simulators.runner import CameraCapture
from simulators.settings import TwinSettings
from simulators.wire import Outgoing, frame_outgoing, sensor_outgoing

log = logging.getLogger(__name__)


class MqttTwinPublisher:
    """A ``TwinSink`` that publishes to an MQTT broker; use it as a context manager."""

    def __init__(self, settings: TwinSettings) -> None:
        self.settings = settings
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"{settings.mqtt_client_id}-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
        )
        if settings.mqtt_username:
            password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
            self.client.username_pw_set(settings.mqtt_username, password)
        if settings.mqtt_tls:
            cafile = str(settings.mqtt_ca_file) if settings.mqtt_ca_file else None
            self.client.tls_set_context(ssl.create_default_context(cafile=cafile))
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self._connected = threading.Event()
        self._answered = threading.Event()
        self._closing = False
        self._refused: str | None = None
        self._seq: defaultdict[str, int] = defaultdict(int)
        self._maintained: set[str] = set()
        self._last_info: mqtt.MQTTMessageInfo | None = None
        self.published = 0

    def _on_connect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            self._refused = str(reason)
        else:
            self._connected.set()
        self._answered.set()
        log.info("mqtt connect %s:%s -> %s", self.settings.mqtt_host, self.settings.mqtt_port, reason)

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        self._connected.clear()
        if self._closing:
            log.info("mqtt disconnected (%s)", reason)
        else:
            log.warning("mqtt disconnected (%s); paho reconnects", reason)

    def __enter__(self) -> MqttTwinPublisher:
        s = self.settings
        try:
            self.client.connect(s.mqtt_host, s.mqtt_port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise PublishError(
                f"cannot connect to MQTT {s.mqtt_host}:{s.mqtt_port}: {exc}", retriable=True
            ) from exc
        self.client.loop_start()
        self._answered.wait(s.mqtt_connect_timeout_s)
        if not self._connected.is_set() or self._refused:
            self.client.loop_stop()
            why = (
                f"refused: {self._refused}" if self._refused else f"no CONNACK in {s.mqtt_connect_timeout_s}s"
            )
            raise PublishError(f"MQTT {s.mqtt_host}:{s.mqtt_port} {why}", retriable=self._refused is None)
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if self._last_info is not None and self._connected.is_set():
                self._last_info.wait_for_publish(timeout=self.settings.mqtt_connect_timeout_s)
        except (RuntimeError, ValueError) as err:
            log.warning("last publish not confirmed: %s", err)
        finally:
            self._closing = True
            self.client.disconnect()
            self.client.loop_stop()

    def _send(self, messages: list[Outgoing]) -> None:
        for message in messages:
            info = self.client.publish(message.topic, message.payload, qos=self.settings.mqtt_qos)
            if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
                raise PublishError(
                    f"publish to {message.topic} failed: {mqtt.error_string(info.rc)}", retriable=True
                )
            self._last_info = info
            self.published += 1

    def _next(self, key: str) -> int:
        self._seq[key] += 1
        return self._seq[key]

    def sensors(self, batch: MachineBatch) -> None:
        """Publish a machine's sensor batch and its ground truth."""
        maintenance = batch.machine_id in self._maintained
        self._maintained.discard(batch.machine_id)
        self._send(sensor_outgoing(batch, self._next(batch.machine_id), maintenance))

    def frame(self, capture: CameraCapture) -> None:
        """Publish a camera frame and its labels."""
        self._send(frame_outgoing(capture, self._next(capture.camera_id), self.settings.jpeg_quality))

    def event(self, event: TwinEvent) -> None:
        """Remember maintenance so the next ground truth of the machine carries it."""
        if event.kind == "maintenance" and event.machine_id:
            self._maintained.add(event.machine_id)
