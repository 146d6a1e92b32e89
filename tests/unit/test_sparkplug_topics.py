"""Sparkplug B topic namespace: build, parse, refuse."""

from __future__ import annotations

import pytest

from proto.errors import TopicError
from proto.sparkplug import topics as t
from proto.sparkplug.topics import MessageType as MT

VALID = [
    ("spBv1.0/plant1/NBIRTH/edge-01", t.SparkplugTopic("plant1", MT.NBIRTH, "edge-01")),
    ("spBv1.0/plant1/NDATA/edge-01", t.SparkplugTopic("plant1", MT.NDATA, "edge-01")),
    ("spBv1.0/plant1/NDEATH/edge-01", t.SparkplugTopic("plant1", MT.NDEATH, "edge-01")),
    ("spBv1.0/plant1/NCMD/edge-01", t.SparkplugTopic("plant1", MT.NCMD, "edge-01")),
    ("spBv1.0/plant1/DBIRTH/edge-01/motor-1", t.SparkplugTopic("plant1", MT.DBIRTH, "edge-01", "motor-1")),
    ("spBv1.0/plant1/DDATA/edge-01/motor-1", t.SparkplugTopic("plant1", MT.DDATA, "edge-01", "motor-1")),
    ("spBv1.0/plant1/DDEATH/edge-01/motor-1", t.SparkplugTopic("plant1", MT.DDEATH, "edge-01", "motor-1")),
    ("spBv1.0/plant1/DCMD/edge-01/motor-1", t.SparkplugTopic("plant1", MT.DCMD, "edge-01", "motor-1")),
    ("spBv1.0/STATE/scada-host", t.StateTopic("scada-host")),
]


@pytest.mark.parametrize(("topic", "parsed"), VALID)
def test_parse_and_build(topic: str, parsed: t.SparkplugTopic | t.StateTopic) -> None:
    assert t.parse_topic(topic) == parsed
    assert str(parsed) == topic


INVALID = [
    "",
    "spBv1.0",
    "spBv1.0/plant1",
    "spBv1.0/plant1/NDATA",
    "spAv1.0/plant1/NDATA/edge-01",
    "spBv1.0/plant1/NFOO/edge-01",
    "spBv1.0/plant1/ndata/edge-01",
    "spBv1.0/plant1/NDATA/edge-01/device",
    "spBv1.0/plant1/DDATA/edge-01",
    "spBv1.0/plant1/DDATA/edge-01/dev/extra",
    "spBv1.0//NDATA/edge-01",
    "spBv1.0/plant1/NDATA/",
    "spBv1.0/plant1/DDATA/edge-01/",
    "spBv1.0/+/NDATA/edge-01",
    "spBv1.0/plant1/NDATA/#",
    "spBv1.0/STATE",
    "spBv1.0/STATE/",
    "spBv1.0/STATE/host/extra",
    "spBv1.0/STATE/+",
]


@pytest.mark.parametrize("topic", INVALID)
def test_parse_refuses(topic: str) -> None:
    with pytest.raises(TopicError):
        t.parse_topic(topic)


@pytest.mark.parametrize(
    ("group", "kind", "node", "device"),
    [
        ("g/x", "NDATA", "n", None),
        ("g", "NDATA", "n+", None),
        ("g", "NDATA", "", None),
        ("g", "NDATA", "n", "d"),
        ("g", "DDATA", "n", None),
        ("g", "DDATA", "n", "d#"),
        ("g", "XDATA", "n", None),
    ],
)
def test_build_refuses(group: str, kind: str, node: str, device: str | None) -> None:
    with pytest.raises(TopicError):
        t.build_topic(group, kind, node, device)


def test_state_topic_and_node_parse() -> None:
    assert t.state_topic("host-1") == "spBv1.0/STATE/host-1"
    with pytest.raises(TopicError):
        t.state_topic("a/b")
    with pytest.raises(TopicError):
        t.parse_node_topic("spBv1.0/STATE/host-1")
    parsed = t.parse_node_topic("spBv1.0/g/DDATA/n/d")
    assert parsed.node_key == ("g", "n")
    assert parsed.message_type.is_device
    assert parsed.message_type.has_seq


@pytest.mark.parametrize(
    ("kind", "has_seq"),
    [
        (MT.NBIRTH, True),
        (MT.NDATA, True),
        (MT.NDEATH, False),
        (MT.NCMD, False),
        (MT.DBIRTH, True),
        (MT.DDATA, True),
        (MT.DDEATH, True),
        (MT.DCMD, False),
    ],
)
def test_which_types_carry_seq(kind: MT, has_seq: bool) -> None:
    assert kind.has_seq is has_seq


def test_subscription_filters() -> None:
    assert t.subscription() == "spBv1.0/+/+/+/#"
    assert t.subscription("plant1") == "spBv1.0/plant1/+/+/#"
    assert t.subscription("plant1", MT.NCMD, "edge-01") == "spBv1.0/plant1/NCMD/edge-01/#"
    with pytest.raises(TopicError):
        t.subscription("plant1", "NOPE")
