"""Encode and decode the iiot.v1 and twin.v1 messages, with their semantic rules.

    data = encode(event)                       # EncodeError if a rule is broken
    event = decode(DetectionEvent, data)       # DecodeError if malformed or a rule is broken

Protobuf, Unicode and value errors never escape: they come out as DecodeError with
the original as __cause__. Sparkplug payloads have their own codec in proto.sparkplug.
"""

from __future__ import annotations

from typing import TypeVar

from google.protobuf.message import DecodeError as ProtobufDecodeError
from google.protobuf.message import EncodeError as ProtobufEncodeError
from google.protobuf.message import Message

from proto.errors import DecodeError, EncodeError
from proto.validation import problems

M = TypeVar("M", bound=Message)


def encode(message: Message) -> bytes:
    """Serialize message (map keys sorted) after checking its rules; EncodeError lists every broken one."""
    found = problems(message)
    if found:
        raise EncodeError(f"{_name(type(message))}: " + "; ".join(found))
    try:
        return message.SerializeToString(deterministic=True)
    except (ProtobufEncodeError, ValueError) as exc:
        raise EncodeError(f"{_name(type(message))}: {exc}") from exc


def decode(message_type: type[M], data: bytes) -> M:
    """Parse data as message_type and check its rules; DecodeError says what is wrong."""
    name = _name(message_type)
    if not isinstance(data, bytes | bytearray | memoryview):
        raise DecodeError(f"{name}: expected bytes, got {type(data).__name__}")
    try:
        message = message_type.FromString(bytes(data))
    except (ProtobufDecodeError, ValueError, IndexError, RuntimeError, UnicodeError) as exc:
        raise DecodeError(f"{name}: malformed ({len(data)} bytes): {exc}") from exc
    found = problems(message)
    if found:
        raise DecodeError(f"{name}: " + "; ".join(found))
    return message


def is_valid(message: Message) -> bool:
    """True when message breaks none of its rules."""
    return not problems(message)


def _name(message_type: type[Message]) -> str:
    return str(message_type.DESCRIPTOR.full_name)
