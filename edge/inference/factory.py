"""Open a model artifact with the backend that configuration and this machine allow.

`open_backend(manifest_path, kind)`: "onnxruntime" and "tensorrt" open exactly that backend (or
raise `BackendUnavailable`); "auto" tries native TensorRT (engine from the cache, built on first
use) and, if that is not possible here or the build fails, falls back to ONNX Runtime with a
warning saying why. Runtime modules are imported only
here, only when chosen. The ONNX file is checked against its manifest before any runtime sees it.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

from edge.inference.base import InferenceBackend, TensorSpec
from edge.inference.errors import ArtifactError, BackendUnavailable, InferenceError
from edge.inference.options import BackendOptions, OrtOptions, TensorRTOptions
from proto.artifacts import ArtifactMismatch, ManifestError, ModelManifest, load_manifest

log = logging.getLogger(__name__)

BackendKind = Literal["auto", "onnxruntime", "tensorrt"]
KINDS: tuple[BackendKind, ...] = ("auto", "onnxruntime", "tensorrt")


def load_verified(manifest_path: str | Path) -> tuple[ModelManifest, Path]:
    """The manifest and its ONNX file, checked for size and sha256; ArtifactError otherwise."""
    try:
        manifest = load_manifest(manifest_path)
        onnx_path = manifest.artifact_path(manifest_path)
        manifest.verify(onnx_path)
    except (ManifestError, ArtifactMismatch) as exc:
        raise ArtifactError(str(exc)) from exc
    return manifest, onnx_path


def spec_mismatches(specs: tuple[TensorSpec, ...], manifest: ModelManifest) -> list[str]:
    """How a backend's inputs differ from the manifest's (names, ranks, fixed sizes)."""
    problems = []
    declared = {d.name: d for d in manifest.inputs}
    found = {s.name: s for s in specs}
    if set(declared) != set(found):
        return [f"inputs {sorted(found)} != manifest {sorted(declared)}"]
    for name, decl in declared.items():
        spec = found[name]
        if len(spec.shape) != len(decl.shape):
            problems.append(f"{name}: rank {len(spec.shape)} != manifest {len(decl.shape)}")
            continue
        for axis, (got, want) in enumerate(zip(spec.shape, decl.shape, strict=True)):
            if isinstance(want, int) and want > 0 and got is not None and got != want:
                problems.append(f"{name}: axis {axis} is {got}, manifest says {want}")
    return problems


def open_backend(
    manifest_path: str | Path, kind: BackendKind = "auto", options: BackendOptions | None = None
) -> InferenceBackend:
    """Open the artifact described by `manifest_path` with the chosen (or best available) backend."""
    if kind not in KINDS:
        raise ValueError(f"backend kind must be one of {KINDS}, got {kind!r}")
    options = options or BackendOptions()
    manifest, onnx_path = load_verified(manifest_path)
    if kind == "onnxruntime":
        backend = open_onnxruntime(onnx_path, options.onnxruntime)
    elif kind == "tensorrt":
        backend = open_tensorrt(manifest, onnx_path, options.tensorrt)
    else:
        try:
            backend = open_tensorrt(manifest, onnx_path, options.tensorrt)
        except InferenceError as exc:  # not importable, no GPU, or the engine build failed
            log.warning(
                "TensorRT backend unavailable for %s (%s); falling back to ONNX Runtime, providers %s",
                manifest.name,
                exc,
                list(options.onnxruntime.providers),
            )
            backend = open_onnxruntime(onnx_path, options.onnxruntime)
    problems = spec_mismatches(backend.input_specs, manifest)
    if problems:
        backend.close()
        raise ArtifactError(f"{onnx_path.name} does not match its manifest: " + "; ".join(problems))
    return backend


def open_onnxruntime(onnx_path: Path, options: OrtOptions) -> InferenceBackend:
    """An ONNX Runtime backend (the module is imported here, on first use)."""
    from edge.inference.onnxruntime_backend import OnnxRuntimeBackend

    return OnnxRuntimeBackend(onnx_path, options)


def open_tensorrt(manifest: ModelManifest, onnx_path: Path, options: TensorRTOptions) -> InferenceBackend:
    """A native TensorRT backend with an engine from the cache, built first if allowed."""
    from edge.inference.tensorrt_backend import TensorRTBackend, import_tensorrt
    from edge.inference.trt_build_plan import BuildPlan
    from edge.inference.trt_builder import build_engine, find_engine

    import_tensorrt()  # fail fast, before planning, when TensorRT is not here
    try:
        plan = BuildPlan.from_manifest(manifest, onnx_path, options)
    except ValueError as exc:
        raise BackendUnavailable(f"no TensorRT engine plan for {manifest.name}: {exc}") from exc
    if options.build_if_missing:
        engine = build_engine(plan, options.cache_dir, device_id=options.device_id)
    else:
        found = find_engine(plan, options.cache_dir, device_id=options.device_id)
        if found is None:
            raise BackendUnavailable(
                f"no cached TensorRT engine for {manifest.name} and building is disabled"
            )
        engine = found
    return TensorRTBackend(engine.engine, engine.key, device_id=options.device_id)
