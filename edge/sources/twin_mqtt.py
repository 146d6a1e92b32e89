"""The digital twin (or a PLC gateway speaking its topics) over MQTT: SensorBatch and CameraFrame messages.

Two connections, because the two feeds want different guarantees:

* sensors — a persistent session (fixed client id, clean session off) with manual PUBACKs: a batch
  is acknowledged only after the agent stored it (outbox) and fed it to the fault pipeline, so a
  crash or restart of the agent loses no sample: the broker redelivers what was not acknowledged
  (a redelivered block is recognized as duplicate samples downstream and in the ring buffers);
* frames — a clean session with automatic PUBACKs: a live feed that the vision pipeline may drop
  under overload anyway; frames inside the agent when it dies are lost.

Both subscribe to twin/v1/{site}/{line}/... at QoS 1 and decode on paho's thread: a sensor batch
becomes a `SensorSamples` block, a camera frame a `Frame` that keeps its JPEG (decoded later, in the
vision pipeline's preprocess step) and the twin's per-camera seq. Paho reconnects by itself;
subscriptions are renewed on every connect.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from edge.errors import SourceError
from edge.mqtt_client import connect_properties, new_client
from edge.records import Frame, SensorSamples
from edge.settings import MqttSettings, TwinSourceSettings
from edge.sources.base import FrameSink, SensorSink
from proto import codec, topics
from proto.errors import ContractError
from proto.messages import CameraFrame, SensorBatch

log = logging.getLogger(__name__)


def samples_from_batch(batch: SensorBatch, ack: Callable[[], None] | None = None) -> SensorSamples:
    """A SensorBatch as a block of samples (values row-major: sample i, channel j)."""
    channels = tuple(batch.channels)
    timestamps = np.asarray(batch.timestamps_ms, dtype=np.int64)
    values = np.asarray(batch.values, dtype=np.float64).reshape(timestamps.shape[0], len(channels))
    return SensorSamples(
        machine_id=batch.machine_id,
        line_id=batch.line_id,
        channels=channels,
        timestamps_ms=timestamps,
        values=values,
        units=tuple(batch.units),
        machine_kind=batch.machine_kind,
        source_seq=int(batch.seq),
        ack=ack,
    )


def frame_from_message(message: CameraFrame) -> Frame:
    """A CameraFrame as a Frame holding its JPEG; seq is the twin's per-camera seq."""
    return Frame(
        camera_id=message.camera_id,
        line_id=message.line_id,
        timestamp_ms=int(message.timestamp_ms),
        seq=int(message.seq),
        jpeg=bytes(message.jpeg),
        machine_id=message.machine_id,
        part_id=message.part_id,
    )


class _Feed:
    """One paho connection with its subscriptions, renewed on every connect."""

    def __init__(
        self,
        name: str,
        settings: MqttSettings,
        client_id: str,
        filters: list[str],
        handle: Callable[[mqtt.Client, mqtt.MQTTMessage], None],
        *,
        persistent: bool,
    ) -> None:
        self.name, self.filters, self._handle = name, filters, handle
        self._settings, self._persistent = settings, persistent
        self.client = new_client(
            settings, client_id, reconnect=True, persistent=persistent, manual_ack=persistent
        )
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = lambda client, _u, message: self._handle(client, message)
        self.connected = False

    def start(self) -> None:
        s = self._settings
        try:
            self.client.connect_async(
                s.host,
                s.port,
                keepalive=s.keepalive_s,
                properties=connect_properties(s, self._persistent),  # type: ignore[arg-type]
            )
        except (OSError, ValueError) as exc:
            raise SourceError(f"twin {self.name}: cannot connect to {s.host}:{s.port}: {exc}") from exc
        self.client.loop_start()

    async def stop(self) -> None:
        self.client.disconnect()
        await asyncio.get_running_loop().run_in_executor(None, self.client.loop_stop)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            log.error("twin %s: broker refused the connection: %s", self.name, reason)
            return
        self.connected = True
        log.info("twin %s connected; subscribing to %s", self.name, self.filters)
        for topic in self.filters:
            client.subscribe(topic, qos=1)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connected = False
        log.warning("twin %s disconnected: %s", self.name, reason)


