"""The demo's embedded broker: a real MQTT round trip on loopback, in-process."""

from __future__ import annotations

import threading

import paho.mqtt.client as mqtt
import pytest

from iiot.embedded_broker import EmbeddedBroker, EmbeddedBrokerError


def test_publish_and_receive_qos1() -> None:
    with EmbeddedBroker() as broker:
        received: list[bytes] = []
        done = threading.Event()
        subscribed = threading.Event()

        def on_message(client: mqtt.Client, userdata: object, msg: mqtt.MQTTMessage) -> None:
            received.append(msg.payload)
            if len(received) == 50:
                done.set()

        sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        sub.on_message = on_message
        sub.on_subscribe = lambda *args: subscribed.set()
        sub.connect(broker.host, broker.port)
        sub.subscribe("twin/v1/#", qos=1)
        sub.loop_start()
        assert subscribed.wait(5)
        pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        pub.connect(broker.host, broker.port)
        pub.loop_start()
        for i in range(50):
            pub.publish("twin/v1/site/line/m1/sensors", str(i).encode(), qos=1)
        assert done.wait(10)
        pub.loop_stop()
        sub.loop_stop()
    assert received == [str(i).encode() for i in range(50)]


def test_port_in_use_is_a_clear_error() -> None:
    with EmbeddedBroker() as first:
        second = EmbeddedBroker(port=first.port)
        with pytest.raises(EmbeddedBrokerError, match="failed"):
            second.start(timeout=5)
