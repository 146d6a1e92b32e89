"""Kafka names, keys, headers and record identities."""

from __future__ import annotations

from proto import identity, kafka
from proto import messages as m


def test_topics_are_distinct_and_typed() -> None:
    assert len(set(kafka.ALL_TOPICS)) == 6
    assert set(kafka.VALUE_TYPES) == set(kafka.ALL_TOPICS)
    assert kafka.VALUE_TYPES[kafka.TELEMETRY] is m.TelemetryBatch
    assert kafka.VALUE_TYPES[kafka.DEAD_LETTERS] is m.DeadLetter


def test_header_keys() -> None:
    assert (kafka.HEADER_REASON, kafka.HEADER_ERROR, kafka.HEADER_SOURCE_TOPIC) == (
        "reason",
        "error",
        "source-topic",
    )
    assert kafka.schema_header(m.Alert) == ("schema", b"iiot.v1.Alert")


def test_prefix_and_key() -> None:
    assert kafka.prefixed(kafka.ALERTS) == "iiot.v1.alerts"
    assert kafka.prefixed(kafka.ALERTS, "plant1") == "plant1.iiot.v1.alerts"
    assert kafka.record_key("pump-2") == b"pump-2"


def test_identities_ignore_everything_but_the_identity_fields() -> None:
    a = m.TelemetryRecord(edge_node="e", device_id="d", metric="x", timestamp_ms=5, double_value=1.0, seq=1)
    b = m.TelemetryRecord(
        edge_node="e",
        device_id="d",
        metric="x",
        timestamp_ms=5,
        double_value=1.0,
        seq=9,
        historical=True,
        received_ms=77,
    )
    assert identity.telemetry_identity(a) == identity.telemetry_identity(b) == ("e", "d", "x", 5)
    event = m.DetectionEvent(edge_node="e", camera_id="c", seq=3, timestamp_ms=1)
    assert identity.detection_identity(event) == ("e", "c", 3)
    pred = m.Prediction(edge_node="e", machine_id="p", timestamp_ms=9)
    assert identity.prediction_identity(pred) == ("e", "p", 9)
    assert identity.alert_identity(m.Alert(id="al-1")) == "al-1"
    assert identity.alert_action_identity(m.AlertAction(request_id="r")) == "r"
    assert identity.sensor_batch_identity(m.SensorBatch(site_id="s", machine_id="m", seq=2)) == ("s", "m", 2)
