"""Paho client construction shared by the publisher and the twin source: protocol, TLS, credentials.

Imported only by adapters, and only when an MQTT adapter is chosen.
"""

from __future__ import annotations

import ssl

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from edge.errors import ConfigError
from edge.settings import MqttSettings


def new_client(settings: MqttSettings, client_id: str, *, reconnect: bool) -> mqtt.Client:
    """A paho 2.x client (VERSION2 callbacks, clean session) with TLS and credentials applied."""
    v5 = settings.protocol == "5"
    client = mqtt.Client(
        callback_api_version=CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=None if v5 else True,
        protocol=mqtt.MQTTv5 if v5 else mqtt.MQTTv311,
        reconnect_on_failure=reconnect,
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


def connect_properties(settings: MqttSettings) -> object | None:
    """CONNECT properties for MQTT 5 (none for 3.1.1)."""
    if settings.protocol != "5":
        return None
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 0
    return props
