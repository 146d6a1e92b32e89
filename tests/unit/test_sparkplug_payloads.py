"""Sparkplug B payloads: per-type encoders, checked decoding, STATE JSON."""

from __future__ import annotations

import random
from typing import Any, cast

import pytest
from google.protobuf.message import DecodeError as ProtobufDecodeError

from proto.errors import DecodeError, EncodeError, UnknownAliasError
from proto.sparkplug import (
    BD_SEQ,
    QUALITY,
    QUALITY_GOOD,
    REBIRTH,
    AliasTable,
    DataSet,
    DataType,
    HostState,
    MessageType,
    MetaData,
    Metric,
    PropertyValue,
    Template,
    TemplateParameter,
    decode_message,
    decode_payload,
    decode_state,
    encode_dbirth,
    encode_dcmd,
    encode_ddata,
    encode_ddeath,
    encode_nbirth,
    encode_ncmd,
    encode_ndata,
    encode_ndeath,
    encode_rebirth_request,
    encode_state,
    property_set,
)
from proto.sparkplug_b import sparkplug_b_pb2 as pb

T0 = 1_767_225_600_000

NODE_METRICS = (
    Metric("Properties/Hardware", DataType.STRING, "Jetson Orin NX"),
    Metric("Inference/FPS", DataType.FLOAT, 29.5, timestamp=T0),
)

DEVICE_METRICS = (
    Metric(
        "vibration/rms",
        DataType.DOUBLE,
        0.42,
        timestamp=T0,
        properties=property_set(
            {
                "engUnit": PropertyValue(DataType.STRING, "mm/s"),
                QUALITY: PropertyValue(DataType.INT32, QUALITY_GOOD),
            }
        ),
    ),
    Metric("temperature", DataType.FLOAT, 61.25, timestamp=T0),
    Metric("rpm", DataType.UINT32, 1480, timestamp=T0),
    Metric("offset", DataType.INT16, -12, timestamp=T0),
    Metric("counter", DataType.INT64, -(2**40), timestamp=T0),
    Metric("running", DataType.BOOLEAN, True, timestamp=T0),
    Metric("mode", DataType.STRING, "auto", timestamp=T0),
    Metric("last_service", DataType.DATETIME, T0 - 86_400_000, timestamp=T0),
    Metric("spectrum", DataType.FLOAT_ARRAY, (0.5, 0.25, 0.125), timestamp=T0),
    Metric("alarms", DataType.BOOLEAN_ARRAY, (True, False, False), timestamp=T0),
    Metric("tags", DataType.STRING_ARRAY, ("a", "b"), timestamp=T0),
    Metric(
        "firmware",
        DataType.BYTES,
        b"\x00\x01\x02",
        timestamp=T0,
        metadata=MetaData(content_type="application/octet-stream", size=3),
    ),
    Metric("setpoint", DataType.DOUBLE, None, timestamp=T0),
    Metric(
        "history",
        DataType.DATASET,
        DataSet(
            columns=("t", "value", "ok", "note"),
            types=(DataType.UINT64, DataType.DOUBLE, DataType.BOOLEAN, DataType.STRING),
            rows=((1, 0.5, True, "x"), (2, None, False, None)),
        ),
        timestamp=T0,
    ),
    Metric(
        "motor_udt",
        DataType.TEMPLATE,
        Template(
            metrics=(Metric("amps", DataType.FLOAT, 3.5),),
            parameters=(TemplateParameter("rated_kw", DataType.DOUBLE, 7.5),),
            template_ref="Motor",
        ),
        timestamp=T0,
    ),
    Metric(
        "nested_props",
        DataType.INT8,
        -5,
        properties=property_set(
            {
                "limits": PropertyValue(
                    DataType.PROPERTYSET,
                    property_set(
                        {
                            "hi": PropertyValue(DataType.DOUBLE, 9.0),
                            "lo": PropertyValue(DataType.DOUBLE, None),
                        }
                    ),
                ),
                "history": PropertyValue(
                    DataType.PROPERTYSETLIST, (property_set({"v": PropertyValue(DataType.UINT8, 1)}),)
                ),
            }
        ),
    ),
)


