"""Server-sent events: the wire format (pure) and the per-page stream with a heartbeat."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncGenerator

from cloud.dashboard.live import LiveHub, Message

RETRY_MS = 2_000


def encode_event(message: Message) -> bytes:
    """``id``/``event``/``data`` lines; multi-line data becomes several ``data:`` lines."""
    lines = [f"id: {message.id}", f"event: {message.event}"]
    lines += [f"data: {part}" for part in message.data.split("\n")]
    return ("\n".join(lines) + "\n\n").encode("utf-8")


def encode_comment(text: str) -> bytes:
    """A comment line: keeps proxies and the browser from timing the stream out."""
    return f": {text}\n\n".encode()


def hello(hub: LiveHub, server_ms: int) -> bytes:
    """The first frame of a stream: reconnect delay, and who is serving (a new instance means resync)."""
    data = json.dumps({"instance": hub.instance, "last_id": hub.last_id, "server_ms": server_ms})
    return f"retry: {RETRY_MS}\n".encode() + encode_event(Message(hub.last_id, "hello", data))


async def stream(hub: LiveHub, heartbeat_s: float, server_ms: int) -> AsyncGenerator[bytes, None]:
    """One page's stream until it disconnects, falls behind, or the hub closes."""
    sub = hub.subscribe()
    try:
        yield hello(hub, server_ms)
        while True:
            try:
                message = await asyncio.wait_for(sub.queue.get(), timeout=heartbeat_s)
            except TimeoutError:
                yield encode_comment("heartbeat")
                continue
            if message is None:
                return
            yield encode_event(message)
    finally:
        hub.unsubscribe(sub)
