"""MQTT (Sparkplug B, detections) to Kafka bridge: decode, track sessions, normalize, produce."""