def test_nbirth_leads_with_bdseq_and_rebirth_control() -> None:
    table = AliasTable()
    data = encode_nbirth(table.aliased(NODE_METRICS), bd_seq=7, timestamp=T0)
    payload = decode_message(MessageType.NBIRTH, data)
    assert payload.seq == 0
    assert payload.timestamp == T0
    assert [m.name for m in payload.metrics[:2]] == [BD_SEQ, REBIRTH]
    assert payload.metrics[0].datatype is DataType.INT64
    assert payload.bd_seq == 7
    assert payload.metrics[1].value is False
    assert not payload.rebirth_requested
    assert [m.name for m in payload.metrics[2:]] == [m.name for m in NODE_METRICS]
    assert [m.alias for m in payload.metrics[2:]] == [1, 2]
    assert all(m.datatype is not DataType.UNKNOWN for m in payload.metrics)


def test_dbirth_round_trips_every_value_kind() -> None:
    table = AliasTable()
    born = table.aliased(DEVICE_METRICS, device_id="motor-1")
    payload = decode_message(MessageType.DBIRTH, encode_dbirth(born, seq=1, timestamp=T0))
    assert payload.seq == 1
    assert payload.metrics == born
    setpoint = payload.metric("setpoint")
    assert setpoint is not None
    assert setpoint.is_null


def test_ddata_goes_by_alias_without_names_or_types_and_resolves_with_the_birth() -> None:
    publisher = AliasTable()
    born = publisher.aliased(DEVICE_METRICS, device_id="motor-1")
    changed = (born[0], born[3], born[9])
    data = encode_ddata(changed, seq=2, timestamp=T0 + 100)

    raw = pb.Payload.FromString(data)
    assert all(
        not m.HasField("name") and not m.HasField("datatype") and m.HasField("alias") for m in raw.metrics
    )

    host = AliasTable()
    host.learn(
        decode_message(MessageType.DBIRTH, encode_dbirth(born, seq=1, timestamp=T0)).metrics, "motor-1"
    )
    payload = decode_message(MessageType.DDATA, data, aliases=host, device_id="motor-1")
    assert payload.metrics == changed

    unresolved = decode_message(MessageType.DDATA, data)
    assert [m.name for m in unresolved.metrics] == [None, None, None]
    assert unresolved.metrics[1].value == 65524  # Int16 -12 unread without its data type


def test_data_for_an_unknown_alias_asks_for_a_rebirth() -> None:
    data = encode_ndata([Metric(None, DataType.DOUBLE, 1.0, alias=99)], seq=3, timestamp=T0)
    with pytest.raises(UnknownAliasError):
        decode_message(MessageType.NDATA, data, aliases=AliasTable())


def test_ndeath_carries_only_bdseq_and_no_seq() -> None:
    data = encode_ndeath(7)
    raw = pb.Payload.FromString(data)
    assert not raw.HasField("seq")
    assert not raw.HasField("timestamp")
    assert [m.name for m in raw.metrics] == [BD_SEQ]
    payload = decode_message(MessageType.NDEATH, data)
    assert payload.bd_seq == 7
    assert payload.seq is None
    assert decode_message(MessageType.NDEATH, encode_ndeath(8, timestamp=T0)).timestamp == T0


def test_ddeath_ncmd_dcmd() -> None:
    ddeath = decode_message(MessageType.DDEATH, encode_ddeath(seq=255, timestamp=T0))
    assert (ddeath.seq, ddeath.metrics) == (255, ())
    ncmd = decode_message(MessageType.NCMD, encode_rebirth_request(timestamp=T0))
    assert ncmd.seq is None
    assert ncmd.rebirth_requested
    assert ncmd.metrics[0].datatype is DataType.BOOLEAN
    write = decode_message(
        MessageType.DCMD, encode_dcmd([Metric("setpoint", DataType.DOUBLE, 55.0)], timestamp=T0)
    )
    assert write.metrics[0].value == 55.0
    assert not write.rebirth_requested
    assert decode_message(MessageType.NCMD, encode_ncmd([], timestamp=T0)).metrics == ()


def test_historical_and_transient_flags_survive() -> None:
    metric = Metric(
        "temp", DataType.DOUBLE, 1.0, alias=1, timestamp=T0, is_historical=True, is_transient=True
    )
    payload = decode_payload(encode_ndata([metric], seq=0, timestamp=T0, include_datatypes=True))
    assert payload.metrics[0].is_historical
    assert payload.metrics[0].is_transient
    assert payload.metrics[0].datatype is DataType.DOUBLE


BAD_DATASET = DataSet(("x",), (DataType.BYTES,), cast(Any, ((b"",),)))
BAD_PROPERTY = PropertyValue(DataType.BYTES, cast(Any, b""))


