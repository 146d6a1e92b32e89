"""The digital twin (or a PLC gateway speaking its topics) over MQTT: SensorBatch and CameraFrame messages.

Subscribes to twin/v1/{site}/{line}/+/sensors and .../frames at QoS 1 and decodes on paho's
thread: a sensor batch becomes a `SensorSamples` block, a camera frame a `Frame` that keeps its
JPEG (decoded later, in the vision pipeline's preprocess step) and the twin's per-camera seq.
Paho reconnects by itself; subscriptions are renewed on every connect.
"""

from __future__ import annotations

import asyncio
import logging
import time
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


def samples_from_batch(batch: SensorBatch) -> SensorSamples:
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


class TwinSource:
    """Sensor batches and frames from twin/v1 topics; both a SensorSource and a FrameSource."""

    def __init__(self, settings: TwinSourceSettings, mqtt_settings: MqttSettings, client_id: str) -> None:
        self.settings = settings
        self._mqtt = mqtt_settings
        self._client_id = client_id
        self._sensors: SensorSink | None = None
        self._frames: FrameSink | None = None
        self._client: mqtt.Client | None = None
        self.decode_errors = 0
        self.last_message_s: float | None = None
        self.connected = False

    def filters(self) -> list[str]:
        """The subscriptions this source needs, given the sinks attached."""
        out = []
        for line in self.settings.line_ids:
            if self._sensors is not None and self.settings.sensors:
                out.append(topics.sensors_filter(self.settings.site_id, line))
            if self._frames is not None and self.settings.frames:
                cameras = self.settings.cameras or ("+",)
                out.extend(topics.frames_filter(self.settings.site_id, line, camera) for camera in cameras)
        return out

    async def start_sensors(self, sink: SensorSink) -> None:
        """Deliver sensor batches to sink."""
        self._sensors = sink
        await self._ensure_started()

    async def start_frames(self, sink: FrameSink) -> None:
        """Deliver camera frames to sink."""
        self._frames = sink
        await self._ensure_started()

    async def stop(self) -> None:
        """Disconnect."""
        client, self._client = self._client, None
        if client is not None:
            client.disconnect()
            await asyncio.get_running_loop().run_in_executor(None, client.loop_stop)

    async def _ensure_started(self) -> None:
        if self._client is not None:
            self._resubscribe(self._client)
            return
        client = new_client(self._mqtt, self._client_id, reconnect=True)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        try:
            client.connect_async(
                self._mqtt.host,
                self._mqtt.port,
                keepalive=self._mqtt.keepalive_s,
                properties=connect_properties(self._mqtt),  # type: ignore[arg-type]
            )
        except (OSError, ValueError) as exc:
            raise SourceError(
                f"twin source: cannot connect to {self._mqtt.host}:{self._mqtt.port}: {exc}"
            ) from exc
        client.loop_start()
        self._client = client

    # paho's thread from here on

    def _resubscribe(self, client: mqtt.Client) -> None:
        if self.connected:
            for topic in self.filters():
                client.subscribe(topic, qos=1)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        if reason.is_failure:
            log.error("twin source: broker refused the connection: %s", reason)
            return
        self.connected = True
        log.info("twin source connected; subscribing to %s", self.filters())
        self._resubscribe(client)

    def _on_disconnect(self, _c: mqtt.Client, _u: Any, _f: Any, reason: ReasonCode, _p: Any) -> None:
        self.connected = False
        log.warning("twin source disconnected: %s", reason)

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self.last_message_s = time.monotonic()
        try:
            parsed = topics.parse_topic(message.topic)
            if isinstance(parsed, topics.SensorsTopic) and self._sensors is not None:
                self._sensors.put_samples(
                    samples_from_batch(codec.decode(SensorBatch, bytes(message.payload)))
                )
            elif isinstance(parsed, topics.FramesTopic) and self._frames is not None:
                self._frames.put(frame_from_message(codec.decode(CameraFrame, bytes(message.payload))))
        except (ContractError, ValueError) as exc:
            self.decode_errors += 1
            if self.decode_errors <= 10 or self.decode_errors % 1000 == 0:
                log.warning("twin source: dropping a message on %s: %s", message.topic, exc)