class TwinSource:
    """Sensor batches and frames from twin/v1 topics; both a SensorSource and a FrameSource."""

    def __init__(self, settings: TwinSourceSettings, mqtt_settings: MqttSettings, client_id: str) -> None:
        self.settings = settings
        self._mqtt = mqtt_settings
        self._client_id = client_id
        self._sensors: SensorSink | None = None
        self._frames: FrameSink | None = None
        self._feeds: list[_Feed] = []
        self.decode_errors = 0
        self.last_message_s: float | None = None

    @property
    def connected(self) -> bool:
        """True while every feed is connected."""
        return bool(self._feeds) and all(feed.connected for feed in self._feeds)

    def sensor_filters(self) -> list[str]:
        """Subscriptions of the sensor feed."""
        return [topics.sensors_filter(self.settings.site_id, line) for line in self.settings.line_ids]

    def frame_filters(self) -> list[str]:
        """Subscriptions of the frame feed."""
        cameras = self.settings.cameras or ("+",)
        return [
            topics.frames_filter(self.settings.site_id, line, camera)
            for line in self.settings.line_ids
            for camera in cameras
        ]

    async def start_sensors(self, sink: SensorSink) -> None:
        """Deliver sensor batches to sink, each acknowledged upstream once the agent stored it."""
        if self._sensors is not None or not self.settings.sensors:
            return
        self._sensors = sink
        self._start(
            _Feed(
                "sensors",
                self._mqtt,
                f"{self._client_id}-sensors",
                self.sensor_filters(),
                self._on_sensor_message,
                persistent=True,
            )
        )

    async def start_frames(self, sink: FrameSink) -> None:
        """Deliver camera frames to sink."""
        if self._frames is not None or not self.settings.frames:
            return
        self._frames = sink
        self._start(
            _Feed(
                "frames",
                self._mqtt,
                f"{self._client_id}-frames",
                self.frame_filters(),
                self._on_frame_message,
                persistent=False,
            )
        )

    async def stop(self) -> None:
        """Disconnect every feed."""
        feeds, self._feeds = self._feeds, []
        for feed in feeds:
            await feed.stop()

    def _start(self, feed: _Feed) -> None:
        feed.start()
        self._feeds.append(feed)

    # paho's threads from here on

    def _on_sensor_message(self, client: mqtt.Client, message: mqtt.MQTTMessage) -> None:
        self.last_message_s = time.monotonic()
        mid, qos = message.mid, message.qos

        def ack() -> None:
            if qos > 0:
                client.ack(mid, qos)

        try:
            if (
                not isinstance(topics.parse_topic(message.topic), topics.SensorsTopic)
                or self._sensors is None
            ):
                raise ValueError("not a sensor batch")
            self._sensors.put_samples(
                samples_from_batch(codec.decode(SensorBatch, bytes(message.payload)), ack)
            )
        except (ContractError, ValueError) as exc:
            ack()  # a message that can never be processed must not come back forever
            self._decode_error(message.topic, exc)

    def _on_frame_message(self, _client: mqtt.Client, message: mqtt.MQTTMessage) -> None:
        self.last_message_s = time.monotonic()
        try:
            if not isinstance(topics.parse_topic(message.topic), topics.FramesTopic) or self._frames is None:
                raise ValueError("not a camera frame")
            self._frames.put(frame_from_message(codec.decode(CameraFrame, bytes(message.payload))))
        except (ContractError, ValueError) as exc:
            self._decode_error(message.topic, exc)

    def _decode_error(self, topic: str, exc: Exception) -> None:
        self.decode_errors += 1
        if self.decode_errors <= 10 or self.decode_errors % 1000 == 0:
            log.warning("twin source: dropping a message on %s: %s", topic, exc)
