"""The wire contract: .proto files, the generated Python, and thin pure codecs.

Sub-modules:
    proto.errors        the error hierarchy
    proto.messages      the generated message classes, re-exported under short names
    proto.codec         encode/decode with semantic checks for iiot.v1 and twin.v1 messages
    proto.topics        the project's own MQTT topics (detections, twin, model commands)
    proto.kafka         Kafka topic names and header keys
    proto.identity      idempotency keys of records
    proto.artifacts     the model artifact manifest file (JSON beside the ONNX file)
    proto.model_wire    artifact manifest <-> the registry's ModelManifest message
    proto.sparkplug     Sparkplug B 3.0: topics, metrics, payloads, aliases, sequence tracking
    proto.generate      `python -m proto.generate` regenerates the *_pb2 files
"""
