"""Storage of telemetry, aggregates, predictions, detections and alerts (InfluxDB or SQLite)."""
