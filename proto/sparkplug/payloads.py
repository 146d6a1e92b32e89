"""Sparkplug B payloads: one encoder per message type and a checked decoder (spec 6.4).

Rules carried here rather than left to callers:
* NBIRTH starts with the bdSeq metric (Int64) and `Node Control/Rebirth` (Boolean,
  false); every birth metric has a name and a data type.
* Every message except NDEATH, NCMD and DCMD carries seq 0..255; NDEATH carries only
  bdSeq and no seq.
* DATA messages go by alias when the metric has one, and without data types
  (resolve them with the node's `AliasTable` when decoding).
* Timestamps are ms since the Unix epoch, the event time of the publisher.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from google.protobuf.message import DecodeError as ProtobufDecodeError

from proto.errors import DecodeError, EncodeError
from proto.sparkplug.aliases import AliasTable
from proto.sparkplug.convert import metric_from_pb, metric_to_pb
from proto.sparkplug.datatypes import DataType
from proto.sparkplug.metrics import BD_SEQ, REBIRTH, Metric
from proto.sparkplug.topics import MessageType
from proto.sparkplug_b import sparkplug_b_pb2 as pb

SEQ_MODULUS: Final = 256
"""seq and bdSeq run 0..255 and wrap to 0."""


@dataclass(frozen=True, slots=True)
class SparkplugPayload:
    """A decoded Sparkplug B payload."""

    timestamp: int | None
    seq: int | None
    metrics: tuple[Metric, ...] = ()
    uuid: str | None = None
    body: bytes | None = None

    def metric(self, name: str) -> Metric | None:
        """The first metric with this name, or None."""
        return next((m for m in self.metrics if m.name == name), None)

    @property
    def bd_seq(self) -> int | None:
        """The bdSeq metric's value (NBIRTH, NDEATH), or None if absent."""
        found = self.metric(BD_SEQ)
        return found.value if found is not None and isinstance(found.value, int) else None

    @property
    def rebirth_requested(self) -> bool:
        """True for an NCMD that asks the edge node to publish its births again."""
        found = self.metric(REBIRTH)
        return found is not None and found.value is True


def encode_nbirth(metrics: Sequence[Metric], *, bd_seq: int, timestamp: int, seq: int = 0) -> bytes:
    """NBIRTH: bdSeq and Node Control/Rebirth first, then the node's metrics with names and types."""
    for metric in metrics:
        if metric.name in (BD_SEQ, REBIRTH):
            raise EncodeError(f"{metric.name!r} is added by encode_nbirth; do not pass it")
    control = (
        Metric(BD_SEQ, DataType.INT64, _check_seq(bd_seq, "bdSeq"), timestamp=timestamp),
        Metric(REBIRTH, DataType.BOOLEAN, False, timestamp=timestamp),
    )
    return _encode_birth((*control, *metrics), timestamp=timestamp, seq=seq)


def encode_dbirth(metrics: Sequence[Metric], *, seq: int, timestamp: int) -> bytes:
    """DBIRTH: all of a device's metrics with names and data types."""
    return _encode_birth(tuple(metrics), timestamp=timestamp, seq=seq)


def encode_ndata(
    metrics: Sequence[Metric], *, seq: int, timestamp: int, include_datatypes: bool = False
) -> bytes:
    """NDATA: changed node metrics, by alias where they have one."""
    return _encode_data(metrics, seq=seq, timestamp=timestamp, include_datatypes=include_datatypes)


def encode_ddata(
    metrics: Sequence[Metric], *, seq: int, timestamp: int, include_datatypes: bool = False
) -> bytes:
    """DDATA: changed device metrics, by alias where they have one."""
    return _encode_data(metrics, seq=seq, timestamp=timestamp, include_datatypes=include_datatypes)


def encode_ndeath(bd_seq: int, *, timestamp: int | None = None) -> bytes:
    """NDEATH (the MQTT will): only the bdSeq metric, no seq."""
    payload = pb.Payload()
    if timestamp is not None:
        _set(payload, "timestamp", timestamp)
    payload.metrics.append(metric_to_pb(Metric(BD_SEQ, DataType.INT64, _check_seq(bd_seq, "bdSeq"))))
    return payload.SerializeToString()


def encode_ddeath(*, seq: int, timestamp: int) -> bytes:
    """DDEATH: seq and timestamp, no metrics."""
    return _serialize(pb.Payload(), (), timestamp=timestamp, seq=seq)


def encode_ncmd(metrics: Sequence[Metric], *, timestamp: int) -> bytes:
    """NCMD: writes to node metrics, with names and data types, no seq."""
    return _serialize(pb.Payload(), [metric_to_pb(m) for m in metrics], timestamp=timestamp, seq=None)


def encode_dcmd(metrics: Sequence[Metric], *, timestamp: int) -> bytes:
    """DCMD: writes to device metrics, with names and data types, no seq."""
    return encode_ncmd(metrics, timestamp=timestamp)


def encode_rebirth_request(*, timestamp: int) -> bytes:
    """NCMD asking the edge node to publish NBIRTH and all DBIRTHs again."""
    return encode_ncmd([Metric(REBIRTH, DataType.BOOLEAN, True, timestamp=timestamp)], timestamp=timestamp)


