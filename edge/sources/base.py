"""The source interfaces and the factory that picks an implementation by its settings' `kind`.

Why two small protocols: a pipeline only needs something that pushes samples (`SensorSource`)
or frames (`FrameSource`) into a sink, from whatever thread it runs, without ever blocking. The
twin implements both over one MQTT connection; OpenCV capture is a FrameSource; a PLC gateway
(OPC UA, Modbus) would be another SensorSource module chosen by a new `kind`, without touching
the pipelines. Implementations are imported only when configured.
"""

from __future__ import annotations

from typing import Protocol

from edge.errors import ConfigError
from edge.records import Frame, SensorSamples
from edge.settings import AgentSettings, OpenCVSourceSettings, SourceSettings, TwinSourceSettings


class SensorSink(Protocol):
    """Takes sample blocks from any thread, never blocking."""

    def put_samples(self, samples: SensorSamples) -> None:
        """Accept one block."""
        ...


class FrameSink(Protocol):
    """Takes frames from any thread, never blocking (it drops the oldest when full)."""

    def put(self, frame: Frame) -> Frame | None:
        """Accept one frame; the frame dropped to make room, if any."""
        ...

    def lost(self, camera_id: str) -> None:
        """The source lost this camera (capture failed or ended); its next frame means it is back."""
        ...


class SensorSource(Protocol):
    """Delivers sensor sample blocks."""

    async def start_sensors(self, sink: SensorSink) -> None:
        """Begin delivering samples to sink."""
        ...

    async def stop(self) -> None:
        """Stop delivering and release connections and threads."""
        ...


class FrameSource(Protocol):
    """Delivers camera frames."""

    async def start_frames(self, sink: FrameSink) -> None:
        """Begin delivering frames to sink."""
        ...

    async def stop(self) -> None:
        """Stop delivering and release devices and threads."""
        ...


def open_source(settings: SourceSettings, agent: AgentSettings) -> SensorSource | FrameSource:
    """The source a settings entry describes (its module imported now)."""
    if isinstance(settings, TwinSourceSettings):
        from edge.sources.twin_mqtt import TwinSource

        return TwinSource(settings, settings.mqtt or agent.mqtt, client_id=f"{agent.client_id}-twin")
    if isinstance(settings, OpenCVSourceSettings):
        from edge.sources.opencv_capture import OpenCVSource

        return OpenCVSource(settings)
    raise ConfigError(f"unknown source kind {getattr(settings, 'kind', settings)!r}")
