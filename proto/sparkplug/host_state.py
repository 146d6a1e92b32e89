"""Sparkplug host application STATE message (spec 3.0, 7.5): JSON, not protobuf.

Published retained on spBv1.0/STATE/{host_id} as {"online": true, "timestamp": ms};
the will carries online false with the timestamp of the matching birth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from proto.errors import DecodeError, EncodeError


@dataclass(frozen=True, slots=True)
class HostState:
    """Whether a host application is online, as of a timestamp in ms."""

    online: bool
    timestamp: int


def encode_state(state: HostState) -> bytes:
    """The STATE payload as compact UTF-8 JSON."""
    if not isinstance(state.online, bool):
        raise EncodeError(f"online must be a bool, got {state.online!r}")
    if isinstance(state.timestamp, bool) or not isinstance(state.timestamp, int) or state.timestamp < 0:
        raise EncodeError(f"timestamp must be a non-negative int of ms, got {state.timestamp!r}")
    return json.dumps({"online": state.online, "timestamp": state.timestamp}, separators=(",", ":")).encode()


def decode_state(data: bytes) -> HostState:
    """A STATE payload; DecodeError unless it is a JSON object with bool online and int timestamp."""
    try:
        obj = json.loads(bytes(data).decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, TypeError) as exc:
        raise DecodeError(f"STATE payload is not UTF-8 JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise DecodeError("STATE payload must be a JSON object")
    online, timestamp = obj.get("online"), obj.get("timestamp")
    if not isinstance(online, bool):
        raise DecodeError(f"STATE 'online' must be a bool, got {online!r}")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise DecodeError(f"STATE 'timestamp' must be a non-negative int, got {timestamp!r}")
    return HostState(online=online, timestamp=timestamp)
