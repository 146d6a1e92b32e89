"""Every contract message round-trips; malformed bytes and broken rules raise our errors."""

from __future__ import annotations

import hashlib
import random

import pytest
from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import Message

from proto import messages as m
from proto.codec import decode, encode, is_valid
from proto.errors import ContractError, DecodeError, EncodeError

JPEG = b"\xff\xd8\xff\xe0" + bytes(range(64)) + b"\xff\xd9"
SHA = "ab" * 32


def _manifest() -> m.ModelManifest:
    return m.ModelManifest(
        name="yolov8n-defects",
        version="1.2.0",
        sha256=SHA,
        size_bytes=12_345_678,
        format="onnx",
        task="detect",
        precision="fp16",
        input_shape=[1, 3, 640, 640],
        input_dtype="float32",
        normalization=m.Normalization(
            kind="image",
            scale=1 / 255,
            mean=[0, 0, 0],
            std=[1, 1, 1],
            channel_order="RGB",
            letterbox_size=[640, 640],
            pad_value=114,
        ),
        class_names=["scratch", "dent", "crack"],
        metrics={"mAP50": 0.91, "mAP50-95": 0.67},
        created_ms=1_767_225_600_000,
        command="iiot models train detector --epochs 50",
        training_data="scenario=line-a seed=7",
        manifest_json=b'{"name": "yolov8n-defects"}',
        signature=b"\x01" * 64,
        signature_algorithm="ed25519",
        key_id="registry-2026",
    )


def _target() -> m.DeploymentTarget:
    return m.DeploymentTarget(
        edge_node="edge-01", model="yolov8n-defects", version="1.2.0", manifest=_manifest(), issued_ms=5
    )


