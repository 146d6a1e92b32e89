"""Sparkplug data type value encoding, including the 3.0 array layouts."""

from __future__ import annotations

import math

import pytest

from proto.errors import DecodeError, EncodeError
from proto.sparkplug.datatypes import DataType as DT
from proto.sparkplug.datatypes import decode_array, decode_scalar, encode_array, encode_scalar, value_field

ROUND_TRIPS = [
    (DT.INT8, -128, "int_value", 128),
    (DT.INT8, -1, "int_value", 255),
    (DT.INT8, 127, "int_value", 127),
    (DT.INT16, -2, "int_value", 65534),
    (DT.INT32, -1, "int_value", 4294967295),
    (DT.INT32, 2147483647, "int_value", 2147483647),
    (DT.INT64, -1, "long_value", 2**64 - 1),
    (DT.INT64, -(2**63), "long_value", 2**63),
    (DT.UINT8, 255, "int_value", 255),
    (DT.UINT16, 65535, "int_value", 65535),
    (DT.UINT32, 4294967295, "int_value", 4294967295),
    (DT.UINT64, 2**64 - 1, "long_value", 2**64 - 1),
    (DT.DATETIME, 1_767_225_600_000, "long_value", 1_767_225_600_000),
    (DT.FLOAT, 1.5, "float_value", 1.5),
    (DT.DOUBLE, -0.1, "double_value", -0.1),
    (DT.BOOLEAN, True, "boolean_value", True),
    (DT.STRING, "héllo", "string_value", "héllo"),
    (DT.TEXT, "long text", "string_value", "long text"),
    (DT.UUID, "123e4567-e89b-12d3-a456-426614174000", "string_value", "123e4567-e89b-12d3-a456-426614174000"),
    (DT.BYTES, b"\x00\x01", "bytes_value", b"\x00\x01"),
    (DT.FILE, b"PK\x03\x04", "bytes_value", b"PK\x03\x04"),
]


@pytest.mark.parametrize(("datatype", "value", "field", "raw"), ROUND_TRIPS)
def test_scalar_round_trip(datatype: DT, value: object, field: str, raw: object) -> None:
    assert encode_scalar(datatype, value) == (field, raw)
    assert decode_scalar(datatype, field, raw) == value  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("datatype", "field", "raw", "value"),
    [
        (DT.INT8, "int_value", 0xFFFFFFFF, -1),  # sign-extended to 32 bits by some writers
        (DT.INT8, "int_value", 0xFFFFFF80, -128),
        (DT.INT16, "int_value", 0xFFFFFFA9, -87),
        (DT.INT16, "long_value", 2**64 - 87, -87),
        (DT.UINT32, "long_value", 4294967295, 4294967295),  # older writers use long_value
        (DT.DOUBLE, "float_value", 0.5, 0.5),
    ],
)
def test_lenient_decoding(datatype: DT, field: str, raw: int | float, value: object) -> None:
    assert decode_scalar(datatype, field, raw) == value


@pytest.mark.parametrize(
    ("datatype", "value"),
    [
        (DT.INT8, 128),
        (DT.INT8, -129),
        (DT.UINT8, -1),
        (DT.UINT8, 256),
        (DT.UINT32, 2**32),
        (DT.INT64, 2**63),
        (DT.UINT64, -1),
        (DT.DATETIME, -1),
        (DT.INT32, 1.5),
        (DT.INT32, True),
        (DT.DOUBLE, "1.0"),
        (DT.FLOAT, 1e39),
        (DT.BOOLEAN, 1),
        (DT.STRING, b"bytes"),
        (DT.BYTES, "str"),
        (DT.INT8_ARRAY, [1, 200]),
        (DT.INT8_ARRAY, "abc"),
        (DT.BOOLEAN_ARRAY, [1, 0]),
        (DT.STRING_ARRAY, ["a\0b"]),
        (DT.DATASET, 1),
    ],
)
def test_encode_refuses(datatype: DT, value: object) -> None:
    with pytest.raises(EncodeError):
        encode_scalar(datatype, value)


