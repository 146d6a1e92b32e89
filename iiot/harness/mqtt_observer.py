"""Thin paho-mqtt 2.x adapter: the harness's ears on the broker, with the wall time of every arrival.

As the stack's ``harness`` user (read ``#``) it follows the run's Sparkplug group (node births and
deaths: readiness and restarts), the agents' detection events (with their boxes, which storage
does not keep) and the twin's ground-truth topics (a count, to check the truth stream is
delivered). It keeps a persistent session (clean_session off, QoS 1), so a broker restart does not
lose what was published while the harness reconnected.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from types import TracebackType
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from iiot.harness.errors import ObservationError
from iiot.harness.records import Box, FrameDetections
from proto import codec
from proto.errors import DecodeError
from proto.messages import DetectionEvent
from proto.topics import detections_filter, truth_filter

log = logging.getLogger(__name__)


def detections_of(event: DetectionEvent, seen_wall: float) -> FrameDetections:
    """A detection event as the record the scorer takes."""
    boxes = tuple(
        Box(d.class_name, d.box.x1, d.box.y1, d.box.x2, d.box.y2, float(d.score)) for d in event.detections
    )
    return FrameDetections(event.camera_id, int(event.timestamp_ms), boxes, event.edge_node, seen_wall)


class MqttObserver:
    """Subscribes to the run's Sparkplug group, detections and the twin's truth; a context manager."""

    def __init__(
        self,
        host: str,
        port: int,
        username: str,
        password: str,
        *,
        group_id: str,
        site_ids: tuple[str, ...],
        client_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.host, self.port = host, port
        self.group_id = group_id
        self.filters = [
            f"spBv1.0/{group_id}/NBIRTH/+",
            f"spBv1.0/{group_id}/NDEATH/+",
            detections_filter(group_id=group_id),
            *(truth_filter(site) for site in site_ids),
        ]
        self._clock = clock
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id or f"iiot-harness-{uuid.uuid4().hex[:8]}",
            clean_session=False,
            protocol=mqtt.MQTTv311,
        )
        self.client.username_pw_set(username, password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.births: list[tuple[str, float]] = []
        self.deaths: list[tuple[str, float]] = []
        self.detections: list[FrameDetections] = []
        self.truth_messages: Counter[str] = Counter()
        self.undecodable = 0
        self.reconnects = 0

    def _on_connect(self, client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        if reason.is_failure:
            log.warning("harness MQTT connect refused: %s", reason)
            return
        for topic_filter in self.filters:
            client.subscribe(topic_filter, qos=1)
        if self._connected.is_set():
            self.reconnects += 1
        self._connected.set()

    def _on_disconnect(self, _client: Any, _userdata: Any, _flags: Any, reason: Any, _props: Any) -> None:
        log.info("harness MQTT disconnected (%s)", reason)

    def _on_message(self, _client: Any, _userdata: Any, message: Any) -> None:
        now = self._clock()
        parts = message.topic.split("/")
        with self._lock:
            if parts[0] == "spBv1.0" and len(parts) == 4:
                (self.births if parts[2] == "NBIRTH" else self.deaths).append((parts[3], now))
            elif parts[0] == "iiot":
                try:
                    self.detections.append(detections_of(codec.decode(DetectionEvent, message.payload), now))
                except DecodeError:
                    self.undecodable += 1
            elif parts[0] == "twin" and len(parts) >= 3:
                self.truth_messages[parts[-1]] += 1

    def __enter__(self) -> MqttObserver:
        try:
            self.client.connect(self.host, self.port, keepalive=30)
        except (OSError, ValueError) as exc:
            raise ObservationError(f"harness cannot connect to MQTT {self.host}:{self.port}: {exc}") from exc
        self.client.loop_start()
        if not self._connected.wait(15.0):
            self.client.loop_stop()
            raise ObservationError(f"harness got no CONNACK from MQTT {self.host}:{self.port} in 15 s")
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def births_since(self, wall: float) -> set[str]:
        """Edge nodes that published an NBIRTH at or after ``wall``."""
        with self._lock:
            return {node for node, at in self.births if at >= wall}

    def snapshot_detections(self) -> list[FrameDetections]:
        """Every detection event received so far."""
        with self._lock:
            return list(self.detections)
