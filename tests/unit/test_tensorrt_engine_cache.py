"""Engine cache: key derivation, file names, metadata, and refusal of every kind of mismatch."""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from edge.inference.errors import BackendUnavailable, EngineMismatch
from edge.inference.trt_build_plan import BuildPlan
from edge.inference.trt_engine_cache import (
    DeviceInfo,
    EngineCache,
    EngineKey,
    engine_file_name,
    engine_key,
    metadata_path,
    verify_engine,
)

ORIN = DeviceInfo(gpu_name="Orin", compute_capability="8.7", trt_version="8.6.2")
PLAN = BuildPlan(onnx_path=Path("m.onnx"), input_name="images", sample_shape=(3, 640, 640), max_batch=4)
SHA = "ab" * 32
KEY = engine_key(PLAN, ORIN, SHA)
ENGINE = b"\x00serialized engine bytes\x01"


def test_key_derivation() -> None:
    assert (
        EngineKey(
            gpu_name="Orin",
            compute_capability="8.7",
            trt_version="8.6.2",
            precision="fp16",
            min_batch=1,
            opt_batch=1,
            max_batch=4,
            sample_shape=(3, 640, 640),
            onnx_sha256=SHA,
            dla_core=None,
        )
        == KEY
    )
    assert KEY.digest() == engine_key(PLAN, ORIN, SHA).digest()  # pure and deterministic
    assert EngineKey.from_dict(json.loads(json.dumps(KEY.as_dict()))) == KEY


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gpu_name", "NVIDIA GeForce RTX 4090"),
        ("compute_capability", "8.9"),
        ("trt_version", "10.3.0"),
        ("precision", "int8"),
        ("min_batch", 2),
        ("opt_batch", 2),
        ("max_batch", 8),
        ("sample_shape", (3, 320, 320)),
        ("onnx_sha256", "cd" * 32),
        ("dla_core", 0),
    ],
)
def test_every_field_changes_the_key(field: str, value: Any) -> None:
    other = dataclasses.replace(KEY, **{field: value})
    assert other.digest() != KEY.digest()
    assert engine_file_name(other) != engine_file_name(KEY)
    assert [d.split(":")[0] for d in KEY.differences(other)] == [field]


def test_file_name_is_readable() -> None:
    name = engine_file_name(KEY)
    assert name.startswith("abababababab-fp16-b4-3x640x640-")
    assert name.endswith(".engine")
    assert metadata_path(Path("/e") / name) == Path("/e") / (name + ".json")


def test_store_then_lookup(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path / "engines")
    assert cache.lookup(KEY) is None
    stored = cache.store(KEY, ENGINE, {"trtexec": "trtexec --onnx=m.onnx"})
    assert stored.built
    assert stored.engine.read_bytes() == ENGINE
    meta = json.loads(stored.metadata.read_text())
    assert meta["key"]["gpu_name"] == "Orin"
    assert meta["engine_size"] == len(ENGINE)
    assert meta["build"]["trtexec"].startswith("trtexec")
    found = cache.lookup(KEY)
    assert found is not None
    assert (found.engine, found.built) == (stored.engine, False)
    assert sorted(p.name for p in cache.root.iterdir()) == sorted([stored.engine.name, stored.metadata.name])


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("gpu_name", "Xavier"),
        ("compute_capability", "7.2"),
        ("trt_version", "10.3.0"),
        ("precision", "fp32"),
        ("max_batch", 1),
        ("sample_shape", (3, 320, 320)),
        ("onnx_sha256", "cd" * 32),
    ],
)
def test_verify_refuses_an_engine_built_for_something_else(tmp_path: Path, field: str, value: Any) -> None:
    stored = EngineCache(tmp_path).store(KEY, ENGINE)
    expected = dataclasses.replace(KEY, **{field: value})
    with pytest.raises(EngineMismatch, match=f"refusing it: {field}"):
        verify_engine(stored.engine, expected)


def test_lookup_refuses_an_engine_whose_metadata_was_swapped(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    stored = cache.store(KEY, ENGINE)
    other = dataclasses.replace(KEY, trt_version="10.0.1")
    meta = json.loads(stored.metadata.read_text())
    meta["key"] = other.as_dict()
    stored.metadata.write_text(json.dumps(meta))
    with pytest.raises(EngineMismatch, match=r"trt_version: '8\.6\.2' != '10\.0\.1'"):
        cache.lookup(KEY)


@pytest.mark.parametrize(
    "damage",
    ["no metadata", "bad json", "truncated engine", "replaced engine", "no key"],
)
def test_verify_refuses_damaged_files(tmp_path: Path, damage: str) -> None:
    stored = EngineCache(tmp_path).store(KEY, ENGINE)
    if damage == "no metadata":
        stored.metadata.unlink()
    elif damage == "bad json":
        stored.metadata.write_text("{")
    elif damage == "truncated engine":
        stored.engine.write_bytes(ENGINE[:-3])
    elif damage == "replaced engine":
        stored.engine.write_bytes(bytes(reversed(ENGINE)))
    elif damage == "no key":
        stored.metadata.write_text(json.dumps({"engine_sha256": "x"}))
    with pytest.raises(EngineMismatch, match="refusing it"):
        verify_engine(stored.engine, KEY)


def test_verify_missing_engine(tmp_path: Path) -> None:
    with pytest.raises(EngineMismatch, match="no engine file"):
        verify_engine(tmp_path / "nothing.engine", KEY)


def test_store_overwrites_atomically(tmp_path: Path) -> None:
    cache = EngineCache(tmp_path)
    cache.store(KEY, b"old")
    cache.store(KEY, ENGINE)
    found = cache.lookup(KEY)
    assert found is not None
    assert found.engine.read_bytes() == ENGINE
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.fixture
def no_tensorrt(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tensorrt", None)


@pytest.mark.usefixtures("no_tensorrt")
def test_build_engine_without_tensorrt_is_unavailable(tmp_path: Path) -> None:
    from edge.inference.trt_builder import build_engine

    onnx_path = tmp_path / "m.onnx"
    onnx_path.write_bytes(b"onnx")
    with pytest.raises(BackendUnavailable, match="tensorrt is not importable"):
        build_engine(dataclasses.replace(PLAN, onnx_path=onnx_path), tmp_path / "engines")


@pytest.mark.usefixtures("no_tensorrt")
def test_tensorrt_backend_without_tensorrt_is_unavailable(tmp_path: Path) -> None:
    from edge.inference.tensorrt_backend import TensorRTBackend

    with pytest.raises(BackendUnavailable):
        TensorRTBackend(tmp_path / "x.engine", KEY)
