"""The artifact manifest: schema rules, save/load round trip, and file verification."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from proto.artifacts import (
    AlarmThresholds,
    ArtifactMismatch,
    DetectionThresholds,
    ImageNormalization,
    ManifestError,
    ModelManifest,
    ParentArtifact,
    SeriesNormalization,
    TensorDecl,
    file_digest,
    load_manifest,
    manifest_path_for,
    save_manifest,
)

PAYLOAD = b"not really onnx, but bytes with a known digest"
DIGEST = hashlib.sha256(PAYLOAD).hexdigest()


def detector_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": "defects",
        "version": "1.2.0",
        "task": "detect",
        "file": "defects.onnx",
        "sha256": DIGEST,
        "size_bytes": len(PAYLOAD),
        "inputs": [TensorDecl(name="images", shape=("batch", 3, 640, 640), layout="NCHW")],
        "outputs": [TensorDecl(name="output0", shape=(-1, 6, 8400))],
        "normalization": ImageNormalization(),
        "class_names": ["scratch", "dent"],
        "thresholds": DetectionThresholds(conf=0.3),
        "metrics": {"mAP50": 0.91},
        "command": "iiot models export --format onnx",
        "training_data": "twin scenario 'line-a' 2000 frames, seed 7",
    }
    fields.update(overrides)
    return fields


def fault_fields(**overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "name": "bearing-lstm",
        "version": "0.3.0",
        "task": "fault",
        "file": "bearing-lstm.onnx",
        "sha256": DIGEST,
        "size_bytes": len(PAYLOAD),
        "precision": "int8",
        "inputs": [TensorDecl(name="window", shape=(-1, 128, 3), layout="NTC")],
        "outputs": [TensorDecl(name="p_fault", shape=(-1, 1))],
        "normalization": SeriesNormalization(
            channel_names=("vib_x", "vib_y", "temp"),
            mean=(0.0, 0.0, 40.0),
            std=(1.0, 1.0, 5.0),
            window_length=128,
            stride=32,
        ),
        "thresholds": AlarmThresholds(enter=0.8, exit=0.6),
        "parent": ParentArtifact(name="bearing-lstm", version="0.3.0", sha256="a" * 64),
    }
    fields.update(overrides)
    return fields


@pytest.fixture
def artifact(tmp_path: Path) -> Path:
    path = tmp_path / "defects.onnx"
    path.write_bytes(PAYLOAD)
    return path


@pytest.mark.parametrize("fields", [detector_fields(), fault_fields()], ids=["detect", "fault"])
def test_save_load_round_trip(tmp_path: Path, fields: dict[str, Any]) -> None:
    manifest = ModelManifest(**fields)
    path = save_manifest(manifest, tmp_path / "m.manifest.json")
    assert load_manifest(path) == manifest
    assert json.loads(path.read_text())["schema_version"] == 1


def test_manifest_is_frozen() -> None:
    manifest = ModelManifest(**detector_fields())
    with pytest.raises(ValidationError):
        setattr(manifest, "version", "9")  # noqa: B010


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"sha256": "ABC"}, "64 lowercase hex"),
        ({"file": "../defects.onnx"}, "bare file name"),
        ({"file": "sub/defects.onnx"}, "bare file name"),
        ({"size_bytes": 0}, "greater than 0"),
        ({"class_names": []}, "needs class_names"),
        ({"thresholds": AlarmThresholds(enter=0.5, exit=0.4)}, "detect thresholds"),
        ({"task": "fault"}, "series normalization"),
        ({"format": "engine"}, "'onnx'"),
        ({"unexpected": 1}, "Extra inputs"),
        ({"outputs": [TensorDecl(name="images", shape=(1,))]}, "unique"),
    ],
)
def test_invalid_detector_manifests(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        ModelManifest(**detector_fields(**overrides))


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: TensorDecl(name="x", shape=(0, 3)), "positive or -1"),
        (lambda: TensorDecl(name="x", shape=(-2,)), "positive or -1"),
        (lambda: AlarmThresholds(enter=0.5, exit=0.7), "must not exceed"),
        (lambda: ImageNormalization(std=(1.0, 0.0, 1.0)), "positive"),
        (
            lambda: SeriesNormalization(
                channel_names=("a", "b"), mean=(0.0,), std=(1.0, 1.0), window_length=8, stride=1
            ),
            "one value per channel",
        ),
    ],
)
def test_invalid_parts(build: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        build()


def test_dynamic_axes() -> None:
    assert TensorDecl(name="x", shape=("batch", 3, -1, 640)).dynamic_axes == (0, 2)
    assert TensorDecl(name="x", shape=(1, 3, 640, 640)).dynamic_axes == ()


def test_verify_accepts_the_described_file(artifact: Path) -> None:
    manifest = ModelManifest(**detector_fields())
    assert manifest.verify(artifact) == artifact


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (PAYLOAD + b"!", "size 47 bytes"),
        (PAYLOAD[:-1] + b"?", "sha256"),
        (None, "missing"),
    ],
    ids=["size", "digest", "missing"],
)
def test_verify_refuses_another_file(artifact: Path, content: bytes | None, message: str) -> None:
    if content is None:
        artifact.unlink()
    else:
        artifact.write_bytes(content)
    manifest = ModelManifest(**detector_fields())
    with pytest.raises(ArtifactMismatch, match=message):
        manifest.verify(artifact)


def test_paths_beside_each_other(tmp_path: Path) -> None:
    onnx = tmp_path / "defects.onnx"
    assert manifest_path_for(onnx) == tmp_path / "defects.manifest.json"
    manifest = ModelManifest(**detector_fields())
    assert manifest.artifact_path(tmp_path / "defects.manifest.json") == onnx


def test_file_digest(artifact: Path) -> None:
    assert file_digest(artifact, chunk_bytes=7) == (DIGEST, len(PAYLOAD))


@pytest.mark.parametrize(
    ("text", "message"),
    [("{not json", "invalid manifest"), ('{"name": "x"}', "invalid manifest"), (None, "cannot read")],
)
def test_load_errors_name_the_file(tmp_path: Path, text: str | None, message: str) -> None:
    path = tmp_path / "bad.manifest.json"
    if text is not None:
        path.write_text(text)
    with pytest.raises(ManifestError, match=message) as caught:
        load_manifest(path)
    assert "bad.manifest.json" in str(caught.value)


def test_unknown_schema_version_is_refused(tmp_path: Path) -> None:
    data = json.loads(ModelManifest(**detector_fields()).model_dump_json())
    data["schema_version"] = 2
    path = tmp_path / "v2.manifest.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="schema_version"):
        load_manifest(path)
