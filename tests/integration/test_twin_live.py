"""The twin's live output reaches the real Mosquitto and decodes with the wire contract's codecs."""

from __future__ import annotations

import queue
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import SecretStr
from stack_settings import StackSettings

from proto import codec, topics
from proto.messages import CameraFrame, FrameGroundTruth, MachineGroundTruth, SensorBatch
from simulators.mqtt_publisher import MqttTwinPublisher
from simulators.plant import load_plant
from simulators.runner import PlantRunner
from simulators.scenario import Scenario
from simulators.settings import TwinSettings
from simulators.twin import Twin

TIMEOUT = 20.0
DECODERS: dict[type, type] = {
    topics.SensorsTopic: SensorBatch,
    topics.MachineTruthTopic: MachineGroundTruth,
    topics.FramesTopic: CameraFrame,
    topics.FrameTruthTopic: FrameGroundTruth,
}
SCENARIO = Scenario.model_validate(
    {
        "name": "live",
        "actions": [
            {
                "at_s": 2,
                "action": "inject_fault",
                "machine": "spindle-1",
                "fault": "bearing_inner",
                "life_s": 5,
            }
        ],
    }
)


@contextmanager
def subscriber(stack: StackSettings, topic_filter: str) -> Iterator[queue.Queue[tuple[str, bytes]]]:
    """A harness client subscribed to ``topic_filter``; yields the queue of received messages."""
    account = stack.mqtt_user("harness")
    received: queue.Queue[tuple[str, bytes]] = queue.Queue()
    subscribed: queue.Queue[Any] = queue.Queue()
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2, client_id=f"it-twin-{uuid.uuid4().hex[:8]}"
    )
    client.username_pw_set(account.username, account.password)
    client.on_message = lambda _c, _u, msg: received.put((msg.topic, bytes(msg.payload)))
    client.on_connect = lambda c, _u, _f, reason, _p: c.subscribe(topic_filter, qos=1)
    client.on_subscribe = lambda _c, _u, _mid, codes, _p: subscribed.put(codes)
    client.connect(stack.mqtt_host, stack.mqtt_port, keepalive=30)
    client.loop_start()
    try:
        codes = subscribed.get(timeout=TIMEOUT)
        assert not any(code.is_failure for code in codes), f"subscription refused: {codes}"
        yield received
    finally:
        client.disconnect()
        client.loop_stop()


def twin_settings(stack: StackSettings, *, tls: bool) -> TwinSettings:
    """Publisher settings for the stack's twin account, plain or TLS."""
    account = stack.mqtt_user("twin")
    return TwinSettings(
        mqtt_host=stack.mqtt_host,
        mqtt_port=stack.mqtt_tls_port if tls else stack.mqtt_port,
        mqtt_username=account.username,
        mqtt_password=SecretStr(account.password),
        mqtt_tls=tls,
        mqtt_ca_file=stack.mqtt_ca_file if tls else None,
    )


def drain(received: queue.Queue[tuple[str, bytes]], expected: int) -> list[tuple[Any, Any]]:
    """Collect and decode messages until ``expected`` arrived (fail on timeout)."""
    decoded: list[tuple[Any, Any]] = []
    while len(decoded) < expected:
        try:
            topic, payload = received.get(timeout=TIMEOUT)
        except queue.Empty:
            arrived = Counter(type(t).__name__ for t, _ in decoded)
            pytest.fail(f"only {len(decoded)} of {expected} twin messages arrived: {arrived}")
        parsed = topics.parse_topic(topic)
        decoded.append((parsed, codec.decode(DECODERS[type(parsed)], payload)))
    return decoded


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_live_run_reaches_mosquitto_and_decodes(stack: StackSettings, tls: bool) -> None:
    plant = load_plant("demo")
    site = f"it{uuid.uuid4().hex[:6]}"
    plant = plant.model_copy(update={"sites": tuple(s.model_copy(update={"id": site}) for s in plant.sites)})
    twin = Twin(plant, 3, scenario=SCENARIO, random_faults=False)
    machines = len(twin.index.ids)
    seconds = 10
    with subscriber(stack, f"twin/v1/{site}/#") as received:
        with MqttTwinPublisher(twin_settings(stack, tls=tls)) as publisher:
            summary = PlantRunner(twin, [publisher]).run(float(seconds))
        expected = 2 * seconds * machines + 2 * summary.frames
        messages = drain(received, expected)
    kinds = Counter(type(t).__name__ for t, _ in messages)
    assert kinds["SensorsTopic"] == kinds["MachineTruthTopic"] == seconds * machines
    assert kinds["FramesTopic"] == kinds["FrameTruthTopic"] == summary.frames == 5
    batches = [m for t, m in messages if isinstance(m, SensorBatch) and m.machine_id == "pump-1"]
    assert [b.seq for b in batches] == list(range(1, seconds + 1))
    assert "flow_m3h" in batches[0].channels
    assert len(batches[0].timestamps_ms) >= 9
    truth = [m for t, m in messages if isinstance(m, MachineGroundTruth) and m.machine_id == "spindle-1"]
    assert truth[0].fault_type == "normal"
    assert truth[0].health_index == 1.0
    assert truth[-1].fault_type == "bearing_inner"
    assert truth[-1].failure
    assert truth[-1].rul_seconds == 0.0
    frames = [m for t, m in messages if isinstance(m, CameraFrame)]
    assert all(f.jpeg.startswith(b"\xff\xd8") and f.machine_id == "spindle-1" for f in frames)


def test_wrong_password_is_a_publish_error(stack: StackSettings) -> None:
    from simulators.errors import PublishError

    settings = twin_settings(stack, tls=False).model_copy(
        update={"mqtt_password": None, "mqtt_connect_timeout_s": 5.0}
    )
    with pytest.raises(PublishError), MqttTwinPublisher(settings):
        pass
