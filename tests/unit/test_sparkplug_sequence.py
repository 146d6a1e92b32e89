"""Sequence tracking: seq wraparound, gaps, duplicates, rebirth, bdSeq birth/death matching."""

from __future__ import annotations

import pytest

from proto.sparkplug import Decision, SequenceCounter, SequenceTracker, Verdict, next_bd_seq, next_seq
from proto.sparkplug.topics import MessageType as MT

NODE = ("plant1", "edge-01")
OTHER = ("plant1", "edge-02")

Observed = tuple[MT, int | None, int | None]
# Each case: messages (type, seq, bd_seq) for NODE; expected (verdict, request_rebirth) per message.
CASES: dict[str, tuple[list[Observed], list[tuple[Verdict, bool]]]] = {
    "in order": (
        [
            (MT.NBIRTH, 0, 3),
            (MT.DBIRTH, 1, None),
            (MT.NDATA, 2, None),
            (MT.DDATA, 3, None),
            (MT.DDEATH, 4, None),
        ],
        [
            (Verdict.BIRTH, False),
            (Verdict.OK, False),
            (Verdict.OK, False),
            (Verdict.OK, False),
            (Verdict.OK, False),
        ],
    ),
    "wraparound 255 -> 0": (
        [(MT.NBIRTH, 254, 0), (MT.NDATA, 255, None), (MT.NDATA, 0, None), (MT.NDATA, 1, None)],
        [(Verdict.BIRTH, False), (Verdict.OK, False), (Verdict.OK, False), (Verdict.OK, False)],
    ),
    "gap asks once for a rebirth": (
        [
            (MT.NBIRTH, 0, 1),
            (MT.NDATA, 1, None),
            (MT.NDATA, 5, None),
            (MT.NDATA, 6, None),
            (MT.NDATA, 9, None),
        ],
        [
            (Verdict.BIRTH, False),
            (Verdict.OK, False),
            (Verdict.GAP, True),
            (Verdict.OK, False),
            (Verdict.GAP, False),
        ],
    ),
    "rebirth clears the request": (
        [(MT.NBIRTH, 0, 1), (MT.NDATA, 7, None), (MT.NBIRTH, 0, 1), (MT.NDATA, 1, None), (MT.NDATA, 3, None)],
        [
            (Verdict.BIRTH, False),
            (Verdict.GAP, True),
            (Verdict.BIRTH, False),
            (Verdict.OK, False),
            (Verdict.GAP, True),
        ],
    ),
    "gap across the wrap": (
        [(MT.NBIRTH, 250, 1), (MT.NDATA, 2, None)],
        [(Verdict.BIRTH, False), (Verdict.GAP, True)],
    ),
    "out of order": (
        [(MT.NBIRTH, 0, 1), (MT.NDATA, 2, None), (MT.NDATA, 1, None)],
        [(Verdict.BIRTH, False), (Verdict.GAP, True), (Verdict.GAP, False)],
    ),
    "duplicate is dropped": (
        [(MT.NBIRTH, 0, 1), (MT.NDATA, 1, None), (MT.NDATA, 1, None), (MT.NDATA, 2, None)],
        [(Verdict.BIRTH, False), (Verdict.OK, False), (Verdict.DUPLICATE, False), (Verdict.OK, False)],
    ),
    "data before any birth": (
        [(MT.NDATA, 5, None), (MT.DDATA, 6, None), (MT.NBIRTH, 0, 2), (MT.NDATA, 1, None)],
        [
            (Verdict.UNKNOWN_NODE, True),
            (Verdict.UNKNOWN_NODE, False),
            (Verdict.BIRTH, False),
            (Verdict.OK, False),
        ],
    ),
    "death with matching bdSeq": (
        [(MT.NBIRTH, 0, 4), (MT.NDEATH, None, 4), (MT.NDATA, 1, None)],
        [(Verdict.BIRTH, False), (Verdict.DEATH, False), (Verdict.UNKNOWN_NODE, True)],
    ),
    "death with mismatched bdSeq is stale": (
        [(MT.NBIRTH, 0, 4), (MT.NDEATH, None, 3), (MT.NDATA, 1, None)],
        [(Verdict.BIRTH, False), (Verdict.STALE, False), (Verdict.OK, False)],
    ),
    "late will of the old session after reconnect": (
        [
            (MT.NBIRTH, 0, 4),
            (MT.NBIRTH, 0, 5),
            (MT.NDEATH, None, 4),
            (MT.NDATA, 1, None),
            (MT.NDEATH, None, 5),
        ],
        [
            (Verdict.BIRTH, False),
            (Verdict.BIRTH, False),
            (Verdict.STALE, False),
            (Verdict.OK, False),
            (Verdict.DEATH, False),
        ],
    ),
    "death twice": (
        [(MT.NBIRTH, 0, 4), (MT.NDEATH, None, 4), (MT.NDEATH, None, 4)],
        [(Verdict.BIRTH, False), (Verdict.DEATH, False), (Verdict.STALE, False)],
    ),
    "death of an unknown node": ([(MT.NDEATH, None, 0)], [(Verdict.STALE, False)]),
    "bdSeq wraps too": (
        [(MT.NBIRTH, 0, 255), (MT.NDEATH, None, 255), (MT.NBIRTH, 0, 0), (MT.NDEATH, None, 0)],
        [(Verdict.BIRTH, False), (Verdict.DEATH, False), (Verdict.BIRTH, False), (Verdict.DEATH, False)],
    ),
    "commands are not sequenced": (
        [(MT.NBIRTH, 0, 1), (MT.NCMD, None, None), (MT.DCMD, None, None), (MT.NDATA, 1, None)],
        [(Verdict.BIRTH, False), (Verdict.OK, False), (Verdict.OK, False), (Verdict.OK, False)],
    ),
    "invalid seq": (
        [
            (MT.NBIRTH, 0, 1),
            (MT.NDATA, None, None),
            (MT.NDATA, 256, None),
            (MT.NDATA, 1, None),
            (MT.NBIRTH, None, 1),
            (MT.NBIRTH, 0, None),
            (MT.NBIRTH, 0, 300),
        ],
        [
            (Verdict.BIRTH, False),
            (Verdict.INVALID, False),
            (Verdict.INVALID, False),
            (Verdict.OK, False),
            (Verdict.INVALID, False),
            (Verdict.INVALID, False),
            (Verdict.INVALID, False),
        ],
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_tracker(case: str) -> None:
    messages, expected = CASES[case]
    tracker = SequenceTracker()
    got = [tracker.observe(NODE, kind, seq, bd_seq) for kind, seq, bd_seq in messages]
    assert [(d.verdict, d.request_rebirth) for d in got] == expected


def test_decision_details() -> None:
    tracker = SequenceTracker()
    tracker.observe(NODE, MT.NBIRTH, 250, 1)
    gap = tracker.observe(NODE, MT.NDATA, 2, None)
    assert (gap.expected, gap.received, gap.missed, gap.accept) == (251, 2, 7, True)
    assert not Decision(Verdict.DUPLICATE).accept
    assert not Decision(Verdict.STALE).accept
    assert Decision(Verdict.OK).missed == 0


def test_nodes_are_independent_and_forget_resets() -> None:
    tracker = SequenceTracker()
    tracker.observe(NODE, MT.NBIRTH, 0, 1)
    assert tracker.observe(OTHER, MT.NDATA, 1, None).verdict is Verdict.UNKNOWN_NODE
    assert tracker.observe(NODE, MT.NDATA, 1, None).verdict is Verdict.OK
    assert tracker.online(NODE)
    assert not tracker.online(OTHER)
    assert tracker.bd_seq(NODE) == 1
    assert tracker.bd_seq(OTHER) is None
    assert not tracker.observe(OTHER, MT.NDATA, 2, None).request_rebirth
    tracker.forget(OTHER)
    assert tracker.observe(OTHER, MT.NDATA, 3, None).request_rebirth


def test_publisher_counter_matches_the_tracker() -> None:
    counter, tracker = SequenceCounter(), SequenceTracker()
    assert tracker.observe(NODE, MT.NBIRTH, counter.birth(), 0).verdict is Verdict.BIRTH
    for _ in range(600):
        assert tracker.observe(NODE, MT.DDATA, counter.next(), None).verdict is Verdict.OK
    assert counter.birth() == 0
    assert counter.next() == 1


@pytest.mark.parametrize(("seq", "after"), [(0, 1), (254, 255), (255, 0)])
def test_next_seq(seq: int, after: int) -> None:
    assert next_seq(seq) == after


@pytest.mark.parametrize(("previous", "after"), [(None, 0), (0, 1), (255, 0)])
def test_next_bd_seq(previous: int | None, after: int) -> None:
    assert next_bd_seq(previous) == after
