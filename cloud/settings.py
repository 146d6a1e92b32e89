"""Typed settings of the cloud services, each field declared once with its default, variable and help.

Only the entry points (``cloud/cli.py``) construct these, which is where the environment is read.
Variables are ``IIOT_<FIELD>`` (e.g. ``IIOT_KAFKA_BOOTSTRAP``); MQTT credentials also accept the
per-user names that ``deploy/local/stack`` writes (``IIOT_MQTT_BRIDGE_USERNAME``...).
"""

from __future__ import annotations

import socket

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud.errors import ConfigError
from cloud.mqtt_client import MqttOptions
from cloud.processing.alert_lifecycle import LifecyclePolicy
from cloud.processing.alert_rules import (
    DefectRateLimits,
    DefectRateRule,
    NodeHealthRule,
    PredictionRule,
    ProbabilityThresholds,
    RangeRule,
)
from cloud.processing.processor import ProcessingConfig
from cloud.processing.windows import WindowSpec, parse_duration_ms
from cloud.retry import RetryPolicy
from cloud.storage.base import InfluxOptions


class _Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="IIOT_", extra="ignore", frozen=True, populate_by_name=True)


class MqttSettings(_Settings):
    """Broker connection."""

    mqtt_host: str = Field(default="127.0.0.1", description="MQTT broker host")
    mqtt_port: int = Field(default=1883, description="MQTT broker port (8883 with TLS)")
    mqtt_tls: bool = Field(default=False, description="connect with TLS")
    mqtt_ca_file: str = Field(default="", description="CA certificate for TLS (empty: system CAs)")
    mqtt_username: str = Field(
        default="bridge",
        validation_alias=AliasChoices("IIOT_MQTT_USERNAME", "IIOT_MQTT_BRIDGE_USERNAME", "mqtt_username"),
        description="MQTT user",
    )
    mqtt_password: str = Field(
        default="",
        validation_alias=AliasChoices("IIOT_MQTT_PASSWORD", "IIOT_MQTT_BRIDGE_PASSWORD", "mqtt_password"),
        description="MQTT password",
    )
    mqtt_client_id: str = Field(
        default="", description="MQTT client id (empty: derived from the service and host)"
    )
    mqtt_keepalive_s: int = Field(default=30, description="MQTT keepalive in seconds")
    mqtt_queue_size: int = Field(default=10_000, description="messages buffered before the broker is slowed")
    mqtt_session_expiry_s: int = Field(
        default=300, description="keep the MQTT session (and unacked QoS 1) this long"
    )

    def mqtt_options(self, role: str) -> MqttOptions:
        """Connection options for one service (``role`` names the default client id)."""
        return MqttOptions(
            host=self.mqtt_host,
            port=self.mqtt_port,
            username=self.mqtt_username,
            password=self.mqtt_password,
            client_id=self.mqtt_client_id or f"iiot-{role}-{socket.gethostname()}",
            tls=self.mqtt_tls,
            ca_file=self.mqtt_ca_file,
            keepalive_s=self.mqtt_keepalive_s,
            session_expiry_s=self.mqtt_session_expiry_s,
            queue_size=self.mqtt_queue_size,
        )


class KafkaSettings(_Settings):
    """Kafka connection and topics."""

    kafka_bootstrap: str = Field(
        default="127.0.0.1:9092", description="Kafka bootstrap servers, comma separated"
    )
    kafka_topic_prefix: str = Field(default="", description="prefix of every topic name (e.g. per site)")
    kafka_partitions: int = Field(
        default=4, description="partitions of topics the services create (co-partitioned)"
    )
    kafka_linger_ms: int = Field(default=20, description="producer linger: wait this long to fill a batch")
    kafka_max_batch_bytes: int = Field(default=1_048_576, description="producer batch size in bytes")
    kafka_request_timeout_ms: int = Field(default=30_000, description="producer request timeout")


class InfluxSettings(_Settings):
    """InfluxDB 2.x connection (used when the storage URL is influxdb:// or http(s)://)."""

    influx_token: str = Field(default="", description="InfluxDB API token")
    influx_org: str = Field(default="iiot", description="InfluxDB organization")
    influx_bucket: str = Field(default="telemetry", description="InfluxDB bucket")
    influx_batch_size: int = Field(default=5_000, description="points per write request")
    influx_retry_attempts: int = Field(
        default=6, description="write attempts before giving up (exponential backoff)"
    )

    def influx_options(self) -> InfluxOptions:
        """The InfluxDB backend's options (its URL comes from the storage URL)."""
        return InfluxOptions(
            token=self.influx_token,
            org=self.influx_org,
            bucket=self.influx_bucket,
            batch_size=self.influx_batch_size,
            retry=RetryPolicy(attempts=self.influx_retry_attempts),
        )


