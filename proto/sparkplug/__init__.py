"""Sparkplug B 3.0 codec: topics, typed metrics, payloads per message type, aliases, seq tracking.

Pure code: no MQTT client here. The edge publisher and the cloud bridge import from
this package; the protobuf classes live in `proto.sparkplug_b.sparkplug_b_pb2`.
"""

from __future__ import annotations

from proto.sparkplug.aliases import AliasEntry, AliasTable
from proto.sparkplug.datatypes import DataType
from proto.sparkplug.host_state import HostState, decode_state, encode_state
from proto.sparkplug.metrics import (
    BD_SEQ,
    QUALITY,
    QUALITY_BAD,
    QUALITY_GOOD,
    QUALITY_STALE,
    REBIRTH,
    DataSet,
    MetaData,
    Metric,
    MetricValue,
    PropertySet,
    PropertyValue,
    Template,
    TemplateParameter,
    property_set,
)
from proto.sparkplug.payloads import (
    SparkplugPayload,
    decode_message,
    decode_payload,
    encode_dbirth,
    encode_dcmd,
    encode_ddata,
    encode_ddeath,
    encode_nbirth,
    encode_ncmd,
    encode_ndata,
    encode_ndeath,
    encode_rebirth_request,
)
from proto.sparkplug.sequence import (
    Decision,
    SequenceCounter,
    SequenceTracker,
    Verdict,
    next_bd_seq,
    next_seq,
)
from proto.sparkplug.topics import (
    NAMESPACE,
    MessageType,
    SparkplugTopic,
    StateTopic,
    build_topic,
    check_id,
    parse_node_topic,
    parse_topic,
    state_topic,
    subscription,
)

__all__ = [
    "BD_SEQ",
    "NAMESPACE",
    "QUALITY",
    "QUALITY_BAD",
    "QUALITY_GOOD",
    "QUALITY_STALE",
    "REBIRTH",
    "AliasEntry",
    "AliasTable",
    "DataSet",
    "DataType",
    "Decision",
    "HostState",
    "MessageType",
    "MetaData",
    "Metric",
    "MetricValue",
    "PropertySet",
    "PropertyValue",
    "SequenceCounter",
    "SequenceTracker",
    "SparkplugPayload",
    "SparkplugTopic",
    "StateTopic",
    "Template",
    "TemplateParameter",
    "Verdict",
    "build_topic",
    "check_id",
    "decode_message",
    "decode_payload",
    "decode_state",
    "encode_dbirth",
    "encode_dcmd",
    "encode_ddata",
    "encode_ddeath",
    "encode_nbirth",
    "encode_ncmd",
    "encode_ndata",
    "encode_ndeath",
    "encode_rebirth_request",
    "encode_state",
    "next_bd_seq",
    "next_seq",
    "parse_node_topic",
    "parse_topic",
    "property_set",
    "state_topic",
    "subscription",
]
