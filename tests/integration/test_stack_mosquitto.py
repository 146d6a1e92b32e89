"""Mosquitto of the local stack: password auth, TLS with the dev CA, and per-user ACLs."""

from __future__ import annotations

import queue
import ssl
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode
from stack_settings import StackSettings

TIMEOUT = 10.0


class Session:
    """A connected paho client whose callbacks land in queues, for step-by-step tests."""

    def __init__(self, client: mqtt.Client) -> None:
        self.client = client
        self.connack: queue.Queue[ReasonCode] = queue.Queue()
        self.messages: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self.subacks: queue.Queue[list[ReasonCode]] = queue.Queue()
        self.pubacks: dict[int, ReasonCode] = {}
        self._puback_event = threading.Condition()
        client.on_connect = self._on_connect
        client.on_message = lambda _c, _u, msg: self.messages.put(msg)
        client.on_subscribe = lambda _c, _u, _mid, codes, _p: self.subacks.put(list(codes))
        client.on_publish = self._on_publish

    def _on_connect(self, _c: Any, _u: Any, _flags: Any, reason: ReasonCode, _p: Any) -> None:
        self.connack.put(reason)

    def _on_publish(self, _c: Any, _u: Any, mid: int, reason: ReasonCode, _p: Any) -> None:
        with self._puback_event:
            self.pubacks[mid] = reason
            self._puback_event.notify_all()

    def subscribe(self, topic: str, qos: int = 1) -> list[ReasonCode]:
        """Subscribe and wait for the SUBACK's reason codes."""
        self.client.subscribe(topic, qos=qos)
        return self.subacks.get(timeout=TIMEOUT)

    def publish(self, topic: str, payload: bytes, qos: int = 1) -> ReasonCode:
        """Publish and wait until the broker acknowledged it (PUBACK for QoS 1)."""
        info = self.client.publish(topic, payload, qos=qos)
        with self._puback_event:
            if not self._puback_event.wait_for(lambda: info.mid in self.pubacks, timeout=TIMEOUT):
                raise TimeoutError(f"no PUBACK for {topic}")
            return self.pubacks[info.mid]


def make_client(protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv311) -> mqtt.Client:
    """A paho 2.x client with the VERSION2 callback API."""
    return mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=f"it-{uuid.uuid4().hex[:12]}",
        protocol=protocol,
    )


@contextmanager
def connected(
    stack: StackSettings,
    user: str,
    *,
    tls: bool = False,
    password: str | None = None,
    protocol: mqtt.MQTTProtocolVersion = mqtt.MQTTv311,
) -> Iterator[Session]:
    """Connect as one stack user (plain 1883 or TLS 8883) and yield a Session; fail if refused."""
    account = stack.mqtt_user(user)
    client = make_client(protocol)
    client.username_pw_set(account.username, account.password if password is None else password)
    port = stack.mqtt_port
    if tls:
        client.tls_set_context(ssl.create_default_context(cafile=str(stack.mqtt_ca_file)))
        port = stack.mqtt_tls_port
    session = Session(client)
    client.connect(stack.mqtt_host, port, keepalive=30)
    client.loop_start()
    try:
        reason = session.connack.get(timeout=TIMEOUT)
        if reason.is_failure:
            raise ConnectionRefusedError(f"{user} refused: {reason}")
        yield session
    finally:
        client.disconnect()
        client.loop_stop()


def unique_topic(prefix: str) -> str:
    """A topic no other test run uses."""
    return f"{prefix}/it-{uuid.uuid4().hex[:10]}"


@pytest.mark.parametrize("tls", [False, True], ids=["plain-1883", "tls-8883"])
def test_publish_and_receive_with_credentials(stack: StackSettings, tls: bool) -> None:
    """The twin publishes on twin/v1/..., the edge (allowed to read it) receives it intact."""
    topic = unique_topic("twin/v1/line1")
    with connected(stack, "edge", tls=tls) as edge, connected(stack, "twin", tls=tls) as twin:
        assert [code.value for code in edge.subscribe(topic)] == [1]
        twin.publish(topic, b"\x00sample\xff")
        message = edge.messages.get(timeout=TIMEOUT)
    assert message.topic == topic
    assert message.payload == b"\x00sample\xff"


def test_tls_rejects_an_unknown_ca(stack: StackSettings) -> None:
    """Without the dev CA the TLS handshake fails: the server certificate really is verified."""
    client = make_client()
    account = stack.mqtt_user("harness")
    client.username_pw_set(account.username, account.password)
    client.tls_set_context(ssl.create_default_context())  # system CAs only
    with pytest.raises(ssl.SSLCertVerificationError):
        client.connect(stack.mqtt_host, stack.mqtt_tls_port, keepalive=10)


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["v311", "v5"])
def test_wrong_password_is_refused(stack: StackSettings, protocol: mqtt.MQTTProtocolVersion) -> None:
    """A known user with a wrong password gets a failing CONNACK."""
    with (
        pytest.raises(ConnectionRefusedError, match="refused"),
        connected(stack, "edge", password="not-the-password", protocol=protocol),
    ):
        pass


def test_guest_publish_to_a_foreign_topic_is_not_delivered(stack: StackSettings) -> None:
    """MQTT 3.1.1: the broker drops a guest's unauthorized publish silently; a reader sees nothing."""
    topic = unique_topic("spBv1.0/it")
    with connected(stack, "harness") as harness, connected(stack, "guest") as guest:
        harness.subscribe(topic)
        guest.publish(topic, b"forbidden")  # acknowledged (3.1.1 has no way to say no) but dropped
        harness.publish(topic, b"allowed")
        received = harness.messages.get(timeout=TIMEOUT)
    assert received.payload == b"allowed"
    assert harness.messages.empty()


def test_guest_v5_publish_gets_not_authorized(stack: StackSettings) -> None:
    """MQTT 5: the PUBACK of a guest's publish to a foreign topic carries 'Not authorized' (0x87)."""
    with connected(stack, "guest", protocol=mqtt.MQTTv5) as guest:
        reason = guest.publish(unique_topic("spBv1.0/it"), b"forbidden")
    assert reason.value == 0x87, str(reason)


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["v311", "v5"])
def test_guest_reads_nothing_outside_acl(stack: StackSettings, protocol: mqtt.MQTTProtocolVersion) -> None:
    """The guest may read twin/v1/# only: a message elsewhere is not delivered to it.

    Mosquitto 2.0's acl_file grants every SUBACK and filters on delivery instead, so the
    check is what arrives, not the SUBACK code.
    """
    foreign, own = unique_topic("spBv1.0/it"), unique_topic("twin/v1/it")
    with connected(stack, "guest", protocol=protocol) as guest, connected(stack, "harness") as harness:
        guest.subscribe(foreign)
        guest.subscribe(own)
        harness.publish(foreign, b"not for guests")
        harness.publish(own, b"for everyone")
        received = guest.messages.get(timeout=TIMEOUT)
    assert (received.topic, received.payload) == (own, b"for everyone")
    assert guest.messages.empty()


def test_edge_receives_model_update_commands(stack: StackSettings) -> None:
    """The edge's ACL lets it read its model-update topic iiot/v1/{group}/{node}/cmd/#."""
    topic = unique_topic("iiot/v1/plant1/node1/cmd/model")
    with connected(stack, "edge") as edge, connected(stack, "harness") as harness:
        assert [c.value for c in edge.subscribe(topic)] == [1]
        harness.publish(topic, b"update")
        assert edge.messages.get(timeout=TIMEOUT).payload == b"update"
