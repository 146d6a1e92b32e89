"""The worker's offset guard: records apply only in offset order; a jump is held back and read again."""

from __future__ import annotations

import pytest

from cloud.worker.offset_guard import OffsetGuard

A, B = ("telemetry", 0), ("telemetry", 1)


@pytest.mark.parametrize(
    ("batches", "apply", "repeats", "held", "rewind"),
    [
        # in order, across batches: everything applies
        ([[(A, 5), (A, 6)], [(A, 7), (B, 0)]], (0, 1), 0, (), {}),
        # the first record of a partition sets its start
        ([[(A, 39), (A, 40)]], (0, 1), 0, (), {}),
        # a repeat (the fetch raced the seek to the committed offset) is dropped
        ([[(A, 5), (A, 6)], [(A, 6), (A, 7)]], (1,), 1, (), {}),
        # a jump: 39-46, then 65 (the taken-over partition in the scale-out test)
        ([[(A, 45), (A, 46)], [(A, 65), (A, 66)]], (), 0, (0, 1), {A: 47}),
        # a jump holds back its partition only, and everything after it in the batch
        ([[(A, 1), (B, 1)], [(B, 2), (A, 3), (B, 3), (A, 2)]], (0, 2), 0, (1, 3), {A: 2}),
        # a hole within one batch
        ([[(A, 0), (A, 1), (A, 3), (A, 2)]], (0, 1), 0, (2, 3), {A: 2}),
        # duplicates and reordering within a batch: a later offset must not pass an earlier one
        ([[(A, 178), (A, 180), (A, 179), (A, 181)]], (0,), 0, (1, 2, 3), {A: 179}),
    ],
)
def test_admit(
    batches: list[list[tuple[tuple[str, int], int]]],
    apply: tuple[int, ...],
    repeats: int,
    held: tuple[int, ...],
    rewind: dict[tuple[str, int], int],
) -> None:
    guard: OffsetGuard[tuple[str, int]] = OffsetGuard()
    for batch in batches[:-1]:
        guard.admit(batch)
    admission = guard.admit(batches[-1])
    assert (admission.apply, admission.repeats, admission.held, admission.rewind) == (
        apply,
        repeats,
        held,
        rewind,
    )


def test_after_the_seek_the_missing_stretch_applies_and_then_the_rest() -> None:
    guard: OffsetGuard[tuple[str, int]] = OffsetGuard()
    guard.admit([(A, o) for o in range(39, 47)])
    assert guard.admit([(A, o) for o in range(65, 70)]).rewind == {A: 47}
    assert guard.admit([(A, o) for o in range(66, 70)]).rewind == {A: 47}  # still prefetched: again
    assert guard.expected(A) == 47
    again = guard.admit([(A, o) for o in range(47, 70)])
    assert (len(again.apply), again.rewind) == (23, {})
    assert guard.expected(A) == 70


def test_reset_starts_each_partition_afresh() -> None:
    guard: OffsetGuard[tuple[str, int]] = OffsetGuard()
    guard.admit([(A, 10)])
    guard.reset()
    assert guard.expected(A) is None
    assert guard.admit([(A, 3)]).apply == (0,)
