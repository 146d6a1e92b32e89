"""Sparkplug B topic namespace (spec 4.1): build and parse, with id validation.

spBv1.0/{group_id}/{message_type}/{edge_node_id}[/{device_id}]
spBv1.0/STATE/{host_id}
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Final

from proto.errors import TopicError
from proto.topics import check_id

NAMESPACE: Final = "spBv1.0"
STATE: Final = "STATE"


class MessageType(StrEnum):
    """The Sparkplug message types that travel under a group and an edge node."""

    NBIRTH = "NBIRTH"
    NDEATH = "NDEATH"
    NDATA = "NDATA"
    NCMD = "NCMD"
    DBIRTH = "DBIRTH"
    DDEATH = "DDEATH"
    DDATA = "DDATA"
    DCMD = "DCMD"

    @property
    def is_device(self) -> bool:
        """True for the D* types, whose topic names a device."""
        return self.value.startswith("D")

    @property
    def has_seq(self) -> bool:
        """True for the types that carry the edge node's seq (all but NDEATH and commands)."""
        return self not in (MessageType.NDEATH, MessageType.NCMD, MessageType.DCMD)


@dataclass(frozen=True, slots=True)
class SparkplugTopic:
    """A parsed edge-node or device topic."""

    group_id: str
    message_type: MessageType
    edge_node_id: str
    device_id: str | None = None

    def __post_init__(self) -> None:
        check_id(self.group_id, "group_id")
        check_id(self.edge_node_id, "edge_node_id")
        if self.message_type.is_device:
            if self.device_id is None:
                raise TopicError(f"{self.message_type} needs a device_id")
            check_id(self.device_id, "device_id")
        elif self.device_id is not None:
            raise TopicError(f"{self.message_type} takes no device_id")

    @property
    def node_key(self) -> tuple[str, str]:
        """(group_id, edge_node_id): the unit of seq and bdSeq tracking."""
        return (self.group_id, self.edge_node_id)

    def __str__(self) -> str:
        return build_topic(self.group_id, self.message_type, self.edge_node_id, self.device_id)


@dataclass(frozen=True, slots=True)
class StateTopic:
    """A parsed Sparkplug host application STATE topic."""

    host_id: str

    def __post_init__(self) -> None:
        check_id(self.host_id, "host_id")

    def __str__(self) -> str:
        return state_topic(self.host_id)


def build_topic(
    group_id: str, message_type: MessageType | str, edge_node_id: str, device_id: str | None = None
) -> str:
    """spBv1.0/{group_id}/{message_type}/{edge_node_id}[/{device_id}], validated."""
    kind = _message_type(message_type)
    check_id(group_id, "group_id")
    check_id(edge_node_id, "edge_node_id")
    if kind.is_device:
        if device_id is None:
            raise TopicError(f"{kind} needs a device_id")
        return f"{NAMESPACE}/{group_id}/{kind}/{edge_node_id}/{check_id(device_id, 'device_id')}"
    if device_id is not None:
        raise TopicError(f"{kind} takes no device_id")
    return f"{NAMESPACE}/{group_id}/{kind}/{edge_node_id}"


def state_topic(host_id: str) -> str:
    """spBv1.0/STATE/{host_id}, validated."""
    return f"{NAMESPACE}/{STATE}/{check_id(host_id, 'host_id')}"


def parse_topic(topic: str) -> SparkplugTopic | StateTopic:
    """Parse any Sparkplug topic; TopicError if it is not one."""
    levels = topic.split("/")
    if len(levels) < 3 or levels[0] != NAMESPACE:
        raise TopicError(f"not a Sparkplug B topic: {topic!r}")
    if levels[1] == STATE:
        if len(levels) != 3:
            raise TopicError(f"STATE topic must be {NAMESPACE}/STATE/host_id: {topic!r}")
        return StateTopic(levels[2])
    if len(levels) not in (4, 5):
        raise TopicError(f"Sparkplug topic needs 4 or 5 levels: {topic!r}")
    kind = _message_type(levels[2])
    device = levels[4] if len(levels) == 5 else None
    return SparkplugTopic(levels[1], kind, levels[3], device)


def parse_node_topic(topic: str) -> SparkplugTopic:
    """Parse an edge-node or device topic; TopicError for STATE and anything else."""
    parsed = parse_topic(topic)
    if not isinstance(parsed, SparkplugTopic):
        raise TopicError(f"expected an edge node or device topic, got STATE: {topic!r}")
    return parsed


def subscription(group_id: str = "+", message_type: MessageType | str = "+", edge_node_id: str = "+") -> str:
    """A subscription filter for node and device messages; '+' fields match anything."""
    levels = [NAMESPACE]
    for value, what in (
        (group_id, "group_id"),
        (str(message_type), "message_type"),
        (edge_node_id, "edge_node_id"),
    ):
        levels.append(value if value == "+" else check_id(value, what))
    if message_type != "+":
        _message_type(message_type)
    return "/".join(levels) + "/#"


def _message_type(value: MessageType | str) -> MessageType:
    try:
        return MessageType(value)
    except ValueError as exc:
        raise TopicError(f"unknown Sparkplug message type {value!r}") from exc
