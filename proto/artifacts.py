"""The model artifact manifest: the contract between training (models/) and the edge (edge/).

An artifact is an ONNX file plus `<stem>.manifest.json` beside it. Training writes the manifest
with `save_manifest`; the edge reads it with `load_manifest` and checks the ONNX file against it
with `ModelManifest.verify` before handing the file to any runtime.

Unknown fields are refused (`extra="forbid"`) so a typo in training code fails at once; a change
of the schema bumps `schema_version`, and an edge agent refuses versions it does not know.
"""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

SCHEMA_VERSION: Literal[1] = 1
MANIFEST_SUFFIX = ".manifest.json"

Task = Literal["detect", "fault"]
Precision = Literal["fp32", "fp16", "int8"]
Dim = int | str  # a size, -1 for dynamic, or a symbolic name such as "batch"

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ArtifactMismatch(ValueError):
    """The file on disk is not the one the manifest describes (missing, wrong size or digest)."""


class ManifestError(ValueError):
    """A manifest file could not be read or does not follow the schema."""


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class TensorDecl(_Record):
    """One model input or output: name, shape (-1 or a name for dynamic dims), dtype, layout."""

    name: str = Field(min_length=1)
    shape: tuple[Dim, ...]
    dtype: Literal["float32", "float16", "int8", "uint8", "int32", "int64", "bool"] = "float32"
    layout: str = Field(default="", description="e.g. NCHW for images, NTC for time series")

    @field_validator("shape")
    @classmethod
    def _dims(cls, shape: tuple[Dim, ...]) -> tuple[Dim, ...]:
        for dim in shape:
            if isinstance(dim, int) and (dim == 0 or dim < -1):
                raise ValueError(f"dimension {dim} must be positive or -1 (dynamic)")
            if isinstance(dim, str) and not dim:
                raise ValueError("a symbolic dimension needs a name")
        return shape

    @property
    def dynamic_axes(self) -> tuple[int, ...]:
        """Indices of the dimensions that are not fixed."""
        return tuple(i for i, dim in enumerate(self.shape) if not isinstance(dim, int) or dim == -1)


class ImageNormalization(_Record):
    """How a camera frame becomes the model input (ultralytics conventions by default)."""

    kind: Literal["image"] = "image"
    scale: float = 1.0 / 255.0
    mean: tuple[float, float, float] = (0.0, 0.0, 0.0)
    std: tuple[float, float, float] = (1.0, 1.0, 1.0)
    channel_order: Literal["RGB", "BGR"] = "RGB"
    letterbox_size: tuple[int, int] = Field(default=(640, 640), description="(height, width)")
    pad_value: int = Field(default=114, ge=0, le=255)

    @field_validator("std")
    @classmethod
    def _positive_std(cls, std: tuple[float, float, float]) -> tuple[float, float, float]:
        if any(s <= 0 for s in std):
            raise ValueError("std must be positive")
        return std


class SeriesNormalization(_Record):
    """How a window of sensor samples becomes the model input (per-channel standardization)."""

    kind: Literal["series"] = "series"
    channel_names: tuple[str, ...] = Field(min_length=1)
    mean: tuple[float, ...]
    std: tuple[float, ...]
    window_length: int = Field(gt=0)
    stride: int = Field(gt=0)

    @model_validator(mode="after")
    def _per_channel(self) -> SeriesNormalization:
        n = len(self.channel_names)
        if len(self.mean) != n or len(self.std) != n:
            raise ValueError(f"mean and std need one value per channel ({n})")
        if any(s <= 0 for s in self.std):
            raise ValueError("std must be positive")
        return self


class DetectionThresholds(_Record):
    """Default post-processing of a detector: confidence, NMS IoU, detections per image."""

    kind: Literal["detect"] = "detect"
    conf: float = Field(default=0.25, ge=0.0, le=1.0)
    iou: float = Field(default=0.45, ge=0.0, le=1.0)
    max_det: int = Field(default=300, gt=0)


