"""Fitting a caller's batch to a model's inputs: checks, dtype casts, splitting and padding (pure)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from edge.inference.base import Inputs, Outputs, TensorSpec
from edge.inference.errors import InputShapeError

Arrays = dict[str, npt.NDArray[Any]]


def normalize_inputs(inputs: Inputs, specs: tuple[TensorSpec, ...]) -> Arrays:
    """Named, C-contiguous arrays of the specs' dtypes, with ranks, fixed dims and batches checked."""
    if isinstance(inputs, np.ndarray):
        if len(specs) != 1:
            names = [s.name for s in specs]
            raise InputShapeError(f"model has inputs {names}; pass a dict, not one array")
        inputs = {specs[0].name: inputs}
    if not isinstance(inputs, Mapping):
        raise InputShapeError(f"inputs must be an array or a dict of arrays, got {type(inputs).__name__}")
    missing = [s.name for s in specs if s.name not in inputs]
    unknown = sorted(set(inputs) - {s.name for s in specs})
    if missing or unknown:
        raise InputShapeError(f"inputs missing {missing}, unknown {unknown}")
    out: Arrays = {}
    batches = set()
    for spec in specs:
        array = np.asarray(inputs[spec.name])
        if array.ndim != len(spec.shape):
            raise InputShapeError(
                f"{spec.name}: expected rank {len(spec.shape)} {spec.shape}, got {array.shape}"
            )
        for axis, (want, got) in enumerate(zip(spec.shape[1:], array.shape[1:], strict=True), start=1):
            if want is not None and want != got:
                raise InputShapeError(f"{spec.name}: axis {axis} must be {want}, got shape {array.shape}")
        if array.shape[0] == 0:
            raise InputShapeError(f"{spec.name}: empty batch")
        batches.add(array.shape[0])
        out[spec.name] = np.ascontiguousarray(array, dtype=spec.dtype)
    if len(batches) > 1:
        raise InputShapeError(f"inputs disagree on the batch size: {sorted(batches)}")
    return out


def chunks(arrays: Arrays, size: int, *, pad: bool = True) -> Iterator[tuple[Arrays, int]]:
    """Split along the batch axis into chunks of `size`, the last zero-padded if `pad`: (chunk, valid)."""
    total = next(iter(arrays.values())).shape[0]
    for start in range(0, total, size):
        valid = min(size, total - start)
        chunk = {}
        for name, array in arrays.items():
            part = array[start : start + valid]
            if pad and valid < size:
                zeros = np.zeros((size - valid, *part.shape[1:]), dtype=part.dtype)
                part = np.concatenate([part, zeros])
            chunk[name] = part
        yield chunk, valid


def run_in_fixed_batches(
    run_once: Callable[[Arrays], Outputs],
    arrays: Arrays,
    fixed_batch: int | None,
    max_batch: int | None = None,
) -> Outputs:
    """Run `run_once` on batches a model accepts and stitch the outputs back to the caller's batch size.

    `fixed_batch` is the only size a static model takes (pad/split to it); for a dynamic model
    it is None and `max_batch` (if any) caps the chunk size, without padding.
    """
    total = next(iter(arrays.values())).shape[0]
    size = fixed_batch or max_batch
    if size is None or (total == size) or (fixed_batch is None and total <= size):
        return run_once(arrays)
    pieces: list[Outputs] = []
    for chunk, valid in chunks(arrays, size, pad=fixed_batch is not None):
        outputs = run_once(chunk)
        pieces.append({name: out[:valid] for name, out in outputs.items()})
    return {name: np.concatenate([p[name] for p in pieces]) for name in pieces[0]}
