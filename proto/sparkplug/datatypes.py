"""Sparkplug B data types and how their values travel in the protobuf oneof fields.

Spec 6.4.16 names the types; this module maps each to the oneof field that carries
it and converts values both ways. Choices where the specification leaves room:

* Signed Int8/Int16/Int32 go into the uint32 `int_value` as two's complement of
  their own width (Int8 -1 is 255), Int64 into `long_value` as 64-bit two's
  complement. Decoding also accepts the 32-bit sign-extended form some
  implementations write (Int8 -1 as 4294967295).
* Integer types are decoded from either `int_value` or `long_value`, floating types
  from either `float_value` or `double_value` (older writers disagree on UInt32).
* DateTime is an int of milliseconds since the Unix epoch (UTC), never a datetime:
  event time travels as ms everywhere in this project.
* Arrays (3.0) travel in `bytes_value`, little-endian packed; BooleanArray is a
  uint32 LE count followed by bits, most significant bit first; StringArray is
  NUL-terminated UTF-8 strings one after the other.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from enum import IntEnum
from typing import Final

from proto.errors import DecodeError, EncodeError

Raw = int | float | bool | str | bytes
"""A value as it sits in one scalar protobuf field."""

Scalar = (
    int
    | float
    | bool
    | str
    | bytes
    | tuple[int, ...]
    | tuple[float, ...]
    | tuple[bool, ...]
    | tuple[str, ...]
)
"""A decoded value of a non-container data type (arrays as tuples)."""


class DataType(IntEnum):
    """Sparkplug B data types with their numeric values from the specification."""

    UNKNOWN = 0
    INT8 = 1
    INT16 = 2
    INT32 = 3
    INT64 = 4
    UINT8 = 5
    UINT16 = 6
    UINT32 = 7
    UINT64 = 8
    FLOAT = 9
    DOUBLE = 10
    BOOLEAN = 11
    STRING = 12
    DATETIME = 13
    TEXT = 14
    UUID = 15
    DATASET = 16
    BYTES = 17
    FILE = 18
    TEMPLATE = 19
    PROPERTYSET = 20
    PROPERTYSETLIST = 21
    INT8_ARRAY = 22
    INT16_ARRAY = 23
    INT32_ARRAY = 24
    INT64_ARRAY = 25
    UINT8_ARRAY = 26
    UINT16_ARRAY = 27
    UINT32_ARRAY = 28
    UINT64_ARRAY = 29
    FLOAT_ARRAY = 30
    DOUBLE_ARRAY = 31
    BOOLEAN_ARRAY = 32
    STRING_ARRAY = 33
    DATETIME_ARRAY = 34


# (bits, signed) of every integer type; DateTime is a non-negative int64 of ms.
_INT_WIDTH: Final[dict[DataType, tuple[int, bool]]] = {
    DataType.INT8: (8, True),
    DataType.INT16: (16, True),
    DataType.INT32: (32, True),
    DataType.INT64: (64, True),
    DataType.UINT8: (8, False),
    DataType.UINT16: (16, False),
    DataType.UINT32: (32, False),
    DataType.UINT64: (64, False),
    DataType.DATETIME: (63, False),
}

# struct format character of every packed numeric array.
_ARRAY_FORMAT: Final[dict[DataType, str]] = {
    DataType.INT8_ARRAY: "b",
    DataType.INT16_ARRAY: "h",
    DataType.INT32_ARRAY: "i",
    DataType.INT64_ARRAY: "q",
    DataType.UINT8_ARRAY: "B",
    DataType.UINT16_ARRAY: "H",
    DataType.UINT32_ARRAY: "I",
    DataType.UINT64_ARRAY: "Q",
    DataType.FLOAT_ARRAY: "f",
    DataType.DOUBLE_ARRAY: "d",
    DataType.DATETIME_ARRAY: "q",
}

_FLOATS: Final = frozenset({DataType.FLOAT, DataType.DOUBLE})
_STRINGS: Final = frozenset({DataType.STRING, DataType.TEXT, DataType.UUID})
_BYTES: Final = frozenset({DataType.BYTES, DataType.FILE})
ARRAY_TYPES: Final = frozenset({*_ARRAY_FORMAT, DataType.BOOLEAN_ARRAY, DataType.STRING_ARRAY})
"""The 3.0 array types, all carried in bytes_value."""
CONTAINER_TYPES: Final = frozenset(
    {DataType.DATASET, DataType.TEMPLATE, DataType.PROPERTYSET, DataType.PROPERTYSETLIST}
)
"""Types whose value is a nested message rather than a scalar field."""

_FLOAT32_MAX: Final = 3.4028234663852886e38


def value_field(datatype: DataType) -> str:
    """The protobuf oneof field that carries a value of this type."""
    if datatype in _INT_WIDTH:
        return "long_value" if _INT_WIDTH[datatype][0] > 32 else "int_value"
    if datatype is DataType.FLOAT:
        return "float_value"
    if datatype is DataType.DOUBLE:
        return "double_value"
    if datatype is DataType.BOOLEAN:
        return "boolean_value"
    if datatype in _STRINGS:
        return "string_value"
    if datatype in _BYTES or datatype in ARRAY_TYPES:
        return "bytes_value"
    fields = {
        DataType.DATASET: "dataset_value",
        DataType.TEMPLATE: "template_value",
        DataType.PROPERTYSET: "propertyset_value",
        DataType.PROPERTYSETLIST: "propertysets_value",
    }
    if datatype in fields:
        return fields[datatype]
    raise EncodeError(f"data type {datatype.name} has no value field")


def to_datatype(number: int) -> DataType:
    """The DataType of a wire number; DecodeError for numbers the spec does not define."""
    try:
        return DataType(number)
    except ValueError as exc:
        raise DecodeError(f"unknown Sparkplug data type {number}") from exc


def encode_scalar(datatype: DataType, value: object) -> tuple[str, Raw]:
    """The oneof field and raw field value for a non-container value of this type."""
    field = value_field(datatype)
    if datatype in _INT_WIDTH:
        return field, _encode_int(datatype, value)
    if datatype in _FLOATS:
        number = _require_number(datatype, value)
        if datatype is DataType.FLOAT and math.isfinite(number) and abs(number) > _FLOAT32_MAX:
            raise EncodeError(f"{number} does not fit a Float (32-bit)")
        return field, number
    if datatype is DataType.BOOLEAN:
        if not isinstance(value, bool):
            raise EncodeError(f"Boolean needs a bool, got {type(value).__name__}")
        return field, value
    if datatype in _STRINGS:
        if not isinstance(value, str):
            raise EncodeError(f"{datatype.name} needs a str, got {type(value).__name__}")
        return field, value
    if datatype in _BYTES:
        if not isinstance(value, bytes | bytearray | memoryview):
            raise EncodeError(f"{datatype.name} needs bytes, got {type(value).__name__}")
        return field, bytes(value)
    if datatype in ARRAY_TYPES:
        return field, encode_array(datatype, value)
    raise EncodeError(f"{datatype.name} is not a scalar data type")


def decode_scalar(datatype: DataType, field: str, raw: Raw) -> Scalar:
    """The Python value of a raw oneof field read for this type; DecodeError on mismatch."""
    if datatype in _INT_WIDTH:
        if field not in ("int_value", "long_value") or isinstance(raw, bool) or not isinstance(raw, int):
            raise DecodeError(f"{datatype.name} value found in {field}")
        return _decode_int(datatype, raw, field)
    if datatype in _FLOATS:
        if field not in ("float_value", "double_value"):
            raise DecodeError(f"{datatype.name} value found in {field}")
        return float(raw)
    expected = value_field(datatype)
    if field != expected:
        raise DecodeError(f"{datatype.name} value found in {field}, expected {expected}")
    if datatype in ARRAY_TYPES:
        if not isinstance(raw, bytes):
            raise DecodeError(f"{datatype.name} needs bytes on the wire")
        return decode_array(datatype, raw)
    return raw


def encode_array(datatype: DataType, values: object) -> bytes:
    """Pack an array value into bytes_value (spec 6.4.17)."""
    if isinstance(values, str | bytes | bytearray) or not isinstance(values, Sequence):
        raise EncodeError(f"{datatype.name} needs a sequence, got {type(values).__name__}")
    if datatype is DataType.BOOLEAN_ARRAY:
        if not all(isinstance(v, bool) for v in values):
            raise EncodeError("BooleanArray needs bools")
        packed = bytearray((len(values) + 7) // 8)
        for i, bit in enumerate(values):
            if bit:
                packed[i // 8] |= 0x80 >> (i % 8)
        return struct.pack("<I", len(values)) + bytes(packed)
    if datatype is DataType.STRING_ARRAY:
        if not all(isinstance(v, str) and "\0" not in v for v in values):
            raise EncodeError("StringArray needs str values without NUL characters")
        return b"".join(v.encode("utf-8") + b"\0" for v in values)
    fmt = _ARRAY_FORMAT[datatype]
    if fmt in "fd":
        numbers: list[int | float] = [_require_number(datatype, v) for v in values]
    else:
        numbers = [_require_int(datatype, v) for v in values]
    try:
        return struct.pack(f"<{len(numbers)}{fmt}", *numbers)
    except (struct.error, OverflowError) as exc:
        raise EncodeError(f"{datatype.name}: value out of range: {exc}") from exc


def decode_array(datatype: DataType, data: bytes) -> Scalar:
    """Unpack bytes_value into a tuple (spec 6.4.17)."""
    if datatype is DataType.BOOLEAN_ARRAY:
        if len(data) < 4:
            raise DecodeError("BooleanArray shorter than its 4-byte count")
        (count,) = struct.unpack_from("<I", data)
        if len(data) - 4 != (count + 7) // 8:
            raise DecodeError(f"BooleanArray of {count} values needs {(count + 7) // 8} bytes")
        return tuple(bool(data[4 + i // 8] & (0x80 >> (i % 8))) for i in range(count))
    if datatype is DataType.STRING_ARRAY:
        if data and not data.endswith(b"\0"):
            raise DecodeError("StringArray does not end with NUL")
        try:
            return tuple(part.decode("utf-8") for part in data.split(b"\0")[:-1])
        except UnicodeDecodeError as exc:
            raise DecodeError("StringArray is not UTF-8") from exc
    fmt = _ARRAY_FORMAT[datatype]
    size = struct.calcsize(fmt)
    if len(data) % size:
        raise DecodeError(f"{datatype.name} of {len(data)} bytes is not a multiple of {size}")
    return tuple(struct.unpack(f"<{len(data) // size}{fmt}", data))


def _encode_int(datatype: DataType, value: object) -> int:
    number = _require_int(datatype, value)
    bits, signed = _INT_WIDTH[datatype]
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed else (0, (1 << bits) - 1)
    if not low <= number <= high:
        raise EncodeError(f"{number} out of range for {datatype.name} [{low}, {high}]")
    return number + (1 << bits) if number < 0 else number


def _decode_int(datatype: DataType, raw: int, field: str) -> int:
    bits, signed = _INT_WIDTH[datatype]
    if not signed:
        if raw >= 1 << bits:
            raise DecodeError(f"{raw} out of range for {datatype.name}")
        return raw
    container = 64 if field == "long_value" else 32
    if raw < 1 << bits:
        narrow = raw
    elif raw >= (1 << container) - (1 << (bits - 1)):
        narrow = raw & ((1 << bits) - 1)  # sign-extended to the field width
    else:
        raise DecodeError(f"{raw} out of range for {datatype.name}")
    return narrow - (1 << bits) if narrow >= 1 << (bits - 1) else narrow


def _require_int(datatype: DataType, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise EncodeError(f"{datatype.name} needs an int, got {type(value).__name__}")
    return value


def _require_number(datatype: DataType, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise EncodeError(f"{datatype.name} needs a number, got {type(value).__name__}")
    return float(value)
