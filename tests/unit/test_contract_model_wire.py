"""Artifact manifest file <-> registry ModelManifest message."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

import pytest

from proto import artifacts
from proto.codec import decode, encode
from proto.errors import DecodeError
from proto.messages import ModelManifest
from proto.model_wire import manifest_from_proto, manifest_json, manifest_to_proto

DIGEST = hashlib.sha256(b"onnx bytes").hexdigest()


def _detector() -> artifacts.ModelManifest:
    return artifacts.ModelManifest(
        name="defects",
        version="1.2.0",
        task="detect",
        file="defects.onnx",
        sha256=DIGEST,
        size_bytes=10,
        precision="fp16",
        inputs=(artifacts.TensorDecl(name="images", shape=("batch", 3, 640, 640), layout="NCHW"),),
        outputs=(artifacts.TensorDecl(name="output0", shape=(-1, 6, 8400)),),
        normalization=artifacts.ImageNormalization(),
        class_names=("scratch", "dent"),
        thresholds=artifacts.DetectionThresholds(),
        metrics={"mAP50": 0.91},
        created_at=datetime(2026, 1, 1, tzinfo=UTC),
        command="iiot models export",
        training_data="line-a seed 7",
    )


def _fault() -> artifacts.ModelManifest:
    return artifacts.ModelManifest(
        name="bearing-lstm",
        version="0.3.0",
        task="fault",
        file="bearing-lstm.onnx",
        sha256=DIGEST,
        size_bytes=10,
        inputs=(artifacts.TensorDecl(name="x", shape=(-1, 100, 3), layout="NTC"),),
        outputs=(artifacts.TensorDecl(name="p", shape=(-1, 4)),),
        normalization=artifacts.SeriesNormalization(
            channel_names=("vib_x", "vib_y", "temp"),
            mean=(0, 0, 40),
            std=(1, 1, 5),
            window_length=100,
            stride=10,
        ),
        thresholds=artifacts.AlarmThresholds(enter=0.7, exit=0.5),
    )


def test_detector_manifest_crosses_the_wire() -> None:
    source = _detector()
    message = manifest_to_proto(source, signature=b"sig", signature_algorithm="ed25519", key_id="k1")
    assert list(message.input_shape) == [-1, 3, 640, 640]
    assert message.normalization.kind == "image"
    assert list(message.normalization.letterbox_size) == [640, 640]
    assert message.created_ms == 1_767_225_600_000
    assert message.manifest_json == manifest_json(source)
    assert manifest_from_proto(decode(ModelManifest, encode(message))) == source


def test_series_manifest_crosses_the_wire() -> None:
    source = _fault()
    message = manifest_to_proto(source)
    assert list(message.normalization.channel_names) == ["vib_x", "vib_y", "temp"]
    assert message.normalization.window_length == 100
    assert manifest_from_proto(message) == source


def test_inconsistent_or_missing_json_is_refused() -> None:
    message = manifest_to_proto(_detector())
    message.version = "9.9.9"
    with pytest.raises(DecodeError, match="disagree"):
        manifest_from_proto(message)
    message.manifest_json = b"{}"
    with pytest.raises(DecodeError, match="invalid manifest_json"):
        manifest_from_proto(message)
    message.manifest_json = b""
    with pytest.raises(DecodeError, match="empty"):
        manifest_from_proto(message)