SAMPLES: dict[str, Message] = {
    "detection_event": m.DetectionEvent(
        group_id="plant1",
        edge_node="edge-01",
        camera_id="cam-a",
        line_id="line-a",
        machine_id="press-3",
        timestamp_ms=1_767_225_600_123,
        seq=42,
        part_id="P-000042",
        detections=[
            m.Detection(class_id=1, class_name="dent", score=0.87, box=m.Box(x1=10, y1=20, x2=110.5, y2=90)),
            m.Detection(class_id=0, class_name="scratch", score=0.31, box=m.Box(x1=0, y1=0, x2=640, y2=480)),
        ],
        image_width=640,
        image_height=480,
        model=m.ModelRef(name="yolov8n-defects", version="1.2.0"),
        crop_jpeg=JPEG,
        crop_box=m.Box(x1=0, y1=0, x2=128, y2=128),
        inference_ms=7.5,
    ),
    "telemetry_record": m.TelemetryRecord(
        group_id="plant1",
        edge_node="edge-01",
        device_id="motor-1",
        machine_id="motor-1",
        metric="vibration/rms",
        timestamp_ms=1_000,
        double_value=0.42,
        seq=7,
        bd_seq=3,
        unit="mm/s",
    ),
    "telemetry_record_null": m.TelemetryRecord(
        edge_node="edge-01", metric="temp", timestamp_ms=0, stale=True
    ),
    "telemetry_batch": m.TelemetryBatch(
        records=[
            m.TelemetryRecord(edge_node="e", device_id="m", metric="speed", timestamp_ms=1, int_value=-3),
            m.TelemetryRecord(
                edge_node="e", device_id="m", metric="running", timestamp_ms=1, bool_value=True
            ),
            m.TelemetryRecord(
                edge_node="e",
                device_id="m",
                metric="mode",
                timestamp_ms=1,
                string_value="auto",
                historical=True,
            ),
        ]
    ),
    "prediction": m.Prediction(
        group_id="plant1",
        edge_node="edge-01",
        machine_id="pump-2",
        line_id="line-a",
        timestamp_ms=2_000,
        window_start_ms=1_000,
        fault_probability=0.83,
        fault_type="bearing_wear",
        class_probabilities={"normal": 0.17, "bearing_wear": 0.8, "imbalance": 0.03},
        rul_seconds=3600.0,
        model=m.ModelRef(name="lstm-fault", version="0.3.1"),
        alarm=m.AlarmState.ALARM_STATE_ALARM,
        seq=9,
    ),
    "alert": m.Alert(
        id="al-1",
        kind=m.AlertKind.ALERT_KIND_PREDICTION,
        severity=m.Severity.SEVERITY_CRITICAL,
        state=m.AlertState.ALERT_STATE_SHELVED,
        source=m.AlertSource(
            kind=m.SourceKind.SOURCE_KIND_MACHINE,
            id="pump-2",
            group_id="plant1",
            edge_node="edge-01",
            line_id="line-a",
        ),
        rule="fault-probability",
        title="Bearing wear on pump-2",
        message="p=0.83 for 3 windows",
        first_seen_ms=1_000,
        last_seen_ms=3_000,
        count=3,
        evidence={"fault_probability": 0.83},
        labels={"fault_type": "bearing_wear"},
        actions=[
            m.AlertActionEntry(
                operator="system",
                action=m.AlertActionKind.ALERT_ACTION_KIND_NOTE,
                time_ms=1_000,
                note="raised",
            ),
            m.AlertActionEntry(
                operator="ana",
                action=m.AlertActionKind.ALERT_ACTION_KIND_SHELVE,
                time_ms=2_000,
                until_ms=9_000,
                note="maintenance tonight",
            ),
        ],
        shelved_until_ms=9_000,
        revision=4,
    ),
    "alert_action": m.AlertAction(
        request_id="req-1",
        alert_id="al-1",
        action=m.AlertActionKind.ALERT_ACTION_KIND_SHELVE,
        operator="ana",
        note="tonight",
        until_ms=9_000,
        requested_ms=2_000,
    ),
    "dead_letter": m.DeadLetter(
        payload=b"\x00\xff garbage",
        topic="spBv1.0/plant1/NDATA/edge-01",
        reason="decode",
        error_class="DecodeError",
        error_message="not a Sparkplug B payload",
        received_ms=5,
        source="mqtt",
        key=b"motor-1",
    ),
    "sensor_batch": m.SensorBatch(
        site_id="site1",
        line_id="line-a",
        machine_id="motor-1",
        machine_kind="motor",
        channels=["vib_x", "vib_y", "temp"],
        units=["g", "g", "degC"],
        timestamps_ms=[1000, 1100, 1200, 1300],
        values=[float(i) * 0.5 for i in range(12)],
        seq=17,
    ),
    "camera_frame": m.CameraFrame(
        site_id="site1",
        line_id="line-a",
        camera_id="cam-a",
        part_id="P-1",
        machine_id="press-3",
        timestamp_ms=1_000,
        jpeg=JPEG,
        width=640,
        height=480,
        seq=1,
    ),
    "machine_truth": m.MachineGroundTruth(
        site_id="site1",
        line_id="line-a",
        machine_id="pump-2",
        timestamp_ms=1_000,
        health_index=0.4,
        fault_type="bearing_wear",
        fault_active=True,
        rul_seconds=7200.0,
        seq=3,
    ),
    "machine_truth_healthy": m.MachineGroundTruth(machine_id="pump-2", health_index=1.0, fault_type="normal"),
    "frame_truth": m.FrameGroundTruth(
        site_id="site1",
        line_id="line-a",
        camera_id="cam-a",
        part_id="P-1",
        machine_id="press-3",
        timestamp_ms=1_000,
        frame_seq=1,
        boxes=[m.LabelledBox(class_id=2, class_name="crack", box=m.Box(x1=1, y1=2, x2=3, y2=4))],
    ),
    "model_manifest": _manifest(),
    "model_ref": m.ModelRef(name="lstm-fault", version="0.3.1"),
    "deployment_target": _target(),
    "deployment_status": m.DeploymentStatus(
        edge_node="edge-01",
        model="yolov8n-defects",
        version="1.2.0",
        state=m.DeploymentState.DEPLOYMENT_STATE_ROLLED_BACK,
        message="mAP check failed",
        time_ms=7,
        previous_version="1.1.0",
    ),
    "model_command": m.ModelCommand(
        command_id="c-1",
        action=m.ModelCommandAction.MODEL_COMMAND_ACTION_DEPLOY,
        target=_target(),
        issued_ms=5,
    ),
    "model_command_rollback": m.ModelCommand(
        command_id="c-2", action=m.ModelCommandAction.MODEL_COMMAND_ACTION_ROLLBACK
    ),
    "chunk": m.Chunk(
        offset=1024, data=b"abc" * 100, sha256=hashlib.sha256(b"abc" * 100).digest(), total_size=4096
    ),
    "chunk_last": m.Chunk(offset=0, data=b"x", total_size=1, last=True),
    "list_models_request": m.ListModelsRequest(name="yolov8n-defects"),
    "list_models_response": m.ListModelsResponse(models=[_manifest()]),
    "get_manifest_request": m.GetManifestRequest(name="yolov8n-defects", version="1.2.0"),
    "download_request": m.DownloadRequest(
        name="yolov8n-defects", version="1.2.0", offset=1024, chunk_size=65536
    ),
    "report_status_response": m.ReportStatusResponse(accepted=True),
    "watch_targets_request": m.WatchTargetsRequest(
        edge_node="edge-01", current=[m.ModelRef(name="a", version="1")]
    ),
}

# Messages with rules: random bytes must never pass as one of them.
CHECKED = [
    "detection_event",
    "telemetry_batch",
    "prediction",
    "alert",
    "alert_action",
    "dead_letter",
    "sensor_batch",
    "camera_frame",
    "frame_truth",
    "model_manifest",
    "deployment_target",
    "deployment_status",
    "model_command",
]


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip(name: str) -> None:
    original = SAMPLES[name]
    assert is_valid(original)
    data = encode(original)
    decoded = decode(type(original), data)
    assert decoded == original
    assert encode(decoded) == data


def test_optional_fields_keep_presence() -> None:
    healthy = decode(m.MachineGroundTruth, encode(SAMPLES["machine_truth_healthy"]))
    assert not healthy.HasField("rul_seconds")
    assert decode(m.Prediction, encode(SAMPLES["prediction"])).HasField("rul_seconds")
    null = decode(m.TelemetryRecord, encode(SAMPLES["telemetry_record_null"]))
    assert null.WhichOneof("value") is None


