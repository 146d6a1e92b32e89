"""The twin's records as wire messages (``proto`` twin.v1) with their MQTT topics; pure, no I/O."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from proto import codec, topics
from proto.messages import Box, CameraFrame, FrameGroundTruth, LabelledBox, MachineGroundTruth, SensorBatch
from simulators.records import MachineBatch
from simulators.runner import CameraCapture
from simulators.sensors import CHANNEL_INFO

UNITS: dict[str, str] = {info.name: info.unit for info in CHANNEL_INFO}
NORMAL = "normal"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One encoded message and the topic it goes to."""

    topic: str
    payload: bytes


def sensor_batch_message(batch: MachineBatch, seq: int) -> SensorBatch:
    """A SensorBatch of the block's samples; rows where every channel is missing are left out."""
    keep = ~np.all(np.isnan(batch.values), axis=1)
    return SensorBatch(
        site_id=batch.site_id,
        line_id=batch.line_id,
        machine_id=batch.machine_id,
        machine_kind=batch.kind,
        channels=list(batch.channels),
        units=[UNITS[c] for c in batch.channels],
        timestamps_ms=[int(t) for t in batch.t_ms[keep]],
        values=batch.values[keep].astype(np.float64).ravel().tolist(),
        seq=seq,
    )


def machine_truth_message(batch: MachineBatch, seq: int, maintenance: bool = False) -> MachineGroundTruth:
    """Ground truth at the end of the block: health, fault, RUL (unset when no fault develops)."""
    fault = batch.fault_name
    active = bool(batch.fault_active[-1])
    message = MachineGroundTruth(
        site_id=batch.site_id,
        line_id=batch.line_id,
        machine_id=batch.machine_id,
        timestamp_ms=int(batch.t_ms[-1]),
        health_index=float(np.clip(batch.health[-1], 0.0, 1.0)),
        fault_type=fault if active else NORMAL,
        fault_active=active,
        failure=active and float(batch.health[-1]) <= 0.0,
        maintenance=maintenance,
        seq=seq,
    )
    rul = float(batch.rul_s[-1])
    if active and math.isfinite(rul):
        message.rul_seconds = rul
    return message


def camera_frame_message(capture: CameraCapture, seq: int, quality: int = 90) -> CameraFrame:
    """A CameraFrame with the part's JPEG."""
    frame: Any = capture.frame
    return CameraFrame(
        site_id=capture.site_id,
        line_id=capture.line_id,
        camera_id=capture.camera_id,
        part_id=frame.part_id,
        machine_id=capture.machine_id,
        timestamp_ms=int(frame.t_ms),
        jpeg=frame.jpeg(quality),
        width=int(frame.image.shape[1]),
        height=int(frame.image.shape[0]),
        seq=seq,
    )


def frame_truth_message(capture: CameraCapture, seq: int) -> FrameGroundTruth:
    """The exact defect boxes of a frame."""
    frame: Any = capture.frame
    return FrameGroundTruth(
        site_id=capture.site_id,
        line_id=capture.line_id,
        camera_id=capture.camera_id,
        part_id=frame.part_id,
        machine_id=capture.machine_id,
        timestamp_ms=int(frame.t_ms),
        frame_seq=seq,
        boxes=[
            LabelledBox(
                class_id=int(b.class_id),
                class_name=b.class_name,
                box=Box(x1=float(b.x1), y1=float(b.y1), x2=float(b.x2), y2=float(b.y2)),
            )
            for b in frame.labels
        ],
    )


def sensor_outgoing(batch: MachineBatch, seq: int, maintenance: bool = False) -> list[Outgoing]:
    """The sensor batch and the machine's ground truth, encoded, with their topics."""
    return [
        Outgoing(
            topics.sensors_topic(batch.site_id, batch.line_id, batch.machine_id),
            codec.encode(sensor_batch_message(batch, seq)),
        ),
        Outgoing(
            topics.machine_truth_topic(batch.site_id, batch.line_id, batch.machine_id),
            codec.encode(machine_truth_message(batch, seq, maintenance)),
        ),
    ]


def frame_outgoing(capture: CameraCapture, seq: int, quality: int = 90) -> list[Outgoing]:
    """The camera frame and its labels, encoded, with their topics."""
    return [
        Outgoing(
            topics.frames_topic(capture.site_id, capture.line_id, capture.camera_id),
            codec.encode(camera_frame_message(capture, seq, quality)),
        ),
        Outgoing(
            topics.frame_truth_topic(capture.site_id, capture.line_id, capture.camera_id),
            codec.encode(frame_truth_message(capture, seq)),
        ),
    ]