def decode_payload(
    data: bytes, *, aliases: AliasTable | None = None, device_id: str | None = None
) -> SparkplugPayload:
    """Any Sparkplug payload, unchecked against a message type; aliases fill DATA names and types."""
    msg = _parse(data)
    try:
        return SparkplugPayload(
            timestamp=msg.timestamp if msg.HasField("timestamp") else None,
            seq=msg.seq if msg.HasField("seq") else None,
            metrics=tuple(_metric(m, aliases, device_id) for m in msg.metrics),
            uuid=msg.uuid if msg.HasField("uuid") else None,
            body=msg.body if msg.HasField("body") else None,
        )
    except (ValueError, TypeError, UnicodeError) as exc:
        raise DecodeError(f"malformed Sparkplug B payload: {exc}") from exc


def _metric(msg: pb.Payload.Metric, aliases: AliasTable | None, device_id: str | None) -> Metric:
    name = msg.name if msg.HasField("name") else None
    if aliases is None or (name is not None and msg.HasField("datatype")):
        return metric_from_pb(msg)
    entry = aliases.lookup(name, msg.alias if msg.HasField("alias") else None, device_id)
    return metric_from_pb(msg, datatype=entry.datatype, name=entry.name)


def decode_message(
    message_type: MessageType | str,
    data: bytes,
    *,
    aliases: AliasTable | None = None,
    device_id: str | None = None,
) -> SparkplugPayload:
    """A payload checked against the rules of its message type; DecodeError if it breaks one."""
    kind = MessageType(message_type)
    is_birth = kind in (MessageType.NBIRTH, MessageType.DBIRTH)
    payload = decode_payload(data, aliases=None if is_birth else aliases, device_id=device_id)
    where = f"{kind}: "
    if kind.has_seq:
        if payload.seq is None:
            raise DecodeError(where + "seq is missing")
        if payload.seq >= SEQ_MODULUS:
            raise DecodeError(where + f"seq {payload.seq} is out of 0..255")
    if kind is not MessageType.NDEATH and payload.timestamp is None:
        raise DecodeError(where + "timestamp is missing")
    if is_birth:
        _check_birth(kind, payload)
    elif kind is MessageType.NDEATH:
        _check_bd_seq(kind, payload)
    else:
        for metric in payload.metrics:
            if metric.name is None and metric.alias is None:
                raise DecodeError(where + "a metric has neither name nor alias")
    return payload


def _check_birth(kind: MessageType, payload: SparkplugPayload) -> None:
    names: set[str] = set()
    aliases: set[int] = set()
    for metric in payload.metrics:
        if metric.name is None or metric.datatype is DataType.UNKNOWN:
            raise DecodeError(f"{kind}: metric {metric.name or metric.alias!r} lacks a name or data type")
        if metric.name in names:
            raise DecodeError(f"{kind}: metric {metric.name!r} appears twice")
        names.add(metric.name)
        if metric.alias is not None:
            if metric.alias in aliases:
                raise DecodeError(f"{kind}: alias {metric.alias} appears twice")
            aliases.add(metric.alias)
    if kind is MessageType.NBIRTH:
        _check_bd_seq(kind, payload)


def _check_bd_seq(kind: MessageType, payload: SparkplugPayload) -> None:
    bd_seq = payload.bd_seq
    if bd_seq is None:
        raise DecodeError(f"{kind}: bdSeq metric is missing or not an integer")
    if not 0 <= bd_seq < SEQ_MODULUS:
        raise DecodeError(f"{kind}: bdSeq {bd_seq} is out of 0..255")


def _encode_birth(metrics: tuple[Metric, ...], *, timestamp: int, seq: int) -> bytes:
    names: set[str] = set()
    aliases: set[int] = set()
    for metric in metrics:
        if metric.name is None:
            raise EncodeError(f"birth metric with alias {metric.alias} needs a name")
        if metric.name in names:
            raise EncodeError(f"birth metric {metric.name!r} appears twice")
        names.add(metric.name)
        if metric.alias is not None:
            if metric.alias in aliases:
                raise EncodeError(f"birth alias {metric.alias} appears twice")
            aliases.add(metric.alias)
    return _serialize(pb.Payload(), [metric_to_pb(m) for m in metrics], timestamp=timestamp, seq=seq)


def _encode_data(metrics: Sequence[Metric], *, seq: int, timestamp: int, include_datatypes: bool) -> bytes:
    converted = []
    for metric in metrics:
        if metric.name is None and metric.alias is None:
            raise EncodeError("a DATA metric needs a name or an alias")
        converted.append(
            metric_to_pb(metric, include_name=metric.alias is None, include_datatype=include_datatypes)
        )
    return _serialize(pb.Payload(), converted, timestamp=timestamp, seq=seq)


def _serialize(
    payload: pb.Payload, metrics: Sequence[pb.Payload.Metric], *, timestamp: int, seq: int | None
) -> bytes:
    _set(payload, "timestamp", timestamp)
    if seq is not None:
        payload.seq = _check_seq(seq, "seq")
    payload.metrics.extend(metrics)
    return payload.SerializeToString()


def _set(payload: pb.Payload, field: str, value: int) -> None:
    try:
        setattr(payload, field, value)
    except (TypeError, ValueError) as exc:
        raise EncodeError(f"{field} {value!r}: {exc}") from exc


def _check_seq(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < SEQ_MODULUS:
        raise EncodeError(f"{what} must be an int in 0..255, got {value!r}")
    return value


def _parse(data: bytes) -> pb.Payload:
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"expected bytes, got {type(data).__name__}")
    try:
        msg = pb.Payload.FromString(bytes(data))
    except (ProtobufDecodeError, ValueError, IndexError, RuntimeError) as exc:
        raise DecodeError(f"not a Sparkplug B payload: {exc}") from exc
    return msg
