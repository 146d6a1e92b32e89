"""Sparkplug B edge node: metric tables, the session state machine, the MQTT transport, the publisher."""
