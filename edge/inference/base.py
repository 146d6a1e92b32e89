"""The one interface every inference backend implements, and the tensor specs it describes itself with.

Why so small: a pipeline needs to know what the model eats and returns (`input_specs`,
`output_specs`), to run a batch (`run`), and to let go of the runtime (`close`). Everything else —
provider choice, engine builds, device buffers — is the backend's business, chosen by the factory
from configuration. `warmup` works for every backend, so it is a function here, not a method.

`run` takes a dict of named arrays, or one array for a single-input model, and returns the outputs
as a dict in the model's output order. A batch larger than a fixed-batch model is split, a smaller
one padded (see `batching`); the caller always gets exactly its own batch size back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol, Self, runtime_checkable

import numpy as np
import numpy.typing as npt

Inputs = Mapping[str, npt.NDArray[Any]] | npt.NDArray[Any]
Outputs = dict[str, npt.NDArray[Any]]


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """Name, shape (None for a dynamic dimension) and numpy dtype name of one model input or output."""

    name: str
    shape: tuple[int | None, ...]
    dtype: str = "float32"

    @property
    def fixed_batch(self) -> int | None:
        """The batch size the model insists on, or None when the batch axis is dynamic."""
        return self.shape[0] if self.shape else None

    def concrete_shape(self, batch: int) -> tuple[int, ...]:
        """The shape with the batch axis set to `batch`; other dynamic axes must not exist."""
        if any(dim is None for dim in self.shape[1:]):
            raise ValueError(f"{self.name}: only the batch axis may be dynamic, shape {self.shape}")
        return (batch, *(int(d) for d in self.shape[1:] if d is not None))


@runtime_checkable
class InferenceBackend(Protocol):
    """A loaded model that runs batches; close it (or use it as a context manager) when done."""

    @property
    def input_specs(self) -> tuple[TensorSpec, ...]:
        """The model's inputs."""
        ...

    @property
    def output_specs(self) -> tuple[TensorSpec, ...]:
        """The model's outputs, in the order `run` returns them."""
        ...

    def run(self, inputs: Inputs) -> Outputs:
        """Run one batch and return the outputs by name."""
        ...

    def close(self) -> None:
        """Release the runtime, its sessions and device memory."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


class ClosingContext:
    """Mixin: `with backend:` closes the backend on exit."""

    def close(self) -> None:
        """Release resources (overridden by backends)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def zeros_for(specs: tuple[TensorSpec, ...], batch: int = 1) -> dict[str, npt.NDArray[Any]]:
    """Zero inputs of the right shapes and dtypes for a batch size, e.g. for warm-up."""
    return {s.name: np.zeros(s.concrete_shape(s.fixed_batch or batch), dtype=s.dtype) for s in specs}


def warmup(backend: InferenceBackend, runs: int = 3, batch: int = 1) -> None:
    """Run `runs` zero batches so lazy allocations and kernel selection happen before real frames."""
    inputs = zeros_for(backend.input_specs, batch)
    for _ in range(runs):
        backend.run(inputs)
