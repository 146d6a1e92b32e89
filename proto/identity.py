"""Stable identities of records, so a replay overwrites instead of duplicating.

Every sink (InfluxDB, SQLite, the alert store) builds its primary key or series key
from these tuples; Kafka keys come from `proto.kafka.record_key`.
"""

from __future__ import annotations

from proto import messages as m

TelemetryIdentity = tuple[str, str, str, int]
"""(edge_node, device_id, metric, timestamp_ms)."""
DetectionIdentity = tuple[str, str, int]
"""(edge_node, camera_id, seq)."""
PredictionIdentity = tuple[str, str, int]
"""(edge_node, machine_id, timestamp_ms)."""


def telemetry_identity(record: m.TelemetryRecord) -> TelemetryIdentity:
    """Identity of a telemetry sample: edge node, device, metric and event time."""
    return (record.edge_node, record.device_id, record.metric, record.timestamp_ms)


def detection_identity(event: m.DetectionEvent) -> DetectionIdentity:
    """Identity of a detection event: edge node, camera and the camera's seq."""
    return (event.edge_node, event.camera_id, event.seq)


def prediction_identity(prediction: m.Prediction) -> PredictionIdentity:
    """Identity of a prediction: edge node, machine and the window's event time."""
    return (prediction.edge_node, prediction.machine_id, prediction.timestamp_ms)


def alert_identity(alert: m.Alert) -> str:
    """Identity of an alert: its id (revisions of one alert share it)."""
    return alert.id


def alert_action_identity(action: m.AlertAction) -> str:
    """Identity of an operator request: its request id, so a retried POST applies once."""
    return action.request_id


def sensor_batch_identity(batch: m.SensorBatch) -> tuple[str, str, int]:
    """Identity of a twin sensor batch: site, machine and the machine's seq."""
    return (batch.site_id, batch.machine_id, batch.seq)
