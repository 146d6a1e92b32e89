"""The Sparkplug B edge node as a state machine: births, deaths, seq, bdSeq, aliases, STATE, rebirth.

Pure: it takes events (a new connection, a received message, data to send) and returns the
MQTT messages to publish, in order; the caller hands them to the transport in that order, which
is what makes seq numbers match the wire. The rules it keeps (Sparkplug B 3.0):

* each MQTT connection gets the next bdSeq; the will is the NDEATH with it, and the NBIRTH
  that follows carries the same bdSeq (a rebirth on request keeps it);
* NBIRTH takes seq 0; every later DBIRTH, NDATA, DDATA and DDEATH the next, wrapping at 256;
* births carry every metric with its current value, name, data type and alias; DATA goes by
  alias; a device whose metrics grew is born again (DBIRTH) before its DATA;
* a device whose source is lost gets a DDEATH and is left out of later births until its next
  DATA, which a DBIRTH precedes;
* timestamps: a payload's is when the message was built (this node's clock); a metric's is
  the event time of its value, which the caller sets (births keep each value's own time);
* with a primary host configured, nothing is published until its STATE says online; if it
  goes offline, the session ends (the caller publishes the NDEATH and disconnects);
* an NCMD `Node Control/Rebirth` = true publishes the whole birth sequence again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from edge.publisher.metric_map import DeviceCatalog, MetricSpec
from proto.errors import ContractError
from proto.sparkplug import (
    AliasTable,
    MessageType,
    Metric,
    SequenceCounter,
    StateTopic,
    build_topic,
    decode_payload,
    decode_state,
    encode_dbirth,
    encode_ddata,
    encode_ddeath,
    encode_nbirth,
    encode_ndata,
    encode_ndeath,
    next_bd_seq,
    parse_topic,
    state_topic,
)

log = logging.getLogger(__name__)

QOS = 1


class NodeState(StrEnum):
    """Where the edge node's Sparkplug session stands."""

    OFFLINE = "offline"  # no MQTT connection
    WAITING_FOR_HOST = "waiting_for_host"  # connected, the primary host is not online: no births yet
    ONLINE = "online"  # births published: data may flow


@dataclass(frozen=True, slots=True)
class OutMessage:
    """One MQTT publish."""

    topic: str
    payload: bytes
    qos: int = QOS
    retain: bool = False


@dataclass(frozen=True, slots=True)
class Reaction:
    """What the caller must do after an event: publish these, and/or end the session."""

    publish: tuple[OutMessage, ...] = ()
    disconnect: bool = False