def _broken(name: str, **changes: object) -> Message:
    message = type(SAMPLES[name])()
    message.CopyFrom(SAMPLES[name])
    for path, value in changes.items():
        target: object = message
        *parents, field = path.split("__")
        for parent in parents:
            target = getattr(target, parent)
        if isinstance(value, list):
            getattr(target, field)[:] = value
        else:
            setattr(target, field, value)
    return message


BROKEN = [
    ("sensor_batch", {"values": [1.0, 2.0]}, "values has 2 entries, expected 4 samples x 3 channels"),
    ("sensor_batch", {"units": ["g"]}, "units has 1 entries for 3 channels"),
    ("sensor_batch", {"timestamps_ms": [1000, 900, 1200, 1300]}, "timestamps_ms decrease"),
    ("sensor_batch", {"channels": ["a", "a", "b"]}, "channels are not unique"),
    ("sensor_batch", {"machine_id": ""}, "machine_id is required"),
    ("detection_event", {"edge_node": ""}, "edge_node is required"),
    ("detection_event", {"image_width": 0}, "image_width is required"),
    ("detection_event", {"crop_jpeg": b"PNG"}, "crop_jpeg is not a JPEG"),
    ("detection_event", {"crop_box__x1": 500.0}, "crop_box (500.0, 0.0, 128.0, 128.0) has x1 > x2"),
    ("camera_frame", {"jpeg": b"\x89PNG"}, "jpeg is not a JPEG"),
    ("camera_frame", {"width": 0}, "width is required"),
    ("prediction", {"fault_probability": 1.5}, "fault_probability 1.5 is outside 0..1"),
    ("prediction", {"rul_seconds": -1.0}, "rul_seconds -1.0 must be a non-negative number"),
    ("prediction", {"window_start_ms": 5_000}, "window_start_ms is after timestamp_ms"),
    ("telemetry_record", {"double_value": float("nan")}, "double_value nan is not finite"),
    ("telemetry_record", {"metric": ""}, "metric is required"),
    ("alert", {"kind": 0}, "kind is required"),
    ("alert", {"source__id": ""}, "source.id is required"),
    ("alert_action", {"until_ms": 0}, "a shelve action needs until_ms"),
    ("dead_letter", {"reason": ""}, "reason is required"),
    ("machine_truth", {"health_index": 1.2}, "health_index 1.2 is outside 0..1"),
    ("model_manifest", {"sha256": "ABC"}, "sha256 must be 64 lowercase hex characters"),
    ("deployment_status", {"state": 0}, "state is required"),
    ("model_command", {"target__version": ""}, "target.version is required"),
    ("chunk", {"data": b"tampered"}, "sha256 does not match the 8 data bytes at offset 1024"),
]


@pytest.mark.parametrize(("name", "changes", "expected"), BROKEN)
def test_rules_are_enforced_on_both_ends(name: str, changes: dict[str, object], expected: str) -> None:
    message = _broken(name, **changes)
    with pytest.raises(EncodeError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        encode(message)
    with pytest.raises(DecodeError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        decode(type(message), message.SerializeToString())


def test_empty_telemetry_batch_is_refused() -> None:
    with pytest.raises(EncodeError, match="records is empty"):
        encode(m.TelemetryBatch())


@pytest.mark.parametrize("name", CHECKED)
def test_random_bytes_raise_decode_error(name: str) -> None:
    rng = random.Random(20_260_101)
    message_type = type(SAMPLES[name])
    for _ in range(300):
        data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200)))
        with pytest.raises(DecodeError):
            decode(message_type, data)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_truncations_raise_only_decode_error(name: str) -> None:
    """A cut that breaks protobuf framing must surface as our DecodeError, wrapping protobuf's.

    A cut on a field boundary is still valid protobuf; then decode either accepts the
    shorter message or refuses it by a rule, but never leaks another exception.
    """
    message_type = type(SAMPLES[name])
    data = SAMPLES[name].SerializeToString()
    for cut in range(len(data)):
        prefix = data[:cut]
        try:
            message_type.FromString(prefix)
            framing_ok = True
        except ProtobufDecodeError:
            framing_ok = False
        cause: BaseException | None = None
        try:
            decode(message_type, prefix)
            refused = False
        except DecodeError as exc:
            refused, cause = True, exc.__cause__
        if not framing_ok:
            assert refused, f"cut at {cut} decoded although protobuf refused it"
            assert isinstance(cause, ProtobufDecodeError)


def test_decode_refuses_non_bytes() -> None:
    with pytest.raises(DecodeError, match="expected bytes"):
        decode(m.DetectionEvent, "not bytes")  # type: ignore[arg-type]


def test_invalid_utf8_in_a_string_field_is_a_decode_error() -> None:
    # field 2 (edge_node), length 2, invalid UTF-8
    with pytest.raises(DecodeError) as info:
        decode(m.DetectionEvent, b"\x12\x02\xff\xfe")
    assert isinstance(info.value, ContractError)
    assert info.value.__cause__ is not None
