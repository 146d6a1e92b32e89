"""The run's names and the commands and environments of its processes; pure, nothing is started here.

One run is isolated from every other user of the shared stack by names derived from its tag: its
own Sparkplug group (the bridges bridge only that group), twin site ids (its own twin topics),
Kafka topic prefix, Faust app id, MQTT share group and InfluxDB bucket. Child processes get an
environment without any inherited ``IIOT_*`` variable, plus exactly the settings listed here, so
what a process does depends only on the scenario and the stack.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class RunNames:
    """Everything named after the run's tag."""

    tag: str
    group_id: str
    site_suffix: str
    kafka_prefix: str
    bucket: str
    app_id: str
    share_group: str


def run_names(tag: str) -> RunNames:
    """The names of a run with tag ``tag`` (short, topic-safe)."""
    return RunNames(
        tag=tag,
        group_id=f"h-{tag}",
        site_suffix=f"-{tag}",
        kafka_prefix=f"harness-{tag}",
        bucket=f"harness-{tag}",
        app_id=f"harness-{tag}",
        share_group=f"harness-{tag}",
    )


@dataclass(frozen=True, slots=True)
class Broker:
    """Where the run's MQTT clients connect."""

    host: str
    port: int


@dataclass(frozen=True, slots=True)
class CloudAccess:
    """Kafka and InfluxDB of the stack."""

    kafka_bootstrap: str
    influx_url: str
    influx_org: str
    influx_token: str


def iiot_executable(configured: str = "") -> list[str]:
    """The command that runs the ``iiot`` CLI: as configured, beside this Python, on PATH, or via -c."""
    if configured:
        return [configured]
    beside = Path(sys.executable).with_name("iiot")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("iiot")
    if found:
        return [found]
    return [sys.executable, "-c", "from iiot.cli import main; main()"]


def agent_argv(iiot: list[str], config: Path) -> list[str]:
    """``iiot edge run --config <edge.yaml>``."""
    return [*iiot, "edge", "run", "--config", str(config)]


def bridge_argv(iiot: list[str]) -> list[str]:
    """``iiot cloud bridge``."""
    return [*iiot, "cloud", "bridge"]


def worker_argv(iiot: list[str]) -> list[str]:
    """``iiot cloud worker``."""
    return [*iiot, "cloud", "worker"]


def agent_env(base: Mapping[str, str], password: str) -> dict[str, str]:
    """An agent's environment: the MQTT password (the rest is in its edge.yaml)."""
    return {**base, "IIOT_EDGE_MQTT__PASSWORD": password}


def bridge_env(
    base: Mapping[str, str],
    names: RunNames,
    n: int,
    broker: Broker,
    account: tuple[str, str],
    cloud: CloudAccess,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Bridge number ``n``: the run's group only, the run's share group and topic prefix."""
    return {
        **base,
        "IIOT_MQTT_HOST": broker.host,
        "IIOT_MQTT_PORT": str(broker.port),
        "IIOT_MQTT_USERNAME": account[0],
        "IIOT_MQTT_PASSWORD": account[1],
        "IIOT_MQTT_CLIENT_ID": f"{names.app_id}-bridge-{n}",
        "IIOT_KAFKA_BOOTSTRAP": cloud.kafka_bootstrap,
        "IIOT_KAFKA_TOPIC_PREFIX": names.kafka_prefix,
        "IIOT_BRIDGE_SHARE_GROUP": names.share_group,
        "IIOT_BRIDGE_SPARKPLUG_GROUP": names.group_id,
        **(extra or {}),
    }


def worker_env(
    base: Mapping[str, str],
    names: RunNames,
    n: int,
    cloud: CloudAccess,
    *,
    web_port: int,
    data_dir: Path,
    extra: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Faust worker number ``n``: the run's topic prefix, app id and bucket; its own port and folder."""
    return {
        **base,
        "IIOT_KAFKA_BOOTSTRAP": cloud.kafka_bootstrap,
        "IIOT_KAFKA_TOPIC_PREFIX": names.kafka_prefix,
        "IIOT_STORAGE_URL": cloud.influx_url,
        "IIOT_INFLUX_TOKEN": cloud.influx_token,
        "IIOT_INFLUX_ORG": cloud.influx_org,
        "IIOT_INFLUX_BUCKET": names.bucket,
        "IIOT_WORKER_APP_ID": names.app_id,
        "IIOT_WORKER_WEB_PORT": str(web_port),
        "IIOT_WORKER_DATA_DIR": str(data_dir / f"worker-{n}"),
        **(extra or {}),
    }
