"""Semantic rules of the iiot.v1 and twin.v1 messages, beyond what protobuf can express.

One checker per message type, in a table; a checker yields a sentence per broken
rule. `proto.codec` runs them on encode and on decode, so a producer cannot send
what a consumer would refuse. Messages without an entry have no extra rules.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, Final

from google.protobuf.message import Message

from proto import messages as m

BOX_TOLERANCE_PX: Final = 1.0
"""How far a box may reach outside the image (rounding of letterbox inverses)."""
_SHA256_HEX: Final = re.compile(r"^[0-9a-f]{64}$")
_JPEG_MAGIC: Final = b"\xff\xd8"


def problems(message: Message) -> list[str]:
    """Every broken rule of message, as sentences; empty when it is valid."""
    checker = CHECKS.get(type(message))
    return [] if checker is None else list(checker(message))


def _required(message: Message, *fields: str) -> Iterator[str]:
    for name in fields:
        if not getattr(message, name):
            yield f"{name} is required"


def _unit_interval(name: str, value: float) -> Iterator[str]:
    if not (math.isfinite(value) and 0.0 <= value <= 1.0):
        yield f"{name} {value} is outside 0..1"


def _box(name: str, box: m.Box, width: float | None = None, height: float | None = None) -> Iterator[str]:
    coords = (box.x1, box.y1, box.x2, box.y2)
    if not all(math.isfinite(c) for c in coords):
        yield f"{name} has a non-finite coordinate"
        return
    if box.x1 > box.x2 or box.y1 > box.y2:
        yield f"{name} ({box.x1}, {box.y1}, {box.x2}, {box.y2}) has x1 > x2 or y1 > y2"
    if width is not None and height is not None:
        tol = BOX_TOLERANCE_PX
        if min(box.x1, box.y1) < -tol or box.x2 > width + tol or box.y2 > height + tol:
            yield f"{name} ({box.x1}, {box.y1}, {box.x2}, {box.y2}) lies outside the {width}x{height} image"


def _detection_event(event: m.DetectionEvent) -> Iterator[str]:
    yield from _required(event, "edge_node", "camera_id", "image_width", "image_height")
    if event.timestamp_ms < 0:
        yield "timestamp_ms is negative"
    for i, det in enumerate(event.detections):
        if det.class_id < 0:
            yield f"detections[{i}].class_id is negative"
        yield from _unit_interval(f"detections[{i}].score", det.score)
        if not det.HasField("box"):
            yield f"detections[{i}].box is required"
        else:
            yield from _box(f"detections[{i}].box", det.box, event.image_width, event.image_height)
    if event.crop_jpeg:
        if not event.HasField("crop_box"):
            yield "crop_box is required with crop_jpeg"
        else:
            yield from _box("crop_box", event.crop_box, event.image_width, event.image_height)
        if not event.crop_jpeg.startswith(_JPEG_MAGIC):
            yield "crop_jpeg is not a JPEG"


def _telemetry_record(record: m.TelemetryRecord, where: str = "") -> Iterator[str]:
    for name in ("edge_node", "metric"):
        if not getattr(record, name):
            yield f"{where}{name} is required"
    if record.timestamp_ms < 0:
        yield f"{where}timestamp_ms is negative"
    if record.WhichOneof("value") == "double_value" and not math.isfinite(record.double_value):
        yield f"{where}double_value {record.double_value} is not finite; leave the value unset for null"


def _telemetry_batch(batch: m.TelemetryBatch) -> Iterator[str]:
    if not batch.records:
        yield "records is empty"
    for i, record in enumerate(batch.records):
        yield from _telemetry_record(record, f"records[{i}].")


def _prediction(pred: m.Prediction) -> Iterator[str]:
    yield from _required(pred, "edge_node", "machine_id")
    if pred.timestamp_ms < 0:
        yield "timestamp_ms is negative"
    if pred.window_start_ms > pred.timestamp_ms:
        yield "window_start_ms is after timestamp_ms"
    yield from _unit_interval("fault_probability", pred.fault_probability)
    for name, value in sorted(pred.class_probabilities.items()):
        yield from _unit_interval(f"class_probabilities[{name!r}]", value)
    if pred.HasField("rul_seconds") and not (math.isfinite(pred.rul_seconds) and pred.rul_seconds >= 0):
        yield f"rul_seconds {pred.rul_seconds} must be a non-negative number"


def _alert(alert: m.Alert) -> Iterator[str]:
    yield from _required(alert, "id", "kind", "severity", "state")
    if not alert.source.id:
        yield "source.id is required"
    if alert.first_seen_ms > alert.last_seen_ms:
        yield "first_seen_ms is after last_seen_ms"
    for i, entry in enumerate(alert.actions):
        if not entry.action:
            yield f"actions[{i}].action is required"


def _alert_action(action: m.AlertAction) -> Iterator[str]:
    yield from _required(action, "alert_id", "action", "operator")
    if action.action == m.AlertActionKind.ALERT_ACTION_KIND_SHELVE and action.until_ms <= 0:
        yield "a shelve action needs until_ms"


def _dead_letter(letter: m.DeadLetter) -> Iterator[str]:
    yield from _required(letter, "reason")


def _sensor_batch(batch: m.SensorBatch) -> Iterator[str]:
    yield from _required(batch, "machine_id", "channels", "timestamps_ms")
    channels, samples = len(batch.channels), len(batch.timestamps_ms)
    if len(set(batch.channels)) != channels:
        yield "channels are not unique"
    if batch.units and len(batch.units) != channels:
        yield f"units has {len(batch.units)} entries for {channels} channels"
    if len(batch.values) != samples * channels:
        yield f"values has {len(batch.values)} entries, expected {samples} samples x {channels} channels"
    if any(b < a for a, b in zip(batch.timestamps_ms, batch.timestamps_ms[1:], strict=False)):
        yield "timestamps_ms decrease"


def _camera_frame(frame: m.CameraFrame) -> Iterator[str]:
    yield from _required(frame, "camera_id", "jpeg", "width", "height")
    if frame.jpeg and not frame.jpeg.startswith(_JPEG_MAGIC):
        yield "jpeg is not a JPEG"


def _machine_truth(truth: m.MachineGroundTruth) -> Iterator[str]:
    yield from _required(truth, "machine_id")
    yield from _unit_interval("health_index", truth.health_index)
    if truth.HasField("rul_seconds") and not (math.isfinite(truth.rul_seconds) and truth.rul_seconds >= 0):
        yield f"rul_seconds {truth.rul_seconds} must be a non-negative number"


def _frame_truth(truth: m.FrameGroundTruth) -> Iterator[str]:
    yield from _required(truth, "camera_id")
    for i, labelled in enumerate(truth.boxes):
        if labelled.class_id < 0:
            yield f"boxes[{i}].class_id is negative"
        yield from _box(f"boxes[{i}].box", labelled.box)


def _manifest(manifest: m.ModelManifest) -> Iterator[str]:
    yield from _required(manifest, "name", "version", "size_bytes")
    if not _SHA256_HEX.match(manifest.sha256):
        yield "sha256 must be 64 lowercase hex characters"


def _deployment_status(status: m.DeploymentStatus) -> Iterator[str]:
    yield from _required(status, "edge_node", "model", "version", "state")


def _deployment_target(target: m.DeploymentTarget) -> Iterator[str]:
    yield from _required(target, "edge_node", "model", "version")
    if target.HasField("manifest"):
        yield from (f"manifest.{p}" for p in _manifest(target.manifest))


def _model_command(command: m.ModelCommand) -> Iterator[str]:
    yield from _required(command, "action")
    if command.action == m.ModelCommandAction.MODEL_COMMAND_ACTION_DEPLOY:
        if not command.HasField("target"):
            yield "a deploy command needs a target"
        else:
            yield from (f"target.{p}" for p in _deployment_target(command.target))


def _chunk(chunk: m.Chunk) -> Iterator[str]:
    if chunk.sha256 and hashlib.sha256(chunk.data).digest() != chunk.sha256:
        yield f"sha256 does not match the {len(chunk.data)} data bytes at offset {chunk.offset}"
    if chunk.total_size and chunk.offset + len(chunk.data) > chunk.total_size:
        yield "chunk reaches past total_size"


CHECKS: Final[Mapping[type[Message], Callable[[Any], Iterable[str]]]] = {
    m.DetectionEvent: _detection_event,
    m.TelemetryRecord: _telemetry_record,
    m.TelemetryBatch: _telemetry_batch,
    m.Prediction: _prediction,
    m.Alert: _alert,
    m.AlertAction: _alert_action,
    m.DeadLetter: _dead_letter,
    m.SensorBatch: _sensor_batch,
    m.CameraFrame: _camera_frame,
    m.MachineGroundTruth: _machine_truth,
    m.FrameGroundTruth: _frame_truth,
    m.ModelManifest: _manifest,
    m.DeploymentStatus: _deployment_status,
    m.DeploymentTarget: _deployment_target,
    m.ModelCommand: _model_command,
    m.Chunk: _chunk,
}
"""Message type -> checker yielding one sentence per broken rule."""
