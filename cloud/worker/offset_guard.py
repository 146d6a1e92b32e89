"""Admit a partition's records only in offset order, one after the other (pure, no Faust).

Why: after a rebalance Faust can hand the agent a partition's records out of order. Its fetch
loop races the seek to the committed offsets, so a stream may see a record twice, or jump over
a stretch (39-46, then 65) that Faust takes for a gap of transaction markers and may commit past.
The pipeline core skips records at or below a key's stored offset, so a jump is worse than a
loss: the records after it advance the keys' offsets and the skipped ones would count as applied
on any replay. Our input topics are plain (no transactions, no compaction), so within one
assignment each partition's offsets follow one another with no hole.

How: :class:`OffsetGuard` remembers the next offset it expects per topic-partition. A record
below it is a repeat (dropped), the expected one is applied, and one above it is a jump: that
record and every later one of its partition in the batch are held back (not applied), and the
host seeks the partition back to the expected offset so that the missing stretch is read again.
The first record of a partition after :meth:`OffsetGuard.reset` (a new assignment, where Faust
seeks to the committed offset) sets where it starts.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

P = TypeVar("P", bound=Hashable)
"""A topic-partition (anything hashable: Faust's ``TP``, or ``(topic, partition)`` in tests)."""


@dataclass(frozen=True, slots=True)
class Admission(Generic[P]):
    """What to do with one batch: which records to apply and where to read again."""

    apply: tuple[int, ...] = ()
    """Indices (into the batch) of the records to apply, in batch order."""
    repeats: int = 0
    """Records below the expected offset (already seen in this assignment), dropped."""
    held: tuple[int, ...] = ()
    """Indices of records beyond a jump, not applied: they are read again after the seek."""
    rewind: dict[P, int] = field(default_factory=dict)
    """Partition -> offset to seek back to (the first one missing)."""


class OffsetGuard(Generic[P]):
    """The next expected offset per partition within one assignment."""

    def __init__(self) -> None:
        self._next: dict[P, int] = {}

    def reset(self) -> None:
        """Forget every partition (a new assignment: each starts where its first record is)."""
        self._next.clear()

    def expected(self, partition: P) -> int | None:
        """The next offset expected of the partition, None if it has not been seen."""
        return self._next.get(partition)

    def admit(self, records: Iterable[tuple[P, int]]) -> Admission[P]:
        """Sort one batch's ``(partition, offset)`` pairs into applied, repeated and held back."""
        apply: list[int] = []
        held: list[int] = []
        rewind: dict[P, int] = {}
        repeats = 0
        for index, (partition, offset) in enumerate(records):
            if partition in rewind:
                held.append(index)
                continue
            expected = self._next.get(partition, offset)
            if offset < expected:
                repeats += 1
            elif offset == expected:
                apply.append(index)
                self._next[partition] = offset + 1
            else:
                held.append(index)
                rewind[partition] = expected
        return Admission(tuple(apply), repeats, tuple(held), rewind)