class EdgeNodeSession:
    """Sparkplug state of one edge node across MQTT connections."""

    def __init__(
        self,
        group_id: str,
        edge_node_id: str,
        catalog: DeviceCatalog,
        *,
        primary_host_id: str | None = None,
        last_bd_seq: int | None = None,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self.group_id, self.edge_node_id = group_id, edge_node_id
        self.catalog = catalog
        self.primary_host_id = primary_host_id
        self.state = NodeState.OFFLINE
        self.bd_seq: int | None = last_bd_seq
        self.births_published = 0
        self._clock = clock_ms
        self._seq = SequenceCounter()
        self._aliases = AliasTable()
        self._born: dict[str | None, frozenset[str]] = {}
        self._dead: set[str] = set()
        self._host_ts = -1

    # ------------------------------------------------------------------ connection

    def start(self) -> OutMessage:
        """A new MQTT connection is about to be made: take the next bdSeq and return the will (NDEATH)."""
        self.bd_seq = next_bd_seq(self.bd_seq)
        self.state = NodeState.OFFLINE
        self._born.clear()
        return self._ndeath()

    def subscriptions(self) -> tuple[str, ...]:
        """Topic filters to subscribe to right after connecting: commands, and the primary host's STATE."""
        ncmd = build_topic(self.group_id, MessageType.NCMD, self.edge_node_id)
        dcmd = f"spBv1.0/{self.group_id}/{MessageType.DCMD}/{self.edge_node_id}/+"
        if self.primary_host_id is None:
            return (ncmd, dcmd)
        return (ncmd, dcmd, state_topic(self.primary_host_id))

    def connected(self) -> Reaction:
        """The CONNACK arrived and subscriptions are made: births now, or wait for the primary host."""
        if self.primary_host_id is not None:
            self.state = NodeState.WAITING_FOR_HOST
            return Reaction()
        return Reaction(self.births())

    def lost(self) -> None:
        """The connection dropped (the broker publishes our will)."""
        self.state = NodeState.OFFLINE
        self._born.clear()

    def death(self) -> OutMessage:
        """The NDEATH to publish before an intentional disconnect."""
        self.state = NodeState.OFFLINE
        self._born.clear()
        return self._ndeath()

    @property
    def online(self) -> bool:
        """True while births are out and data may flow."""
        return self.state is NodeState.ONLINE

    # ------------------------------------------------------------------ incoming

    def on_message(self, topic: str, payload: bytes) -> Reaction:
        """React to STATE, NCMD or DCMD; anything malformed is logged and ignored."""
        try:
            parsed = parse_topic(topic)
        except ContractError:
            log.warning("ignoring a message on unexpected topic %s", topic)
            return Reaction()
        if isinstance(parsed, StateTopic):
            return self._on_state(parsed.host_id, payload)
        if parsed.message_type is MessageType.NCMD and parsed.edge_node_id == self.edge_node_id:
            return self._on_ncmd(payload)
        if parsed.message_type is MessageType.DCMD:
            log.info("ignoring DCMD for %s: devices of this node take no commands", parsed.device_id)
        return Reaction()

    def _on_state(self, host_id: str, payload: bytes) -> Reaction:
        if host_id != self.primary_host_id:
            return Reaction()
        try:
            host = decode_state(payload)
        except ContractError as exc:
            log.warning("ignoring malformed STATE of %s: %s", host_id, exc)
            return Reaction()
        if host.timestamp < self._host_ts:
            return Reaction()  # an older STATE (e.g. a late will) than one already seen
        self._host_ts = host.timestamp
        if host.online:
            if self.state is NodeState.WAITING_FOR_HOST:
                return Reaction(self.births())
            return Reaction()
        if self.state is NodeState.ONLINE:
            log.warning("primary host %s went offline: ending the Sparkplug session", host_id)
            return Reaction(disconnect=True)
        return Reaction()

    def _on_ncmd(self, payload: bytes) -> Reaction:
        try:
            command = decode_payload(payload)
        except ContractError as exc:
            log.warning("ignoring malformed NCMD: %s", exc)
            return Reaction()
        if command.rebirth_requested and self.state is NodeState.ONLINE:
            log.info("rebirth requested")
            return Reaction(self.births())
        return Reaction()

    # ------------------------------------------------------------------ outgoing

    def births(self) -> tuple[OutMessage, ...]:
        """NBIRTH (seq 0, this connection's bdSeq) and a DBIRTH per known device that is not dead."""
        if self.bd_seq is None:
            raise RuntimeError("births before start(): no bdSeq")
        now = self._clock()
        node_metrics = self._aliases.aliased(self.catalog.birth_metrics(None, now))
        nbirth = OutMessage(
            build_topic(self.group_id, MessageType.NBIRTH, self.edge_node_id),
            encode_nbirth(node_metrics, bd_seq=self.bd_seq, timestamp=now, seq=self._seq.birth()),
        )
        self._born = {None: self.catalog.names(None)}
        self.state = NodeState.ONLINE
        self.births_published += 1
        alive = [device for device in self.catalog.devices() if device not in self._dead]
        return (nbirth, *(self._dbirth(device, now) for device in alive))

    def data(
        self, device_id: str | None, metrics: Sequence[Metric], *, historical: bool = False
    ) -> tuple[OutMessage, ...]:
        """NDATA/DDATA for metrics (by alias), preceded by a birth when the metric set grew."""
        if not self.online:
            raise RuntimeError(f"data while the node is {self.state}")
        now = self._clock()
        out: list[OutMessage] = []
        names = {m.name for m in metrics}
        if not names <= self._born.get(device_id, frozenset()):
            # e.g. replaying an outbox after a restart, before any live value declared the metric
            self.catalog.declare(
                device_id, {m.name: MetricSpec(m.name, m.datatype) for m in metrics if m.name}.values()
            )
            if device_id is None:
                out.extend(self.births())  # node metrics can only be added by a new NBIRTH
            else:
                out.append(self._dbirth(device_id, now))
        aliased = self._aliases.aliased(metrics, device_id)
        if historical:
            aliased = tuple(replace(m, is_historical=True) for m in aliased)
        if device_id is None:
            topic = build_topic(self.group_id, MessageType.NDATA, self.edge_node_id)
            out.append(OutMessage(topic, encode_ndata(aliased, seq=self._seq.next(), timestamp=now)))
        else:
            topic = build_topic(self.group_id, MessageType.DDATA, self.edge_node_id, device_id)
            out.append(OutMessage(topic, encode_ddata(aliased, seq=self._seq.next(), timestamp=now)))
        return tuple(out)

    def device_death(self, device_id: str) -> tuple[OutMessage, ...]:
        """DDEATH for a device that stopped (a camera lost); births skip it until its next DATA."""
        self._dead.add(device_id)
        if not self.online or device_id not in self._born:
            return ()
        del self._born[device_id]
        topic = build_topic(self.group_id, MessageType.DDEATH, self.edge_node_id, device_id)
        return (OutMessage(topic, encode_ddeath(seq=self._seq.next(), timestamp=self._clock())),)

    def born(self, device_id: str | None) -> bool:
        """True if the node (None) or device has been born in the current session."""
        return device_id in self._born

    def dead(self, device_id: str) -> bool:
        """True if the device had a DDEATH and no DATA since."""
        return device_id in self._dead

    def _dbirth(self, device_id: str, now: int) -> OutMessage:
        self._dead.discard(device_id)
        metrics = self._aliases.aliased(self.catalog.birth_metrics(device_id, now), device_id)
        self._born[device_id] = self.catalog.names(device_id)
        topic = build_topic(self.group_id, MessageType.DBIRTH, self.edge_node_id, device_id)
        return OutMessage(topic, encode_dbirth(metrics, seq=self._seq.next(), timestamp=now))

    def _ndeath(self) -> OutMessage:
        if self.bd_seq is None:
            raise RuntimeError("no bdSeq before start()")
        topic = build_topic(self.group_id, MessageType.NDEATH, self.edge_node_id)
        return OutMessage(topic, encode_ndeath(self.bd_seq, timestamp=self._clock()))
