"""The embedded cloud side: one process reading MQTT, processing in memory, writing SQLite."""
