"""Sparkplug seq and bdSeq bookkeeping, for both ends of the wire (spec 6.4.18, 10).

Publisher side: `SequenceCounter` hands out seq 0..255 (NBIRTH takes 0, each later
message of the node and its devices the next), `next_bd_seq` the session number of
each new MQTT connection.

Host side: `SequenceTracker` follows each edge node and returns a `Decision` for
every message; it performs no I/O. The caller acts on it: process the message when
`decision.accept`, publish a rebirth request (NCMD) when `decision.request_rebirth`,
mark the node's data stale on `Verdict.DEATH`. A rebirth is requested once per
problem; call `forget(node)` (e.g. after a timeout) to have the next message ask again.
Out-of-order messages are not buffered: a gap is a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from proto.sparkplug.topics import MessageType

MODULUS: Final = 256
NodeKey = tuple[str, str]
"""(group_id, edge_node_id)."""


def next_seq(seq: int) -> int:
    """The seq that follows seq, wrapping 255 to 0."""
    return (seq + 1) % MODULUS


def next_bd_seq(previous: int | None) -> int:
    """The bdSeq of a new MQTT session: 0 for the first, then previous + 1 wrapping at 256."""
    return 0 if previous is None else next_seq(previous)


class SequenceCounter:
    """Publisher-side seq of one edge node, shared by the node and its devices."""

    def __init__(self) -> None:
        self._next = 0

    def birth(self) -> int:
        """The seq of an NBIRTH: restart at 0."""
        self._next = 1
        return 0

    def next(self) -> int:
        """The seq of the next DBIRTH, NDATA, DDATA or DDEATH."""
        seq = self._next
        self._next = next_seq(seq)
        return seq


class Verdict(StrEnum):
    """What a host should make of one message."""

    BIRTH = "birth"  # new session accepted: rebuild the node's state from it
    OK = "ok"  # in sequence: process
    GAP = "gap"  # seq skipped (lost or reordered messages): process, and rebirth
    DUPLICATE = "duplicate"  # same seq as the previous message (QoS 1 redelivery): drop
    UNKNOWN_NODE = "unknown_node"  # no live session (birth missed or node dead): drop, rebirth
    DEATH = "death"  # NDEATH of the live session: the node and its devices are offline
    STALE = "stale"  # NDEATH of an older session, or of an unknown node: ignore
    INVALID = "invalid"  # seq missing or out of 0..255: drop


@dataclass(frozen=True, slots=True)
class Decision:
    """The tracker's verdict on one message, with the numbers behind it."""

    verdict: Verdict
    request_rebirth: bool = False
    expected: int | None = None
    received: int | None = None

    @property
    def accept(self) -> bool:
        """True when the message's content should be processed."""
        return self.verdict in (Verdict.BIRTH, Verdict.OK, Verdict.GAP)

    @property
    def missed(self) -> int:
        """How many messages a gap skipped (0 unless verdict is GAP)."""
        if self.verdict is not Verdict.GAP or self.expected is None or self.received is None:
            return 0
        return (self.received - self.expected) % MODULUS


@dataclass(slots=True)
class _Session:
    bd_seq: int
    last_seq: int
    online: bool = True
    rebirth_requested: bool = False


class SequenceTracker:
    """Host-side seq/bdSeq state of many edge nodes; one call per received message."""

    def __init__(self) -> None:
        self._sessions: dict[NodeKey, _Session] = {}
        self._asked: set[NodeKey] = set()

    def observe(
        self, node: NodeKey, message_type: MessageType, seq: int | None, bd_seq: int | None = None
    ) -> Decision:
        """Account for one message of node; seq and bd_seq as read from its payload."""
        if message_type is MessageType.NBIRTH:
            return self._birth(node, seq, bd_seq)
        if message_type is MessageType.NDEATH:
            return self._death(node, bd_seq)
        if not message_type.has_seq:
            return Decision(Verdict.OK)  # NCMD/DCMD come from hosts and carry no seq
        return self._sequenced(node, seq)

    def online(self, node: NodeKey) -> bool:
        """True while node has a live session (a birth and no matching death since)."""
        session = self._sessions.get(node)
        return session is not None and session.online

    def bd_seq(self, node: NodeKey) -> int | None:
        """bdSeq of node's latest birth, or None if no birth was seen."""
        session = self._sessions.get(node)
        return None if session is None else session.bd_seq

    def forget(self, node: NodeKey) -> None:
        """Drop all state of node; its next message is judged as from an unknown node."""
        self._sessions.pop(node, None)
        self._asked.discard(node)

    def _birth(self, node: NodeKey, seq: int | None, bd_seq: int | None) -> Decision:
        if seq is None or bd_seq is None or not _in_range(seq) or not _in_range(bd_seq):
            return Decision(Verdict.INVALID, received=seq)
        self._sessions[node] = _Session(bd_seq=bd_seq, last_seq=seq)
        self._asked.discard(node)
        return Decision(Verdict.BIRTH, received=seq)

    def _death(self, node: NodeKey, bd_seq: int | None) -> Decision:
        session = self._sessions.get(node)
        if session is None or not session.online or bd_seq != session.bd_seq:
            return Decision(Verdict.STALE)
        session.online = False
        return Decision(Verdict.DEATH)

    def _sequenced(self, node: NodeKey, seq: int | None) -> Decision:
        if seq is None or not _in_range(seq):
            return Decision(Verdict.INVALID, received=seq)
        session = self._sessions.get(node)
        if session is None or not session.online:
            first = node not in self._asked
            self._asked.add(node)
            return Decision(Verdict.UNKNOWN_NODE, request_rebirth=first, received=seq)
        expected = next_seq(session.last_seq)
        if seq == expected:
            session.last_seq = seq
            return Decision(Verdict.OK, expected=expected, received=seq)
        if seq == session.last_seq:
            return Decision(Verdict.DUPLICATE, expected=expected, received=seq)
        first = not session.rebirth_requested
        session.rebirth_requested = True
        session.last_seq = seq
        return Decision(Verdict.GAP, request_rebirth=first, expected=expected, received=seq)


def _in_range(value: int) -> bool:
    return 0 <= value < MODULUS
