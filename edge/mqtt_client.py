"""Paho client construction shared by the publisher and the twin source: protocol, TLS, credentials.

Imported only by adapters, and only when an MQTT adapter is chosen.
"""

from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.errors import ConfigError
from edge.settings import MqttSettings

SESSION_EXPIRY_S = 7 * 86400
"""How long the broker keeps a persistent (MQTT 5) session of an agent that is away."""


def new_client(
    settings: MqttSettings,
    client_id: str,
    *,
    reconnect: bool,
    persistent: bool = False,
    manual_ack: bool = False,
) -> mqtt.Client:
    """A paho 2.x client (VERSION2 callbacks) with TLS and credentials applied.

    `persistent`: the broker keeps the session (subscriptions and unacknowledged QoS 1 messages)
    while the client is away; `manual_ack`: PUBACKs go out when the caller says so, not on receipt.
    """
    v5 = settings.protocol == "5"
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=None if v5 else not persistent,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        reconnect_on_failure=reconnect,
        manual_ack=manual_ack,
    )
    if settings.username is not None:
        password = settings.password.get_secret_value() if settings.password is not None else None
        client.username_pw_set(settings.username, password)
    if settings.tls:
        try:
            client.tls_set(
                ca_certs=str(settings.ca_file) if settings.ca_file else None,
                certfile=str(settings.cert_file) if settings.cert_file else None,
                keyfile=str(settings.key_file) if settings.key_file else None,
                cert_reqs=ssl.CERT_REQUIRED,
                tls_version=ssl.PROTOCOL_TLS_CLIENT,
            )
        except (OSError, ssl.SSLError, ValueError) as exc:
            raise ConfigError(f"MQTT TLS setup failed: {exc}") from exc
    client.reconnect_delay_set(
        max(1, round(settings.reconnect_min_s)), max(1, round(settings.reconnect_max_s))
    )
    return client


def connect_properties(settings: MqttSettings, persistent: bool = False) -> object | None:
    """CONNECT properties for MQTT 5 (none for 3.1.1): the session expiry."""
    if settings.protocol != "5":
        return None
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = SESSION_EXPIRY_S if persistent else 0
    return props
