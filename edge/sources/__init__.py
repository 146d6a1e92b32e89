"""Where samples and frames come from: the twin over MQTT, OpenCV capture; a PLC feed plugs in alike."""
