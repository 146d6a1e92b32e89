"""Live fan-out, server-sent events, the response cache and the in-process link."""

from __future__ import annotations

import asyncio
import threading

import pytest

from cloud.dashboard.cache import ResponseCache
from cloud.dashboard.embedded_link import MemoryLink
from cloud.dashboard.live import LiveHub, Message
from cloud.dashboard.sse import encode_event, stream
from cloud.processing.records import Alert, AlertState, Severity

ALERT = Alert("a1", "machine/m1", "prediction", Severity.CRITICAL, AlertState.ACTIVE, 1, 1, 1)


def test_sse_encoding() -> None:
    assert encode_event(Message(3, "alert", '{"a": 1}')) == b'id: 3\nevent: alert\ndata: {"a": 1}\n\n'
    assert encode_event(Message(4, "x", "one\ntwo")) == b"id: 4\nevent: x\ndata: one\ndata: two\n\n"


async def test_stream_says_hello_fans_out_and_heartbeats() -> None:
    hub = LiveHub()
    first, second = stream(hub, 0.05, 123), stream(hub, 0.05, 123)
    hello = await anext(first)
    assert b"retry: " in hello
    assert b"event: hello" in hello
    assert hub.instance.encode() in hello
    await anext(second)
    assert hub.subscribers == 2
    hub.publish("alert", '{"id": "a1"}')
    assert b"event: alert" in await anext(first)
    assert b"event: alert" in await anext(second)
    assert await anext(first) == b": heartbeat\n\n"
    await first.aclose()
    assert hub.subscribers == 1
    hub.close()
    with pytest.raises(StopAsyncIteration):
        await anext(second)


async def test_a_slow_page_is_dropped_not_waited_for() -> None:
    hub = LiveHub(queue_size=2)
    slow = stream(hub, 5, 0)
    await anext(slow)
    for i in range(3):
        hub.publish("alert", str(i))
    assert hub.subscribers == 0
    with pytest.raises(StopAsyncIteration):
        await anext(slow)  # ends at once: the page reconnects and resyncs


async def test_cache_builds_once_for_concurrent_requests_and_invalidates() -> None:
    cache = ResponseCache(ttl_s=60)
    builds = 0

    async def build() -> bytes:
        nonlocal builds
        builds += 1
        await asyncio.sleep(0.01)
        return f"v{builds}".encode()

    bodies = await asyncio.gather(*(cache.get("k", build) for _ in range(50)))
    assert builds == 1
    assert {b.body for b in bodies} == {b"v1"}
    assert (await cache.get("k", build)).body == b"v1"
    cache.invalidate()
    assert (await cache.get("k", build)).body == b"v1"  # the previous answer while the rebuild runs
    await asyncio.sleep(0.05)
    assert (await cache.get("k", build)).body == b"v2"
    assert builds == 2
    cache.invalidate(lambda key: key == "other")
    assert (await cache.get("k", build)).body == b"v2"  # not touched by that change
    assert builds == 2


async def test_cache_serves_stale_while_one_refresh_runs() -> None:
    now = [0.0]
    cache = ResponseCache(ttl_s=1, clock=lambda: now[0])
    version = 0

    async def build() -> bytes:
        nonlocal version
        version += 1
        return str(version).encode()

    assert (await cache.get("k", build)).body == b"1"
    now[0] = 5.0
    assert (await cache.get("k", build)).body == b"1"  # stale, refresh started
    await asyncio.sleep(0.01)
    assert (await cache.get("k", build)).body == b"2"


async def test_memory_link_takes_events_from_other_threads_and_actions_to_its_handler() -> None:
    link = MemoryLink()
    link.publish([ALERT])  # before anyone listens: kept
    events = link.events()
    assert await anext(events) == ALERT
    worker = threading.Thread(target=link.publish, args=([ALERT],))
    worker.start()
    worker.join()
    assert await asyncio.wait_for(anext(events), 2) == ALERT
    seen: list[object] = []
    link.bind(seen.append)
    from cloud.processing.records import ActionKind, OperatorAction

    action = OperatorAction("a1", ActionKind.ACK, "olga", 5)
    await link.send(action)
    assert seen == [action]
    link.close()
    with pytest.raises(StopAsyncIteration):
        await asyncio.wait_for(anext(events), 2)
