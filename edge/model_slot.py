"""A pipeline's model, swapped atomically while batches keep flowing.

Why and how: a new model version is loaded and warmed up off the hot path (`swap_in` runs the
loader in a worker thread); `stage` then replaces the reference between two batches — a batch
that already started finishes on the model it started with. The old model is kept until the new
one has served `probation_batches` batches without an error; if the new one fails a batch
before that, the slot rolls back to the old one and runs that same batch again on it, so no
frame or window is lost to a bad model. A model is closed only when no batch holds it.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Generic, TypeVar

from edge.errors import ModelSwapError
from proto.artifacts import ModelManifest

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True, eq=False)
class LoadedModel(Generic[T]):
    """A loaded, warmed-up model: what the pipeline calls (`runner`), its manifest, how to release it."""

    runner: T
    manifest: ModelManifest
    close: Callable[[], None] = field(default=lambda: None)

    @property
    def name(self) -> str:
        """Model name from the manifest."""
        return self.manifest.name

    @property
    def version(self) -> str:
        """Model version from the manifest."""
        return self.manifest.version


class SlotEvent(StrEnum):
    """What happened in a slot."""

    STAGED = "staged"  # a candidate serves, on probation
    COMMITTED = "committed"  # it proved itself; the old model is gone
    ROLLED_BACK = "rolled_back"  # it failed a batch; the old model serves again


SlotListener = Callable[[SlotEvent, LoadedModel[Any]], None]


class ModelSlot(Generic[T]):
    """Holds the serving model of one pipeline; `run` executes a batch on it."""

    def __init__(
        self, initial: LoadedModel[T], *, probation_batches: int = 20, listener: SlotListener | None = None
    ) -> None:
        if probation_batches < 1:
            raise ValueError("probation_batches must be at least 1")
        self.probation_batches = probation_batches
        self._lock = threading.Lock()
        self._current = initial
        self._previous: LoadedModel[T] | None = None
        self._served = 0
        self._leases: dict[int, int] = {}
        self._retired: dict[int, LoadedModel[T]] = {}
        self._listener = listener
        self.history: list[tuple[SlotEvent, str]] = []

    @property
    def current(self) -> LoadedModel[T]:
        """The model the next batch runs on."""
        return self._current

    @property
    def on_probation(self) -> bool:
        """True while a new model serves and the old one is kept for a rollback."""
        return self._previous is not None

    def stage(self, candidate: LoadedModel[T]) -> None:
        """Serve `candidate` from the next batch on, keeping the proven model for a rollback."""
        with self._lock:
            if self._previous is not None:  # a candidate on probation gives way to the newer one
                self._retire(self._current)
            else:
                self._previous = self._current
            self._current = candidate
            self._served = 0
            to_close = self._reap()
        for retired in to_close:
            _close(retired)
        self._emit(SlotEvent.STAGED, candidate)

    def run(self, fn: Callable[[LoadedModel[T]], R]) -> R:
        """Run one batch on the current model; on a candidate's failure roll back and run it again."""
        with self._lock:
            model = self._current
            candidate = self._previous is not None
            self._leases[id(model)] = self._leases.get(id(model), 0) + 1
        try:
            result = fn(model)
        except Exception as exc:
            rolled_back = self._release(model, failed=candidate)
            if rolled_back:
                log.error("model %s %s failed on probation (%s); rolled back", model.name, model.version, exc)
                self._emit(SlotEvent.ROLLED_BACK, model)
            if candidate:  # a proven model is there to run this batch again
                return self.run(fn)
            raise
        committed = self._release(model, failed=False, succeeded=candidate)
        if committed:
            self._emit(SlotEvent.COMMITTED, model)
        return result

    def close(self) -> None:
        """Close every model the slot holds (call after the last batch)."""
        with self._lock:
            models = [self._current, *([self._previous] if self._previous else []), *self._retired.values()]
            self._retired.clear()
            self._previous = None
        for model in {id(m): m for m in models}.values():
            _close(model)

    def _release(self, model: LoadedModel[T], *, failed: bool, succeeded: bool = False) -> bool:
        """Drop a lease; roll back (failed) or count a success (succeeded); True if state changed."""
        changed = False
        with self._lock:
            self._leases[id(model)] -= 1
            if failed and model is self._current and self._previous is not None:
                self._current, self._previous = self._previous, None
                self._retire(model)
                changed = True
            elif succeeded and model is self._current and self._previous is not None:
                self._served += 1
                if self._served >= self.probation_batches:
                    self._retire(self._previous)
                    self._previous = None
                    changed = True
            to_close = self._reap()
        for retired in to_close:
            _close(retired)
        return changed

    def _reap(self) -> list[LoadedModel[T]]:
        """Retired models no batch holds any more, removed from the slot (call with the lock held)."""
        free = [key for key in self._retired if self._leases.get(key, 0) == 0]
        for key in free:
            self._leases.pop(key, None)
        return [self._retired.pop(key) for key in free]

    def _retire(self, model: LoadedModel[T]) -> None:
        """Close `model` once no batch holds it (call with the lock held)."""
        self._retired[id(model)] = model

    def _emit(self, event: SlotEvent, model: LoadedModel[T]) -> None:
        self.history.append((event, model.version))
        log.info("model slot: %s %s %s", event, model.name, model.version)
        if self._listener is not None:
            self._listener(event, model)


def _close(model: LoadedModel[Any]) -> None:
    try:
        model.close()
    except Exception:  # closing must not take the pipeline down
        log.exception("closing model %s %s failed", model.name, model.version)


async def swap_in(
    slot: ModelSlot[T],
    loader: Callable[[], LoadedModel[T]],
    check: Callable[[LoadedModel[T], LoadedModel[T]], None] | None = None,
) -> LoadedModel[T]:
    """Load (and warm up) a candidate in a worker thread, check it against the serving one, stage it.

    ModelSwapError if loading, warming up or the check fails; the serving model is untouched then.
    """
    try:
        candidate = await asyncio.to_thread(loader)
    except Exception as exc:
        raise ModelSwapError(f"loading the new model failed: {exc}") from exc
    if check is not None:
        try:
            check(slot.current, candidate)
        except Exception as exc:
            _close(candidate)
            raise ModelSwapError(f"{candidate.name} {candidate.version} refused: {exc}") from exc
    slot.stage(candidate)
    return candidate
