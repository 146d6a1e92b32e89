"""The embedded runner against real Mosquitto: MQTT in, SQLite out, the same alerts as processing
the same messages directly, and rebirth requests back to the edge.

Fails (never skips) when a service is down: the ``stack`` fixture checks them.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from stack_settings import StackSettings

from cloud.bridge.edge_feed import EdgeNodeScript
from cloud.embedded.runner import EmbeddedRunner, run_embedded
from cloud.mqtt_client import MqttClient, MqttOptions
from cloud.pipeline import PipelineCore
from cloud.processing.alert_lifecycle import LifecyclePolicy
from cloud.processing.processor import ProcessingConfig, Processor
from cloud.processing.windows import WindowSpec
from cloud.storage.sqlite import SqliteStorage
from proto.sparkplug import decode_payload
from proto.topics import detections_filter

T0 = 1_700_000_000_000
CONFIG = ProcessingConfig(
    windows=(WindowSpec.tumbling("10s"),), lifecycle=LifecyclePolicy(update_interval_ms=5_000)
)


def options(stack: StackSettings, user: str, client_id: str) -> MqttOptions:
    account = stack.mqtt_user(user)
    return MqttOptions(
        stack.mqtt_host, stack.mqtt_port, account.username, account.password, client_id=client_id
    )


def scenario(group: str) -> tuple[EdgeNodeScript, list[tuple[str, bytes]]]:
    node = EdgeNodeScript(
        group, "edge1", {"press1": {"temperature": 20.0, "prediction/fault_probability": 0.0}}
    )
    messages = list(node.birth(T0))
    for i in range(1, 60):
        ts = T0 + i * 1000
        messages.append(
            node.data(
                "press1",
                {
                    "temperature": 100.0 if 20 <= i < 40 else 60.0,
                    "prediction/fault_probability": 0.9 if 30 <= i < 45 else 0.1,
                },
                ts,
            )
        )
        messages.append(node.detection("cam1", ts, i, [("part", 0.9)], machine="press1"))
    return node, messages


async def test_embedded_runner_over_mqtt(stack: StackSettings, tmp_path: Path) -> None:
    group = f"e{uuid.uuid4().hex[:8]}"
    node, messages = scenario(group)
    storage = SqliteStorage(tmp_path / "cloud.db")
    runner = EmbeddedRunner(PipelineCore(Processor(CONFIG)), storage)
    filters = [f"spBv1.0/{group}/#", detections_filter(group_id=group)]
    stop = asyncio.Event()
    async with MqttClient(options(stack, "bridge", f"embedded-{group}"), filters) as mqtt:
        task = asyncio.create_task(run_embedded(runner, mqtt, stop, tick_s=0.5))
        ncmd = f"spBv1.0/{group}/NCMD/edge1"
        async with MqttClient(options(stack, "edge", f"edge-{group}"), [ncmd]) as edge:
            for topic, payload in messages:
                await edge.publish(topic, payload)
            node.skip(2)
            await edge.publish(*node.data("press1", {"temperature": 61.0}, T0 + 61_000))
            command = await edge.get(wait_s=15)
            assert command is not None
            assert decode_payload(command.payload).rebirth_requested
            edge.ack(command)
        for _ in range(100):  # up to 20 s for the runner to drain the broker
            if runner.stats.messages >= len(messages) + 1:
                break
            await asyncio.sleep(0.2)
        stop.set()
        await task

    direct = EmbeddedRunner(PipelineCore(Processor(CONFIG)), SqliteStorage()).handle(messages, T0).alerts
    stored = storage.alerts(open_only=False)
    newest = {a.alert_id: a for a in sorted(direct, key=lambda a: a.revision)}
    assert {(a.alert_id, a.kind, a.state, a.revision) for a in stored} == {
        (a.alert_id, a.kind, a.state, a.revision) for a in newest.values()
    }
    assert {a.kind for a in stored} == {"range.temperature", "prediction"}
    series = storage.series("press1", "temperature", T0, T0 + 100_000)
    assert [p.ts_ms for p in series] == [T0 + i * 1000 for i in range(60)] + [T0 + 61_000]
    assert storage.aggregates("press1", "temperature", "10s", T0, T0 + 60_000)[2].mean == 100.0
    storage.close()
