"""Kafka topic names, record value types and header keys of the normalized stream.

Records are keyed by machine id (UTF-8) so one machine's events stay ordered in one
partition; record timestamps are event times. A deployment may prefix every topic
(e.g. per site) with `prefixed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from google.protobuf.message import Message

from proto import messages as m

TELEMETRY: Final = "iiot.v1.telemetry"
"""TelemetryBatch values: the records of one machine from one Sparkplug message."""
PREDICTIONS: Final = "iiot.v1.predictions"
"""Prediction values."""
DETECTIONS: Final = "iiot.v1.detections"
"""DetectionEvent values, keyed by machine id (camera id when the machine is unknown)."""
ALERTS: Final = "iiot.v1.alerts"
"""Alert values, one per change (compaction by alert id keeps the latest)."""
ALERT_ACTIONS: Final = "iiot.v1.alert-actions"
"""AlertAction values: operator requests, keyed by alert id."""
DEAD_LETTERS: Final = "iiot.v1.dead-letters"
"""DeadLetter values, keyed by the source record's key if any, with the reason also in headers."""

ALL_TOPICS: Final = (TELEMETRY, PREDICTIONS, DETECTIONS, ALERTS, ALERT_ACTIONS, DEAD_LETTERS)

VALUE_TYPES: Final[Mapping[str, type[Message]]] = {
    TELEMETRY: m.TelemetryBatch,
    PREDICTIONS: m.Prediction,
    DETECTIONS: m.DetectionEvent,
    ALERTS: m.Alert,
    ALERT_ACTIONS: m.AlertAction,
    DEAD_LETTERS: m.DeadLetter,
}
"""The protobuf message type of each topic's record values."""

HEADER_REASON: Final = "reason"
"""Dead letters: short machine-readable reason, e.g. "decode", "unknown-alias"."""
HEADER_ERROR: Final = "error"
"""Dead letters: the exception class and message."""
HEADER_SOURCE_TOPIC: Final = "source-topic"
"""Dead letters and bridged records: the MQTT or Kafka topic the data came from."""
HEADER_SCHEMA: Final = "schema"
"""Full protobuf name of the value, e.g. "iiot.v1.TelemetryBatch"."""


def prefixed(topic: str, prefix: str = "") -> str:
    """topic with an optional deployment prefix: prefixed(ALERTS, "plant1") == "plant1.iiot.v1.alerts"."""
    return f"{prefix}.{topic}" if prefix else topic


def record_key(key: str) -> bytes:
    """The Kafka key bytes of a machine id (or alert id for alerts and alert actions)."""
    return key.encode("utf-8")


def schema_header(message_type: type[Message]) -> tuple[str, bytes]:
    """The (HEADER_SCHEMA, full name) header for a record of message_type."""
    return HEADER_SCHEMA, str(message_type.DESCRIPTOR.full_name).encode("utf-8")
