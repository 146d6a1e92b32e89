"""Integration tier: real Mosquitto, Kafka and InfluxDB started by `deploy/local/stack up`.

These tests never skip. The session fixture `stack` reads `<state>/stack.env`, which the stack
script writes, and fails with a message naming the missing service when one is not reachable.
"""

from __future__ import annotations

import json
import os
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from stack_settings import StackSettings

UP_HINT = "start it with `deploy/local/stack up` (see docs/STACK.md)"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test under tests/integration with `integration`."""
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)


def stack_env_file() -> Path:
    """Where `deploy/local/stack` writes the settings (IIOT_STACK_HOME or its default)."""
    home = os.environ.get("IIOT_STACK_HOME") or Path.home() / ".local" / "state" / "iiot-stack"
    return Path(home) / "stack.env"


def _tcp_reachable(address: str, timeout: float = 2.0) -> str | None:
    """None if host:port accepts a TCP connection, else the reason."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return None
    except OSError as exc:
        return f"{address}: {exc}"


def _influx_problem(settings: StackSettings) -> str | None:
    """None if InfluxDB's /health passes, else the reason."""
    try:
        no_proxy = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with no_proxy.open(f"{settings.influx_url}/health", timeout=3) as response:
            status = json.loads(response.read()).get("status")
    except (OSError, urllib.error.URLError, ValueError) as exc:
        return f"{settings.influx_url}/health: {exc}"
    return None if status == "pass" else f"{settings.influx_url}/health says {status!r}"


@pytest.fixture(scope="session")
def stack() -> StackSettings:
    """The running stack's settings; fails (never skips) when the stack or a service is down."""
    path = stack_env_file()
    if not path.exists():
        pytest.fail(f"stack settings {path} are missing: the stack is not set up; {UP_HINT}", pytrace=False)
    settings = StackSettings.from_env_file(path)
    problems = {
        "mosquitto": _tcp_reachable(f"{settings.mqtt_host}:{settings.mqtt_port}")
        or _tcp_reachable(f"{settings.mqtt_host}:{settings.mqtt_tls_port}"),
        "kafka": _tcp_reachable(settings.kafka_bootstrap.split(",")[0]),
        "influxdb": _influx_problem(settings),
    }
    down = {name: why for name, why in problems.items() if why}
    if down:
        lines = "\n".join(f"  {name} is not reachable ({why})" for name, why in down.items())
        pytest.fail(f"integration stack service(s) down:\n{lines}\n{UP_HINT}", pytrace=False)
    return settings
