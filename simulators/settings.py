"""Typed settings of the twin's live runs: each field once, with default, environment variable and help."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class TwinSettings(BaseSettings):
    """Settings of ``iiot sim run``; environment variables are ``IIOT_TWIN_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="IIOT_TWIN_", extra="ignore")

    mqtt_host: str = Field(default="localhost", description="MQTT broker host.")
    mqtt_port: int = Field(
        default=1883, ge=1, le=65535, description="MQTT broker port (8883 is usual with TLS)."
    )
    mqtt_username: str | None = Field(default=None, description="MQTT user name (none: anonymous).")
    mqtt_password: SecretStr | None = Field(default=None, description="MQTT password.")
    mqtt_tls: bool = Field(default=False, description="Connect with TLS.")
    mqtt_ca_file: Path | None = Field(
        default=None, description="CA certificate file for TLS (none: system store)."
    )
    mqtt_client_id: str = Field(
        default="iiot-twin", description="MQTT client id (a suffix is added per run)."
    )
    mqtt_qos: int = Field(default=1, ge=0, le=2, description="QoS of every publish.")
    mqtt_connect_timeout_s: float = Field(default=10.0, gt=0, description="How long to wait for the CONNACK.")
    publish_period_s: float = Field(
        default=1.0, gt=0, description="Sim seconds of samples per published batch."
    )
    jpeg_quality: int = Field(default=85, ge=10, le=100, description="JPEG quality of camera frames.")
