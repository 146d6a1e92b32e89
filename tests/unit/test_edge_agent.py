"""The agent composed from settings, against a fake transport: telemetry, predictions, events, health, CLI."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from test_edge_defect_pipeline import frame
from test_edge_fakes import FAULT_CHANNELS, build_fault_model, build_grid_detector
from test_edge_publisher import FakeBroker, FakeTransport

from edge.agent import EdgeAgent
from edge.cli import group
from edge.health import HealthMetrics, HealthServer, Probes
from edge.records import SensorSamples
from edge.settings import AgentSettings
from proto import codec
from proto.messages import DetectionEvent
from proto.sparkplug import (
    AliasTable,
    MessageType,
    SparkplugPayload,
    decode_message,
    parse_node_topic,
    parse_topic,
)


def settings_for(tmp_path: Path, **extra: object) -> AgentSettings:
    fault = build_fault_model(tmp_path / "fault", window=4, stride=2)
    detector = build_grid_detector(tmp_path / "det", size=128)
    return AgentSettings(
        group_id="plant",
        edge_node_id="edge-1",
        fault={
            "manifest": fault,
            "tick_s": 0.05,
            "backend": {"kind": "onnxruntime", "providers": ["CPUExecutionProvider"]},
        },  # type: ignore[arg-type]
        detector={
            "manifest": detector,
            "max_wait_ms": 1,
            "backend": {"kind": "onnxruntime", "providers": ["CPUExecutionProvider"]},
        },  # type: ignore[arg-type]
        outbox={"path": tmp_path / "outbox.sqlite", "synchronous": "NORMAL"},  # type: ignore[arg-type]
        health={"port": 0, "host": "127.0.0.1"},  # type: ignore[arg-type]
        machines=({"machine_id": "m0", "line_id": "l", "channels": list(FAULT_CHANNELS)},),  # type: ignore[arg-type]
        node_metrics_period_s=0.2,
        **extra,  # type: ignore[arg-type]
    )


async def until(predicate: Callable[[], object], within_s: float = 15.0) -> None:
    deadline = time.monotonic() + within_s
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


def published(broker: FakeBroker, kind: str) -> list[tuple[str, bytes]]:
    out = []
    for _, message in broker.published:
        parsed = parse_topic(message.topic) if message.topic.startswith("spBv1.0") else None
        if (parsed is not None and str(getattr(parsed, "message_type", "")) == kind) or (
            parsed is None and message.topic.endswith(kind)
        ):
            out.append((message.topic, message.payload))
    return out


async def http_get(port: int, path: str) -> tuple[int, bytes]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    await writer.drain()
    data = await reader.read()
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


async def test_agent_publishes_telemetry_predictions_and_detections(tmp_path: Path) -> None:
    broker = FakeBroker()
    settings = settings_for(tmp_path)
    async with EdgeAgent(settings, transport_factory=lambda: FakeTransport(broker)) as agent:
        await until(lambda: agent.publisher is not None and agent.publisher.online)
        nbirth = published(broker, "NBIRTH")
        assert nbirth
        dbirths = {parse_topic(t).device_id for t, _ in published(broker, "DBIRTH")}  # type: ignore[union-attr]
        assert "m0" in dbirths  # declared in the settings: born before its first sample
        t = np.arange(0, 800, 100, dtype=np.int64)
        values = np.column_stack([np.full(8, 1.0), np.zeros(8)])
        agent.samples.put_samples(SensorSamples("m1", "l", FAULT_CHANNELS, t, values, units=("degC", "g")))
        agent.mailbox.put(frame("cam-1", 1, [(32, 0, 48, 16)]))
        await until(
            lambda: any(topic.endswith("/detections") for _, m in broker.published for topic in [m.topic])
        )
        await until(lambda: any(b"prediction/" in p for _, p in published(broker, "DBIRTH")))
        await until(lambda: len(published(broker, "DDATA")) >= 2)
        status, body = await http_get(agent.health.port, "/metrics")  # type: ignore[union-attr]
        assert status == 200
        assert b"edge_step_seconds_bucket" in body
        assert b'edge_model_info{name="fault",pipeline="fault",version="1.0.0"} 1.0' in body
        status, body = await http_get(agent.health.port, "/readyz")  # type: ignore[union-attr]
        assert status == 200
        assert json.loads(body)["checks"]["sparkplug_online"] is True
        assert (await http_get(agent.health.port, "/healthz"))[0] == 200  # type: ignore[union-attr]
        new_version = await agent.swap_model(
            "fault", build_fault_model(tmp_path / "f2", window=4, stride=2, version="2.0.0")
        )
        assert new_version == "2.0.0"
    ((_, payload),) = [p for p in published(broker, "detections")]
    event = codec.decode(DetectionEvent, payload)
    assert (event.camera_id, event.seq, event.edge_node) == ("cam-1", 1, "edge-1")
    values_by_name: dict[str, object] = {}
    for topic, data in published(broker, "DDATA"):
        device = parse_topic(topic).device_id  # type: ignore[union-attr]
        raw = decode_message(MessageType.DDATA, data)
        assert raw.seq is not None
        values_by_name.update({f"{device}:{m.alias}": m.value for m in raw.metrics})
    assert values_by_name  # telemetry and predictions went out by alias
    last = broker.connections[-1].closed_with
    assert last is not None
    assert "/NDEATH/" in last.topic


async def test_health_probes() -> None:
    probes = Probes(stall_after_s=0.05)
    ready = {"value": False}
    probes.readiness("models", lambda: ready["value"])
    async with HealthServer(HealthMetrics(), probes, "127.0.0.1", 0) as server:
        assert (await http_get(server.port, "/readyz"))[0] == 503
        ready["value"] = True
        assert (await http_get(server.port, "/readyz"))[0] == 200
        probes.busy("inference", time.monotonic() - 1.0)  # stuck for a second
        status, body = await http_get(server.port, "/healthz")
        assert status == 503
        assert json.loads(body)["checks"]["busy:inference"] is False
        probes.busy("inference", None)
        assert (await http_get(server.port, "/healthz"))[0] == 200
        assert (await http_get(server.port, "/nope"))[0] == 404


def test_cli_lists_settings_and_shows_them(tmp_path: Path) -> None:
    runner = CliRunner()
    listed = runner.invoke(group, ["settings"])
    assert listed.exit_code == 0
    assert "IIOT_EDGE_MQTT__HOST" in listed.output
    config = tmp_path / "edge.yaml"
    config.write_text("edge_node_id: e9\nmqtt: {password: hunter2}\n")
    shown = runner.invoke(group, ["settings", "--show", "--config", str(config)])
    assert shown.exit_code == 0
    assert json.loads(shown.output)["edge_node_id"] == "e9"
    assert "hunter2" not in shown.output
    config.write_text("edge_node_id: 'bad/id'\n")
    assert runner.invoke(group, ["run", "--config", str(config)]).exit_code != 0


def sparkplug_sent(broker: FakeBroker) -> list[tuple[str, str | None, SparkplugPayload]]:
    """Every Sparkplug message in order, as a host reads it: (kind, device, payload with names)."""
    aliases, out = AliasTable(), []
    for _, message in broker.published:
        if not message.topic.startswith("spBv1.0/"):
            continue
        topic = parse_node_topic(message.topic)
        kind = topic.message_type
        payload = decode_message(kind, message.payload, aliases=aliases, device_id=topic.device_id)
        if kind in (MessageType.NBIRTH, MessageType.DBIRTH):
            aliases.learn(payload.metrics, topic.device_id)
        out.append((str(kind), topic.device_id, payload))
    return out


async def test_every_metric_carries_the_event_time_of_its_source(tmp_path: Path) -> None:
    """A twin five hours ahead of the wall clock: samples, windows, frames and node metrics keep its time."""
    broker = FakeBroker()
    wall = time.time_ns() // 1_000_000
    twin = wall + 5 * 3_600_000
    sample_times = [twin + 100 * i for i in range(8)]
    async with EdgeAgent(settings_for(tmp_path), transport_factory=lambda: FakeTransport(broker)) as agent:
        await until(lambda: agent.publisher is not None and agent.publisher.online)
        values = np.column_stack([np.full(8, 1.0), np.zeros(8)])
        samples = SensorSamples("m1", "l", FAULT_CHANNELS, np.asarray(sample_times, np.int64), values)
        agent.samples.put_samples(samples)
        agent.mailbox.put(replace(frame("cam-1", 1, [(32, 0, 48, 16)]), timestamp_ms=twin + 250))

        def seen(kind: str, device: str | None, name: str) -> list[int | None]:
            return [
                m.timestamp
                for k, d, p in sparkplug_sent(broker)
                if (k, d) == (kind, device)
                for m in p.metrics
                if m.name == name
            ]

        await until(lambda: seen("DDATA", "m1", "prediction/fault_probability"))
        await until(lambda: seen("DDATA", "cam-1", "frames/processed"))
        await until(lambda: published(broker, "detections"))
        # the alarm the samples raise changes a node metric, sent at the node's newest event time
        await until(lambda: any((t or 0) >= twin for t in seen("NDATA", None, "Alarms/active")))
        assert agent.event_time_ms() == sample_times[-1]
    sent = sparkplug_sent(broker)
    assert all(abs((p.timestamp or 0) - wall) < 600_000 for _, _, p in sent)  # payloads: the wall clock
    assert set(seen("DDATA", "m1", FAULT_CHANNELS[0])) <= set(sample_times)
    windows = seen("DDATA", "m1", "prediction/fault_probability")
    assert windows
    assert set(windows) <= set(sample_times)  # a window's last sample
    assert set(seen("DDATA", "cam-1", "frames/processed")) == {twin + 250}  # the frame's capture time
    node_times = {m.timestamp for k, _, p in sent if k == "NDATA" for m in p.metrics}
    assert {t for t in node_times if (t or 0) >= twin} <= {twin + 250, sample_times[-1]}  # the newest seen
    assert all(wall - 600_000 <= (t or 0) for t in node_times)  # the wall clock only before any event
    ((_, payload),) = published(broker, "detections")
    assert codec.decode(DetectionEvent, payload).timestamp_ms == twin + 250


@pytest.mark.parametrize("how", ["silence", "capture-failed"])
async def test_a_lost_camera_gets_a_ddeath_and_its_next_frame_a_dbirth(tmp_path: Path, how: str) -> None:
    broker = FakeBroker()
    settings = settings_for(tmp_path)
    assert settings.detector is not None
    detector = settings.detector.model_copy(update={"camera_timeout_s": 60.0})
    settings = settings.model_copy(update={"detector": detector})

    def camera_kinds() -> list[str]:
        return [k for k, d, _ in sparkplug_sent(broker) if d == "cam-1"]

    async with EdgeAgent(settings, transport_factory=lambda: FakeTransport(broker)) as agent:
        await until(lambda: agent.publisher is not None and agent.publisher.online)
        agent.mailbox.put(frame("cam-1", 1, [(32, 0, 48, 16)]))
        await until(lambda: "DDATA" in camera_kinds())
        assert agent.camera_watch.timeout_s == 60.0
        if how == "capture-failed":
            agent.mailbox.lost("cam-1")  # what a source does when its capture fails
        else:
            agent.camera_watch.timeout_s = 0.3  # short only now: the camera was born before it fell silent
        await until(lambda: "DDEATH" in camera_kinds())
        await asyncio.sleep(0.5)  # a lost camera sends nothing more
        assert camera_kinds()[-1] == "DDEATH"
        agent.camera_watch.timeout_s = 60.0
        agent.mailbox.put(frame("cam-1", 2, [(32, 0, 48, 16)]))
        await until(lambda: camera_kinds()[-2:] == ["DBIRTH", "DDATA"])
    kinds = camera_kinds()
    death = kinds.index("DDEATH")
    assert kinds[:2] == ["DBIRTH", "DDATA"]
    assert kinds[death + 1 : death + 3] == ["DBIRTH", "DDATA"]  # no data of the dead camera in between
    reborn = [p for k, d, p in sparkplug_sent(broker) if (k, d) == ("DBIRTH", "cam-1")][-1]
    processed = next(m for m in reborn.metrics if m.name == "frames/processed")
    assert processed.timestamp == frame("cam-1", 2, []).timestamp_ms  # the newest frame's capture time
