"""The Sparkplug publisher over TLS (port 8883, the stack's dev CA) with credentials; refusals are typed."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import pytest
from stack_settings import StackSettings
from test_edge_harness import HostCollector, SparkplugView

from edge.errors import ConnectRefused
from edge.outbox import Outbox
from edge.outbox_policy import OutboxLimits, Priority
from edge.publisher.metric_map import DeviceCatalog
from edge.publisher.node import PublisherConfig, SparkplugPublisher
from edge.publisher.paho_transport import PahoTransport
from edge.publisher.session import EdgeNodeSession
from edge.settings import MqttSettings
from proto.sparkplug import DataType, Metric, Verdict


def tls_settings(stack: StackSettings, password: str | None = None) -> MqttSettings:
    edge = stack.mqtt_user("edge")
    return MqttSettings(
        host="127.0.0.1",
        port=stack.mqtt_tls_port,
        tls=True,
        ca_file=stack.mqtt_ca_file,
        username=edge.username,
        password=password or edge.password,  # type: ignore[arg-type]
    )


async def test_births_and_data_over_tls(stack: StackSettings, tmp_path: Path) -> None:
    group = f"it{uuid.uuid4().hex[:6]}"
    host = HostCollector(stack, stack.mqtt_port, group, f"host-{group}").start()
    settings = tls_settings(stack)
    outbox = Outbox(tmp_path / "o.sqlite", OutboxLimits(1000, 1 << 20, 10**9), synchronous="NORMAL")
    session = EdgeNodeSession(group, "edge-tls", DeviceCatalog())
    try:
        async with SparkplugPublisher(
            session, outbox, lambda: PahoTransport(settings, f"{group}-tls"), PublisherConfig()
        ) as publisher:
            deadline = time.monotonic() + 20
            while not publisher.online:
                assert time.monotonic() < deadline, "no births over TLS"
                await asyncio.sleep(0.1)
            for i in range(5):
                await publisher.send_data(
                    "m1", [Metric("x", DataType.DOUBLE, float(i), timestamp=1000 + i)], Priority.EVENT
                )
            assert await publisher.drain(20)
        deadline = time.monotonic() + 10
        while len(SparkplugView.of(host.snapshot(), {"x"}).samples) < 5:
            assert time.monotonic() < deadline, "data did not arrive"
            await asyncio.sleep(0.1)
    finally:
        host.stop()
        outbox.close()
    view = SparkplugView.of(host.snapshot(), {"x"})
    assert sorted(t for (_, _, t) in view.samples) == [1000, 1001, 1002, 1003, 1004]
    assert Verdict.GAP not in view.verdicts
    assert any("/NDEATH/" in m.topic for m in host.snapshot())  # the clean stop published the NDEATH


async def test_bad_password_is_a_refusal(stack: StackSettings) -> None:
    transport = PahoTransport(tls_settings(stack, password="wrong"), f"it-{uuid.uuid4().hex[:6]}")
    session = EdgeNodeSession("g", "n", DeviceCatalog())
    with pytest.raises(ConnectRefused):
        await transport.connect(session.start(), session.subscriptions(), None)  # type: ignore[arg-type]
    await transport.close()