@pytest.mark.parametrize(
    ("datatype", "field", "raw"),
    [
        (DT.INT8, "int_value", 300),
        (DT.INT8, "int_value", 0x80000000),
        (DT.UINT8, "int_value", 256),
        (DT.INT32, "string_value", "1"),
        (DT.STRING, "int_value", 1),
        (DT.BOOLEAN, "int_value", 1),
        (DT.DOUBLE, "int_value", 1),
        (DT.DATETIME, "long_value", 2**63),
    ],
)
def test_decode_refuses(datatype: DT, field: str, raw: int | str) -> None:
    with pytest.raises(DecodeError):
        decode_scalar(datatype, field, raw)


# Packed layouts of Sparkplug 3.0 section 6.4.17: little-endian, BooleanArray = uint32 LE count + bits
# most significant first, StringArray = NUL-terminated UTF-8.
SPEC_ARRAYS = [
    (DT.INT8_ARRAY, (-23, 123), bytes([0xE9, 0x7B])),
    (DT.INT16_ARRAY, (-30000, 30000), bytes([0xD0, 0x8A, 0x30, 0x75])),
    (DT.INT32_ARRAY, (-1, 315338746), bytes([0xFF, 0xFF, 0xFF, 0xFF, 0xFA, 0xAF, 0xCB, 0x12])),
    (DT.UINT8_ARRAY, (23, 250), bytes([0x17, 0xFA])),
    (DT.UINT16_ARRAY, (30, 52360), bytes([0x1E, 0x00, 0x88, 0xCC])),
    (DT.DOUBLE_ARRAY, (1.5,), bytes([0, 0, 0, 0, 0, 0, 0xF8, 0x3F])),
    (DT.FLOAT_ARRAY, (1.5,), bytes([0, 0, 0xC0, 0x3F])),
    (
        DT.BOOLEAN_ARRAY,
        (False, False, True, True, False, True, False, False, True, True, False, True),
        bytes([0x0C, 0x00, 0x00, 0x00, 0x34, 0xD0]),
    ),
    (DT.STRING_ARRAY, ("ABC", "hello"), b"ABC\x00hello\x00"),
    (DT.DATETIME_ARRAY, (1256102875335,), (1256102875335).to_bytes(8, "little")),
    (DT.UINT64_ARRAY, (2**64 - 1,), b"\xff" * 8),
    (DT.BOOLEAN_ARRAY, (), bytes(4)),
    (DT.STRING_ARRAY, (), b""),
    (DT.STRING_ARRAY, ("",), b"\x00"),
]


@pytest.mark.parametrize(("datatype", "values", "packed"), SPEC_ARRAYS)
def test_array_layout(datatype: DT, values: tuple[object, ...], packed: bytes) -> None:
    assert value_field(datatype) == "bytes_value"
    assert encode_array(datatype, values) == packed
    assert decode_array(datatype, packed) == values


@pytest.mark.parametrize(
    ("datatype", "packed"),
    [
        (DT.INT16_ARRAY, b"\x01"),
        (DT.DOUBLE_ARRAY, b"\x00" * 7),
        (DT.BOOLEAN_ARRAY, b"\x01\x00"),
        (DT.BOOLEAN_ARRAY, b"\x09\x00\x00\x00\xff"),
        (DT.STRING_ARRAY, b"abc"),
        (DT.STRING_ARRAY, b"\xff\x00"),
    ],
)
def test_malformed_arrays(datatype: DT, packed: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_array(datatype, packed)


def test_float_array_keeps_nan_and_infinity() -> None:
    values = decode_array(DT.DOUBLE_ARRAY, encode_array(DT.DOUBLE_ARRAY, [math.inf, math.nan]))
    assert isinstance(values, tuple)
    assert values[0] == math.inf
    assert math.isnan(values[1])