@pytest.mark.parametrize(
    ("build", "match"),
    [
        (lambda: encode_nbirth([Metric(BD_SEQ, DataType.INT64, 1)], bd_seq=1, timestamp=T0), "added by"),
        (lambda: encode_nbirth([], bd_seq=256, timestamp=T0), "bdSeq"),
        (lambda: encode_nbirth([], bd_seq=0, timestamp=T0, seq=-1), "seq"),
        (lambda: encode_ndata([], seq=256, timestamp=T0), "seq"),
        (lambda: encode_ddeath(seq=True, timestamp=T0), "seq"),
        (
            lambda: encode_dbirth([Metric(None, DataType.INT8, 1, alias=1)], seq=0, timestamp=T0),
            "needs a name",
        ),
        (lambda: encode_dbirth([Metric("a", DataType.UNKNOWN, 1)], seq=0, timestamp=T0), "no data type"),
        (lambda: encode_dbirth([Metric("a", DataType.INT8, 1)] * 2, seq=0, timestamp=T0), "twice"),
        (
            lambda: encode_dbirth(
                [Metric("a", DataType.INT8, 1, alias=1), Metric("b", DataType.INT8, 1, alias=1)],
                seq=0,
                timestamp=T0,
            ),
            "alias 1",
        ),
        (lambda: encode_ndata([Metric(None, DataType.INT8, 1)], seq=0, timestamp=T0), "name or an alias"),
        (lambda: encode_ndata([Metric("a", DataType.INT8, 1000)], seq=0, timestamp=T0), "out of range"),
        (lambda: encode_ndata([Metric("a", DataType.PROPERTYSET, 1)], seq=0, timestamp=T0), "property type"),
        (lambda: encode_ndata([Metric("a", DataType.DATASET, 1)], seq=0, timestamp=T0), "needs a DataSet"),
        (lambda: encode_ndata([Metric("a", DataType.INT8, 1, alias=-1)], seq=0, timestamp=T0), "metric"),
        (lambda: encode_ndata([], seq=0, timestamp=-5), "timestamp"),
        (
            lambda: encode_ndata(
                [Metric("a", DataType.DATASET, DataSet(("x",), (DataType.INT8, DataType.INT8)))],
                seq=0,
                timestamp=T0,
            ),
            "2 types",
        ),
        (
            lambda: encode_ndata(
                [Metric("a", DataType.DATASET, BAD_DATASET)],
                seq=0,
                timestamp=T0,
            ),
            "not allowed",
        ),
        (
            lambda: encode_ndata(
                [Metric("a", DataType.INT8, 1, properties={"p": BAD_PROPERTY})],
                seq=0,
                timestamp=T0,
            ),
            "cannot be a property value",
        ),
    ],
)
def test_encoders_refuse(build: object, match: str) -> None:
    with pytest.raises(EncodeError, match=match):
        build()  # type: ignore[operator]


def _payload(**fields: object) -> bytes:
    return pb.Payload(**fields).SerializeToString()  # type: ignore[arg-type]


def _pbm(**fields: object) -> pb.Payload.Metric:
    return pb.Payload.Metric(**fields)  # type: ignore[arg-type]


BD = _pbm(name="bdSeq", datatype=DataType.INT64, long_value=1)

