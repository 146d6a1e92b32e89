"""The TensorRT engine cache: keys, metadata beside each engine, and refusal of any mismatch.

A serialized engine is only valid for the GPU (name and compute capability) and TensorRT version
that built it, and it bakes in precision, batch profile and input size. The key holds all of
these plus the ONNX sha256; the engine's file name carries a digest of the key, and a JSON file
beside the engine repeats the full key and the engine's own sha256. `verify_engine` compares all
of it before anything deserializes the engine: a missing, stale or foreign engine raises
`EngineMismatch` and is never loaded. Everything here except the file writes is pure.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from edge.inference.errors import EngineMismatch
from edge.inference.trt_build_plan import BuildPlan
from proto.artifacts import file_digest

METADATA_FORMAT = 1


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What an engine is bound to on the machine that builds or loads it."""

    gpu_name: str  # e.g. "Orin"
    compute_capability: str  # e.g. "8.7"
    trt_version: str  # e.g. "8.6.2"


@dataclass(frozen=True, slots=True)
class EngineKey:
    """Everything that makes one engine differ from another."""

    gpu_name: str
    compute_capability: str
    trt_version: str
    precision: str
    min_batch: int
    opt_batch: int
    max_batch: int
    sample_shape: tuple[int, ...]  # input size without the batch axis
    onnx_sha256: str
    dla_core: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """The key as JSON-ready values."""
        data = asdict(self)
        data["sample_shape"] = list(self.sample_shape)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> EngineKey:
        """A key read back from metadata JSON (KeyError/TypeError if fields are missing)."""
        values = {f.name: data[f.name] for f in fields(cls)}
        values["sample_shape"] = tuple(values["sample_shape"])
        return cls(**values)

    def digest(self) -> str:
        """sha256 of the canonical JSON of the key."""
        canonical = json.dumps(self.as_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def differences(self, other: EngineKey) -> list[str]:
        """`field: ours != theirs` for every field that differs."""
        ours, theirs = self.as_dict(), other.as_dict()
        return [f"{name}: {ours[name]!r} != {theirs[name]!r}" for name in ours if ours[name] != theirs[name]]


def engine_key(plan: BuildPlan, device: DeviceInfo, onnx_sha256: str) -> EngineKey:
    """The cache key of building `plan` on `device` from an ONNX file with that digest."""
    return EngineKey(
        gpu_name=device.gpu_name,
        compute_capability=device.compute_capability,
        trt_version=device.trt_version,
        precision=plan.precision,
        min_batch=plan.min_batch,
        opt_batch=plan.opt_batch,
        max_batch=plan.max_batch,
        sample_shape=plan.sample_shape,
        onnx_sha256=onnx_sha256,
        dla_core=plan.dla_core,
    )


def engine_file_name(key: EngineKey) -> str:
    """A readable, unique file name: ONNX digest, precision, batch, size, key digest."""
    size = "x".join(str(d) for d in key.sample_shape)
    return f"{key.onnx_sha256[:12]}-{key.precision}-b{key.max_batch}-{size}-{key.digest()[:12]}.engine"


def metadata_path(engine_path: str | Path) -> Path:
    """The metadata JSON beside an engine file."""
    path = Path(engine_path)
    return path.with_name(path.name + ".json")


@dataclass(frozen=True, slots=True)
class EnginePath:
    """A cached engine: its file, its metadata and key, and whether this call built it."""

    engine: Path
    metadata: Path
    key: EngineKey
    built: bool = False


def verify_engine(engine_path: str | Path, expected: EngineKey) -> dict[str, Any]:
    """Check an engine file against the expected key before loading; raise EngineMismatch if off."""
    engine = Path(engine_path)
    meta_path = metadata_path(engine)
    if not engine.is_file():
        raise EngineMismatch(f"{engine}: no engine file")
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        found = EngineKey.from_dict(meta["key"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EngineMismatch(
            f"{engine}: missing or unreadable metadata {meta_path.name}; refusing it"
        ) from exc
    diffs = expected.differences(found)
    if diffs:
        raise EngineMismatch(f"{engine} was built for something else; refusing it: " + "; ".join(diffs))
    digest, size = file_digest(engine)
    if digest != meta.get("engine_sha256") or size != meta.get("engine_size"):
        raise EngineMismatch(
            f"{engine}: file does not match its metadata (truncated or replaced); refusing it"
        )
    return dict(meta)


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


class EngineCache:
    """A folder of engines and their metadata, addressed by `EngineKey`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def path_for(self, key: EngineKey) -> Path:
        """Where the engine of `key` lives (whether or not it exists yet)."""
        return self.root / engine_file_name(key)

    def lookup(self, key: EngineKey) -> EnginePath | None:
        """The verified engine for `key`, None if absent; EngineMismatch if present but wrong."""
        path = self.path_for(key)
        if not path.exists():
            return None
        verify_engine(path, key)
        return EnginePath(engine=path, metadata=metadata_path(path), key=key)

    def store(self, key: EngineKey, engine: bytes, build: dict[str, Any] | None = None) -> EnginePath:
        """Write an engine and then its metadata (so a crash leaves an engine that gets refused)."""
        self.root.mkdir(parents=True, exist_ok=True)
        path = self.path_for(key)
        _write_atomic(path, engine)
        meta = {
            "format": METADATA_FORMAT,
            "key": key.as_dict(),
            "key_digest": key.digest(),
            "engine_sha256": hashlib.sha256(engine).hexdigest(),
            "engine_size": len(engine),
            "created_at": datetime.now(UTC).isoformat(),
            "build": build or {},
        }
        _write_atomic(metadata_path(path), (json.dumps(meta, indent=2) + "\n").encode())
        return EnginePath(engine=path, metadata=metadata_path(path), key=key, built=True)
