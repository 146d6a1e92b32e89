"""The backend interface's pure parts: specs, input checks, splitting/padding, warm-up, errors."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from edge.inference.base import (
    ClosingContext,
    InferenceBackend,
    Inputs,
    Outputs,
    TensorSpec,
    warmup,
    zeros_for,
)
from edge.inference.batching import chunks, normalize_inputs, run_in_fixed_batches
from edge.inference.errors import (
    ArtifactError,
    BackendUnavailable,
    EngineMismatch,
    ExecutionError,
    InferenceError,
    InputShapeError,
)

IMAGES = TensorSpec("images", (None, 3, 4, 4))
PAIR = (TensorSpec("a", (None, 2)), TensorSpec("b", (None, 3), "int64"))


class EchoBackend(ClosingContext):
    """A fake backend: returns its input doubled, counts runs and batch sizes."""

    def __init__(self, specs: tuple[TensorSpec, ...] = (IMAGES,)) -> None:
        self.input_specs = specs
        self.output_specs = (TensorSpec("out", specs[0].shape),)
        self.batches: list[int] = []
        self.closed = False

    def run(self, inputs: Inputs) -> Outputs:
        arrays = normalize_inputs(inputs, self.input_specs)
        first = arrays[self.input_specs[0].name]
        self.batches.append(first.shape[0])
        return {"out": first * 2}

    def close(self) -> None:
        self.closed = True


def test_fake_backend_satisfies_the_protocol() -> None:
    assert isinstance(EchoBackend(), InferenceBackend)


def test_context_manager_closes() -> None:
    with EchoBackend() as backend:
        assert not backend.closed
    assert backend.closed


@pytest.mark.parametrize(
    ("spec", "fixed", "concrete"),
    [
        (TensorSpec("x", (None, 3, 640, 640)), None, (5, 3, 640, 640)),
        (TensorSpec("x", (2, 8)), 2, (5, 8)),
    ],
)
def test_tensor_spec(spec: TensorSpec, fixed: int | None, concrete: tuple[int, ...]) -> None:
    assert spec.fixed_batch == fixed
    assert spec.concrete_shape(5) == concrete


def test_concrete_shape_refuses_other_dynamic_axes() -> None:
    with pytest.raises(ValueError, match="only the batch axis"):
        TensorSpec("x", (None, 3, None)).concrete_shape(1)


def test_zeros_for_and_warmup() -> None:
    zeros = zeros_for(PAIR, batch=4)
    assert zeros["a"].shape == (4, 2)
    assert zeros["b"].dtype == np.int64
    fixed = zeros_for((TensorSpec("x", (2, 3)),), batch=7)
    assert fixed["x"].shape == (2, 3)  # a fixed batch wins
    backend = EchoBackend()
    warmup(backend, runs=2, batch=3)
    assert backend.batches == [3, 3]


def test_normalize_single_array_casts_and_makes_contiguous() -> None:
    x = np.arange(2 * 3 * 4 * 4, dtype=np.float64).reshape(2, 4, 4, 3).transpose(0, 3, 1, 2)
    out = normalize_inputs(x, (IMAGES,))
    assert out["images"].dtype == np.float32
    assert out["images"].flags.c_contiguous
    np.testing.assert_array_equal(out["images"], x)


@pytest.mark.parametrize(
    ("inputs", "specs", "message"),
    [
        (np.zeros((1, 2)), PAIR, "pass a dict"),
        ({"a": np.zeros((1, 2))}, PAIR, "missing \\['b'\\]"),
        ({"a": np.zeros((1, 2)), "b": np.zeros((1, 3)), "c": 1}, PAIR, "unknown \\['c'\\]"),
        ({"images": np.zeros((1, 3, 4))}, (IMAGES,), "expected"),
        ({"images": np.zeros((1, 1, 4, 4))}, (IMAGES,), "axis 1 must be 3"),
        ({"images": np.zeros((0, 3, 4, 4))}, (IMAGES,), "empty batch"),
        ({"a": np.zeros((2, 2)), "b": np.zeros((3, 3))}, PAIR, "disagree"),
        ([1, 2, 3], (IMAGES,), "array or a dict"),
    ],
)
def test_normalize_refuses(inputs: Any, specs: tuple[TensorSpec, ...], message: str) -> None:
    with pytest.raises(InputShapeError, match=message):
        normalize_inputs(inputs, specs)


def test_chunks_pad_the_last_one() -> None:
    arrays = {"a": np.arange(5).reshape(5, 1)}
    got = list(chunks(arrays, 2))
    assert [valid for _, valid in got] == [2, 2, 1]
    np.testing.assert_array_equal(got[-1][0]["a"], [[4], [0]])
    unpadded = list(chunks(arrays, 2, pad=False))
    assert unpadded[-1][0]["a"].shape == (1, 1)


@pytest.mark.parametrize(
    ("total", "fixed", "maximum", "calls"),
    [
        (5, 2, None, [2, 2, 2]),  # split and pad to the fixed batch
        (1, 4, None, [4]),  # pad up
        (4, 4, None, [4]),  # exact
        (5, None, None, [5]),  # dynamic: as is
        (5, None, 2, [2, 2, 1]),  # dynamic with a profile maximum: split, no padding
        (2, None, 8, [2]),
    ],
)
def test_run_in_fixed_batches(total: int, fixed: int | None, maximum: int | None, calls: list[int]) -> None:
    seen: list[int] = []

    def run_once(arrays: dict[str, np.ndarray]) -> Outputs:
        seen.append(arrays["x"].shape[0])
        return {"y": arrays["x"] + 1}

    x = np.arange(total, dtype=np.float32).reshape(total, 1)
    out = run_in_fixed_batches(run_once, {"x": x}, fixed, maximum)
    assert seen == calls
    np.testing.assert_array_equal(out["y"], x + 1)


@pytest.mark.parametrize(
    ("error", "retriable"),
    [
        (BackendUnavailable, False),
        (ArtifactError, False),
        (EngineMismatch, False),
        (InputShapeError, False),
        (ExecutionError, True),
    ],
)
def test_error_hierarchy(error: type[InferenceError], retriable: bool) -> None:
    assert issubclass(error, InferenceError)
    assert error("x").retriable is retriable