REFUSED = [
    (MessageType.NBIRTH, _payload(timestamp=T0, metrics=[BD]), "seq is missing"),
    (MessageType.NBIRTH, _payload(seq=0, metrics=[BD]), "timestamp is missing"),
    (MessageType.NBIRTH, _payload(seq=0, timestamp=T0), "bdSeq metric is missing"),
    (MessageType.NBIRTH, _payload(seq=256, timestamp=T0, metrics=[BD]), "out of 0..255"),
    (
        MessageType.NBIRTH,
        _payload(seq=0, timestamp=T0, metrics=[_pbm(name="bdSeq", datatype=DataType.INT64, long_value=300)]),
        "bdSeq 300",
    ),
    (
        MessageType.NBIRTH,
        _payload(seq=0, timestamp=T0, metrics=[BD, _pbm(name="x", int_value=1)]),
        "data type",
    ),
    (MessageType.NBIRTH, _payload(seq=0, timestamp=T0, metrics=[BD, BD]), "twice"),
    (
        MessageType.DBIRTH,
        _payload(seq=0, timestamp=T0, metrics=[_pbm(alias=1, datatype=3, int_value=1)]),
        "name",
    ),
    (MessageType.NDATA, _payload(timestamp=T0), "seq is missing"),
    (
        MessageType.NDATA,
        _payload(seq=1, timestamp=T0, metrics=[_pbm(double_value=1.0)]),
        "neither name nor alias",
    ),
    (MessageType.DDEATH, _payload(timestamp=T0), "seq is missing"),
    (MessageType.NDEATH, _payload(), "bdSeq metric is missing"),
    (
        MessageType.NDEATH,
        _payload(metrics=[_pbm(name="bdSeq", datatype=DataType.STRING, string_value="1")]),
        "bdSeq",
    ),
    (
        MessageType.NDATA,
        _payload(seq=1, timestamp=T0, metrics=[_pbm(name="x", datatype=99, int_value=1)]),
        "99",
    ),
    (
        MessageType.NDATA,
        _payload(seq=1, timestamp=T0, metrics=[_pbm(name="x", datatype=3, string_value="1")]),
        "x",
    ),
    (
        MessageType.NDATA,
        _payload(seq=1, timestamp=T0, metrics=[_pbm(name="x", datatype=22, bytes_value=b"")]) + b"",
        None,
    ),
    (
        MessageType.NDATA,
        _payload(seq=1, timestamp=T0, metrics=[_pbm(name="x", datatype=23, bytes_value=b"\x01")]),
        "not a multiple",
    ),
    (
        MessageType.NDATA,
        _payload(
            seq=1,
            timestamp=T0,
            metrics=[
                _pbm(
                    name="x",
                    datatype=16,
                    dataset_value=pb.Payload.DataSet(num_of_columns=2, columns=["a"], types=[3]),
                )
            ],
        ),
        "DataSet declares 2 columns",
    ),
    (
        MessageType.NDATA,
        _payload(
            seq=1,
            timestamp=T0,
            metrics=[_pbm(name="x", datatype=3, int_value=1, properties=pb.Payload.PropertySet(keys=["a"]))],
        ),
        "1 keys but 0 values",
    ),
]


@pytest.mark.parametrize(("kind", "data", "match"), REFUSED)
def test_decoder_enforces_the_rules_of_each_type(kind: MessageType, data: bytes, match: str | None) -> None:
    if match is None:  # a control case: an empty Int8Array is valid
        assert decode_message(kind, data).metrics[0].value == ()
        return
    with pytest.raises(DecodeError, match=match):
        decode_message(kind, data)


@pytest.mark.parametrize("kind", list(MessageType))
def test_random_bytes_raise_decode_error(kind: MessageType) -> None:
    rng = random.Random(1_234)
    for _ in range(300):
        data = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 120)))
        with pytest.raises(DecodeError):
            decode_message(kind, data)


def test_truncated_birth_raises_only_decode_error() -> None:
    table = AliasTable()
    data = encode_dbirth(table.aliased(DEVICE_METRICS, "motor-1"), seq=1, timestamp=T0)
    refused = 0
    for cut in range(len(data)):
        try:
            pb.Payload.FromString(data[:cut])
            framing_ok = True
        except ProtobufDecodeError:
            framing_ok = False
        cause: BaseException | None = None
        try:
            decode_message(MessageType.DBIRTH, data[:cut])
        except DecodeError as exc:
            refused += 1
            cause = exc.__cause__
        if not framing_ok:
            assert isinstance(cause, ProtobufDecodeError)
    assert refused > len(data) * 0.9


def test_decode_refuses_non_bytes() -> None:
    with pytest.raises(DecodeError, match="expected bytes"):
        decode_payload("text")  # type: ignore[arg-type]


def test_state_json() -> None:
    data = encode_state(HostState(online=True, timestamp=T0))
    assert data == b'{"online":true,"timestamp":1767225600000}'
    assert decode_state(data) == HostState(True, T0)
    assert decode_state(b'{"timestamp": 5, "online": false}') == HostState(False, 5)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff",
        b"[]",
        b'{"online": 1, "timestamp": 5}',
        b'{"online": true}',
        b'{"online": true, "timestamp": -1}',
        b'{"online": true, "timestamp": 1.5}',
        b'{"online": true, "timestamp": true}',
    ],
)
def test_state_refuses(data: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_state(data)


def test_state_encode_refuses() -> None:
    with pytest.raises(EncodeError):
        encode_state(HostState(online=1, timestamp=5))  # type: ignore[arg-type]
