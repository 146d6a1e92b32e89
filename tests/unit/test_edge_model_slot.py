"""Model slot: atomic swap between batches under load, probation, rollback re-runs the batch, closes."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from edge.errors import ModelSwapError
from edge.model_slot import LoadedModel, ModelSlot, SlotEvent, swap_in
from proto.artifacts import AlarmThresholds, ModelManifest, SeriesNormalization, TensorDecl


def manifest(version: str) -> ModelManifest:
    return ModelManifest(
        name="fake",
        version=version,
        task="fault",
        file="fake.onnx",
        sha256="0" * 64,
        size_bytes=1,
        inputs=(TensorDecl(name="x", shape=("batch", 4, 1)),),
        outputs=(TensorDecl(name="p", shape=("batch", 1)),),
        normalization=SeriesNormalization(
            channel_names=("a",), mean=(0.0,), std=(1.0,), window_length=4, stride=1
        ),
        thresholds=AlarmThresholds(enter=0.8, exit=0.5),
    )


class Runner:
    """Doubles its input; fails from batch `fail_from` on; remembers whether it was closed mid-batch."""

    def __init__(self, version: str, fail_from: int | None = None, delay_s: float = 0.0) -> None:
        self.version, self.fail_from, self.delay_s = version, fail_from, delay_s
        self.calls = 0
        self.closed = 0
        self.busy = 0
        self.closed_while_busy = False

    def __call__(self, item: int) -> tuple[str, int]:
        self.busy += 1
        try:
            self.calls += 1
            if self.delay_s:
                time.sleep(self.delay_s)
            if self.fail_from is not None and self.calls >= self.fail_from:
                raise RuntimeError(f"{self.version} broke")
            return self.version, item * 2
        finally:
            self.busy -= 1

    def close(self) -> None:
        self.closed += 1
        self.closed_while_busy = self.closed_while_busy or self.busy > 0


def loaded(runner: Runner) -> LoadedModel[Runner]:
    return LoadedModel(runner, manifest(runner.version), runner.close)


def run_item(slot: ModelSlot[Runner], item: int) -> tuple[str, int]:
    return slot.run(lambda model: model.runner(item))


def test_commit_after_probation_closes_the_old_model() -> None:
    old, new = Runner("1"), Runner("2")
    events: list[tuple[SlotEvent, str]] = []
    slot = ModelSlot(loaded(old), probation_batches=3, listener=lambda e, m: events.append((e, m.version)))
    assert run_item(slot, 1) == ("1", 2)
    slot.stage(loaded(new))
    assert slot.on_probation
    assert [run_item(slot, i)[0] for i in range(3)] == ["2", "2", "2"]
    assert not slot.on_probation
    assert old.closed == 1
    assert new.closed == 0
    assert events == [(SlotEvent.STAGED, "2"), (SlotEvent.COMMITTED, "2")]


def test_failure_on_probation_rolls_back_and_reruns_the_batch() -> None:
    old, bad = Runner("1"), Runner("2", fail_from=2)
    slot = ModelSlot(loaded(old), probation_batches=5)
    slot.stage(loaded(bad))
    assert run_item(slot, 1) == ("2", 2)
    assert run_item(slot, 2) == ("1", 4)  # failed on "2", ran again on "1": nothing lost
    assert slot.current.runner is old
    assert bad.closed == 1
    assert [e for e, _ in slot.history] == [SlotEvent.STAGED, SlotEvent.ROLLED_BACK]


def test_failure_of_a_proven_model_propagates() -> None:
    slot = ModelSlot(loaded(Runner("1", fail_from=1)))
    with pytest.raises(RuntimeError, match="broke"):
        run_item(slot, 1)


def test_newer_candidate_replaces_one_on_probation() -> None:
    old, second, third = Runner("1"), Runner("2"), Runner("3")
    slot = ModelSlot(loaded(old), probation_batches=2)
    slot.stage(loaded(second))
    slot.stage(loaded(third))
    assert second.closed == 1
    assert old.closed == 0
    run_item(slot, 1)
    run_item(slot, 2)
    assert old.closed == 1
    slot.close()
    assert third.closed == 1


def test_swaps_under_load_drop_nothing() -> None:
    """A worker runs 3000 batches back to back while the main thread swaps models, one of them bad."""
    slot = ModelSlot(loaded(Runner("0", delay_s=0.0001)), probation_batches=10)
    results: list[tuple[str, int]] = []
    stop = threading.Event()

    def worker() -> None:
        for item in range(3000):
            results.append(run_item(slot, item))
        stop.set()

    thread = threading.Thread(target=worker)
    thread.start()
    runners = []
    version = 0
    while not stop.is_set() and version < 40:
        version += 1
        runner = Runner(str(version), fail_from=3 if version % 7 == 0 else None, delay_s=0.0001)
        runners.append(runner)
        slot.stage(loaded(runner))
        time.sleep(0.003)
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert [value for _, value in results] == [2 * i for i in range(3000)]  # every batch, once, in order
    assert len({v for v, _ in results}) > 3  # several models served
    assert any(event is SlotEvent.ROLLED_BACK for event, _ in slot.history)
    slot.close()
    assert all(r.closed == 1 for r in runners)
    assert not any(r.closed_while_busy for r in runners)


async def test_swap_in_loads_off_the_loop_and_refuses_bad_candidates(tmp_path: Path) -> None:
    slot = ModelSlot(loaded(Runner("1")))
    loop_thread = threading.get_ident()
    seen: list[int] = []

    def loader() -> LoadedModel[Runner]:
        seen.append(threading.get_ident())
        return loaded(Runner("2"))

    await swap_in(slot, loader)
    assert seen[0] != loop_thread
    assert slot.current.version == "2"

    def refuse(old: LoadedModel[Runner], new: LoadedModel[Runner]) -> None:
        raise ValueError("input shape differs")

    candidate = Runner("3")
    with pytest.raises(ModelSwapError, match="refused"):
        await swap_in(slot, lambda: loaded(candidate), refuse)
    assert candidate.closed == 1
    assert slot.current.version == "2"

    def broken() -> LoadedModel[Runner]:
        raise OSError("file missing")

    with pytest.raises(ModelSwapError, match="loading"):
        await swap_in(slot, broken)
    await asyncio.sleep(0)
