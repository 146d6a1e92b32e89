"""The harness's one settings object: each field once, with its default, environment variable and help."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class HarnessSettings(BaseSettings):
    """Settings of ``iiot harness run``; environment variables are ``IIOT_HARNESS_<FIELD>``."""

    model_config = SettingsConfigDict(env_prefix="IIOT_HARNESS_", extra="ignore", frozen=True)

    stack_script: Path = Field(
        default=Path("deploy/local/stack"), description="The stack script (up, down, status, env)."
    )
    stack_home: Path | None = Field(
        default=None, description="The stack's IIOT_STACK_HOME (none: the script's default)."
    )
    broker_stack_home: Path | None = Field(
        default=None,
        description="IIOT_STACK_HOME of a private Mosquitto for broker_stop/start, so an outage does not cut "
        "off other users of the shared broker (none: the shared stack's broker).",
    )
    broker_port: int | None = Field(
        default=None, description="Plain MQTT port of the private broker (IIOT_STACK_MQTT_PORT)."
    )
    broker_tls_port: int | None = Field(
        default=None, description="TLS MQTT port of the private broker (IIOT_STACK_MQTT_TLS_PORT)."
    )
    start_stack: bool = Field(
        default=False, description="Run `stack up` first (idempotent); otherwise the stack must be up."
    )
    runs_dir: Path = Field(default=Path("var/harness"), description="Where run folders are written.")
    iiot_command: str = Field(
        default="", description="The `iiot` executable for subprocesses (empty: the one beside Python)."
    )
    stop_timeout_s: float = Field(
        default=20.0, gt=0, description="SIGTERM grace before SIGKILL when stopping a process."
    )
    stack_timeout_s: float = Field(
        default=900.0, gt=0, description="Longest wait for one stack script command."
    )
    keep_data: bool = Field(
        default=False, description="Keep the run's InfluxDB bucket and Kafka topics after scoring."
    )
