"""The artifact manifest file (proto.artifacts) <-> the ModelManifest message of the registry.

The JSON file stays authoritative: the message carries it byte for byte in
manifest_json (what the signature covers) and repeats the fields an edge node needs
before it parses anything. `manifest_from_proto` refuses a message whose summary
fields disagree with its manifest_json.
"""

from __future__ import annotations

from pydantic import ValidationError

from proto import artifacts
from proto import messages as m
from proto.errors import DecodeError


def manifest_to_proto(
    manifest: artifacts.ModelManifest,
    *,
    signature: bytes = b"",
    signature_algorithm: str = "",
    key_id: str = "",
    encryption: str = "",
) -> m.ModelManifest:
    """The registry message for a manifest; manifest_json is its canonical JSON file text."""
    first = manifest.inputs[0]
    return m.ModelManifest(
        name=manifest.name,
        version=manifest.version,
        sha256=manifest.sha256,
        size_bytes=manifest.size_bytes,
        format=manifest.format,
        task=manifest.task,
        precision=manifest.precision,
        input_shape=[dim if isinstance(dim, int) else -1 for dim in first.shape],
        input_dtype=first.dtype,
        normalization=_normalization(manifest.normalization),
        class_names=list(manifest.class_names),
        metrics=dict(manifest.metrics),
        created_ms=round(manifest.created_at.timestamp() * 1000),
        command=manifest.command,
        training_data=manifest.training_data,
        manifest_json=manifest_json(manifest),
        signature=signature,
        signature_algorithm=signature_algorithm,
        key_id=key_id,
        encryption=encryption,
    )


def manifest_json(manifest: artifacts.ModelManifest) -> bytes:
    """The manifest's JSON bytes, as `proto.artifacts.save_manifest` writes them."""
    return (manifest.model_dump_json(indent=2) + "\n").encode("utf-8")


def manifest_from_proto(message: m.ModelManifest) -> artifacts.ModelManifest:
    """The validated manifest inside a registry message; DecodeError if absent, invalid or inconsistent."""
    if not message.manifest_json:
        raise DecodeError(f"ModelManifest {message.name} {message.version}: manifest_json is empty")
    try:
        manifest = artifacts.ModelManifest.model_validate_json(message.manifest_json)
    except ValidationError as exc:
        raise DecodeError(
            f"ModelManifest {message.name} {message.version}: invalid manifest_json: {exc}"
        ) from exc
    summary = (message.name, message.version, message.sha256, message.size_bytes)
    inner = (manifest.name, manifest.version, manifest.sha256, manifest.size_bytes)
    if summary != inner:
        raise DecodeError(f"ModelManifest fields {summary} disagree with manifest_json {inner}")
    return manifest


def _normalization(norm: artifacts.ImageNormalization | artifacts.SeriesNormalization) -> m.Normalization:
    if isinstance(norm, artifacts.ImageNormalization):
        return m.Normalization(
            kind="image",
            scale=norm.scale,
            mean=list(norm.mean),
            std=list(norm.std),
            channel_order=norm.channel_order,
            letterbox_size=list(norm.letterbox_size),
            pad_value=norm.pad_value,
        )
    return m.Normalization(
        kind="series",
        mean=list(norm.mean),
        std=list(norm.std),
        channel_names=list(norm.channel_names),
        window_length=norm.window_length,
        stride=norm.stride,
    )