class ProcessingSettings(_Settings):
    """Windows, alert thresholds and lifecycle policy."""

    windows: str = Field(
        default="1m+10s,5m/1m+10s", description="window specs: size[/step][+lateness], comma separated"
    )
    prediction_enter: float = Field(
        default=0.8, description="fault probability that raises a prediction alert"
    )
    prediction_exit: float = Field(default=0.6, description="fault probability below which it clears")
    prediction_min_duration: str = Field(
        default="0s", description="how long the probability must stay above enter"
    )
    defect_window: str = Field(default="1m", description="sliding window of the defect rate")
    defect_enter_rate: float = Field(default=0.10, description="defect rate that raises an alert")
    defect_exit_rate: float = Field(default=0.05, description="defect rate below which it clears")
    defect_min_inspections: int = Field(default=20, description="inspections needed before the rate counts")
    node_stale_after: str = Field(default="30s", description="event time without data before a node is stale")
    alert_update_interval: str = Field(
        default="1m", description="repeats of an open alert emit at most this often"
    )
    alert_reopen_within: str = Field(
        default="0s", description="a raise this soon after a clear reopens the episode"
    )

    def processing_config(self) -> ProcessingConfig:
        """The processing configuration these settings describe."""
        return ProcessingConfig(
            windows=parse_windows(self.windows),
            predictions=PredictionRule(
                ProbabilityThresholds(
                    self.prediction_enter,
                    self.prediction_exit,
                    min_duration_ms=parse_duration_ms(self.prediction_min_duration),
                )
            ),
            ranges=RangeRule(),
            defects=DefectRateRule(
                DefectRateLimits(
                    window_ms=parse_duration_ms(self.defect_window),
                    bucket_ms=max(parse_duration_ms(self.defect_window) // 12, 1),
                    enter_rate=self.defect_enter_rate,
                    exit_rate=self.defect_exit_rate,
                    min_inspections=self.defect_min_inspections,
                )
            ),
            nodes=NodeHealthRule(stale_after_ms=parse_duration_ms(self.node_stale_after)),
            lifecycle=LifecyclePolicy(
                update_interval_ms=parse_duration_ms(self.alert_update_interval),
                reopen_within_ms=parse_duration_ms(self.alert_reopen_within),
            ),
        )


def parse_windows(text: str) -> tuple[WindowSpec, ...]:
    """``"1m+10s,5m/1m"``: tumbling 1 min with 10 s lateness, and 5 min windows hopping by 1 min."""
    specs = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        body, _, lateness = part.partition("+")
        size, _, step = body.partition("/")
        if not size:
            raise ConfigError(f"window spec {part!r} has no size")
        specs.append(WindowSpec.hopping(size, step or size, lateness or 0))
    if not specs:
        raise ConfigError("at least one window spec is needed")
    return tuple(specs)


class BridgeSettings(MqttSettings, KafkaSettings):
    """`iiot cloud bridge`."""

    bridge_share_group: str = Field(
        default="iiot-bridge", description="MQTT shared subscription group ($share/<group>/...)"
    )
    bridge_sparkplug_group: str = Field(default="+", description="Sparkplug group to bridge ('+' for all)")
    bridge_primary_host_id: str = Field(
        default="iiot-bridge",
        description="Sparkplug primary host id: the bridge keeps spBv1.0/STATE/{id} online (empty: none)",
    )
    bridge_heartbeat: str = Field(default="5s", description="event time between node 'data seen' records")
    bridge_rebirth_interval: str = Field(
        default="5s", description="minimum time between rebirth requests to one node"
    )
    bridge_batch: int = Field(default=500, description="MQTT messages normalized and produced per batch")


class WorkerSettings(KafkaSettings, InfluxSettings, ProcessingSettings):
    """`iiot cloud worker`."""

    worker_app_id: str = Field(
        default="iiot-processor", description="Faust app id (consumer group, changelog names)"
    )
    worker_take: int = Field(default=500, description="events per batch (stream.take)")
    worker_within: float = Field(default=0.5, description="seconds to wait for a batch to fill")
    worker_store: str = Field(
        default="memory://", description="Faust table store (memory:// recovers from changelogs)"
    )
    worker_data_dir: str = Field(default="var/faust", description="Faust data directory")
    worker_tick: float = Field(default=1.0, description="wall seconds between event-time ticks")
    worker_session_timeout: float = Field(
        default=10.0, description="seconds before Kafka reassigns a dead worker's partitions"
    )
    worker_web_port: int = Field(default=6066, description="Faust web port")
    storage_url: str = Field(
        default="influxdb://127.0.0.1:8086",
        validation_alias=AliasChoices("IIOT_STORAGE_URL", "IIOT_INFLUX_URL", "storage_url"),
        description="storage: influxdb://host:port, http(s)://host:port (InfluxDB) or sqlite:///file",
    )


class EmbeddedSettings(MqttSettings, ProcessingSettings):
    """`iiot cloud embedded`."""

    embedded_storage_url: str = Field(
        default="sqlite:///var/iiot-cloud.db", description="storage of the embedded runner"
    )
    embedded_sparkplug_group: str = Field(default="+", description="Sparkplug group to process ('+' for all)")
    embedded_tick: float = Field(
        default=1.0, description="wall seconds between event-time ticks (stale nodes, shelves)"
    )