class AlarmThresholds(_Record):
    """Hysteresis of a fault predictor: raise at `enter`, clear below `exit`."""

    kind: Literal["fault"] = "fault"
    enter: float = Field(ge=0.0, le=1.0)
    exit: float = Field(ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _hysteresis(self) -> AlarmThresholds:
        if self.exit > self.enter:
            raise ValueError("alarm exit threshold must not exceed the enter threshold")
        return self


class ParentArtifact(_Record):
    """The artifact this one was derived from (e.g. the fp32 model of an int8 one)."""

    name: str
    version: str
    sha256: str

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        return _check_sha256(value)


Normalization = Annotated[ImageNormalization | SeriesNormalization, Field(discriminator="kind")]
Thresholds = Annotated[DetectionThresholds | AlarmThresholds, Field(discriminator="kind")]


class ModelManifest(_Record):
    """What the edge needs to know about one ONNX file, and how it was made."""

    schema_version: Literal[1] = SCHEMA_VERSION
    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    task: Task
    file: str = Field(description="file name of the ONNX model, in the manifest's folder")
    sha256: str
    size_bytes: int = Field(gt=0)
    format: Literal["onnx"] = "onnx"
    precision: Precision = "fp32"
    opset: int | None = None
    inputs: tuple[TensorDecl, ...] = Field(min_length=1)
    outputs: tuple[TensorDecl, ...] = Field(min_length=1)
    normalization: Normalization
    class_names: tuple[str, ...] = ()
    thresholds: Thresholds
    metrics: dict[str, float] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    command: str = Field(default="", description="the command line that produced the file")
    training_data: str = Field(default="", description="what data trained and validated it")
    parent: ParentArtifact | None = None

    @field_validator("sha256")
    @classmethod
    def _hex(cls, value: str) -> str:
        return _check_sha256(value)

    @field_validator("file")
    @classmethod
    def _bare_name(cls, value: str) -> str:
        if not value or Path(value).name != value or value in {".", ".."}:
            raise ValueError(f"file must be a bare file name beside the manifest, got {value!r}")
        return value

    @model_validator(mode="after")
    def _task_consistency(self) -> ModelManifest:
        expected = {"detect": ("image", "detect"), "fault": ("series", "fault")}[self.task]
        if (self.normalization.kind, self.thresholds.kind) != expected:
            raise ValueError(
                f"task {self.task!r} needs {expected[0]} normalization and {expected[1]} thresholds"
            )
        if self.task == "detect" and not self.class_names:
            raise ValueError("a detector manifest needs class_names")
        names = [t.name for t in (*self.inputs, *self.outputs)]
        if len(set(names)) != len(names):
            raise ValueError(f"tensor names must be unique, got {names}")
        return self

    def artifact_path(self, manifest_path: str | Path) -> Path:
        """The ONNX file this manifest describes, resolved beside the manifest file."""
        return Path(manifest_path).with_name(self.file)

    def verify(self, artifact: str | Path) -> Path:
        """Check size and sha256 of `artifact` against the manifest; raise ArtifactMismatch if off."""
        path = Path(artifact)
        if not path.is_file():
            raise ArtifactMismatch(f"{path}: artifact file is missing")
        size = path.stat().st_size
        if size != self.size_bytes:
            raise ArtifactMismatch(
                f"{path}: size {size} bytes, manifest {self.name} {self.version} says {self.size_bytes}"
            )
        digest, _ = file_digest(path)
        if digest != self.sha256:
            raise ArtifactMismatch(
                f"{path}: sha256 {digest[:12]}…, manifest {self.name} {self.version} says "
                f"{self.sha256[:12]}…; the file is corrupt or belongs to another version"
            )
        return path


def _check_sha256(value: str) -> str:
    if not _SHA256.match(value):
        raise ValueError("sha256 must be 64 lowercase hex characters")
    return value


def file_digest(path: str | Path, chunk_bytes: int = 1 << 20) -> tuple[str, int]:
    """The sha256 hex digest and the size in bytes of a file, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    with Path(path).open("rb") as handle:
        while chunk := handle.read(chunk_bytes):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def manifest_path_for(artifact: str | Path) -> Path:
    """`<stem>.manifest.json` beside an artifact file."""
    path = Path(artifact)
    return path.with_name(path.stem + MANIFEST_SUFFIX)


def load_manifest(path: str | Path) -> ModelManifest:
    """Read and validate a manifest file; raise ManifestError with the file name on failure."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read manifest: {exc}") from exc
    try:
        return ModelManifest.model_validate_json(text)
    except ValidationError as exc:
        raise ManifestError(f"{path}: invalid manifest: {exc}") from exc


def save_manifest(manifest: ModelManifest, path: str | Path) -> Path:
    """Write a manifest as indented JSON (atomically, via a temporary file) and return its path."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(manifest.model_dump_json(indent=2) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path
