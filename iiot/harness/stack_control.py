"""Thin adapter over ``deploy/local/stack``: bring services up or down, check them, read stack.env.

The script is run as a subprocess with the stack's own environment variables (``IIOT_STACK_HOME``
and port overrides), so a private stack (say, a Mosquitto only the harness stops) is driven the
same way as the shared one.
"""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from iiot.harness.errors import StackControlError

SERVICES = ("mosquitto", "kafka", "influxdb")


@dataclass(frozen=True, slots=True)
class StackEnv:
    """The KEY=VALUE settings a stack wrote to its stack.env."""

    values: Mapping[str, str]
    source: Path

    def get(self, key: str) -> str:
        """One value; StackControlError names the file when it is missing."""
        try:
            return self.values[key]
        except KeyError as exc:
            raise StackControlError(f"{self.source} has no {key}", retriable=False) from exc

    @property
    def mqtt_host(self) -> str:
        """Broker host."""
        return self.get("IIOT_MQTT_HOST")

    @property
    def mqtt_port(self) -> int:
        """Plain MQTT port."""
        return int(self.get("IIOT_MQTT_PORT"))

    def mqtt_user(self, user: str) -> tuple[str, str]:
        """(user name, password) of one of the stack's MQTT accounts."""
        key = f"IIOT_MQTT_{user.upper()}"
        return self.get(f"{key}_USERNAME"), self.get(f"{key}_PASSWORD")

    @property
    def kafka_bootstrap(self) -> str:
        """Kafka bootstrap servers."""
        return self.get("IIOT_KAFKA_BOOTSTRAP")

    @property
    def influx_url(self) -> str:
        """InfluxDB base URL."""
        return self.get("IIOT_INFLUX_URL")

    @property
    def influx_org(self) -> str:
        """InfluxDB organization."""
        return self.get("IIOT_INFLUX_ORG")

    @property
    def influx_token(self) -> str:
        """InfluxDB all-access token."""
        return self.get("IIOT_INFLUX_TOKEN")


def parse_stack_env(text: str, source: Path = Path("stack.env")) -> StackEnv:
    """Parse KEY=VALUE lines (blank lines and # comments ignored)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#") and "=" in stripped:
            key, _, value = stripped.partition("=")
            values[key.strip()] = value.strip()
    return StackEnv(values, source)


def default_stack_home(env: Mapping[str, str]) -> Path:
    """Where the stack script keeps its state, as it decides it."""
    home = env.get("IIOT_STACK_HOME")
    return Path(home) if home else Path(env.get("HOME", str(Path.home()))) / ".local" / "state" / "iiot-stack"


class StackControl:
    """Runs the stack script for one stack (its home and ports in ``stack_vars``)."""

    def __init__(
        self,
        script: Path,
        base_env: Mapping[str, str],
        stack_vars: Mapping[str, str] | None = None,
        *,
        timeout_s: float = 900.0,
    ) -> None:
        self.script = script
        self.env = {**base_env, **(stack_vars or {})}
        self.timeout_s = timeout_s

    @property
    def home(self) -> Path:
        """The stack's state folder."""
        return default_stack_home(self.env)

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        if not self.script.exists():
            raise StackControlError(f"stack script {self.script} not found", retriable=False)
        try:
            done = subprocess.run(
                [str(self.script), *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise StackControlError(f"`stack {' '.join(args)}` took over {self.timeout_s:g} s") from exc
        except OSError as exc:
            raise StackControlError(f"cannot run {self.script}: {exc}", retriable=False) from exc
        if check and done.returncode != 0:
            raise StackControlError(
                f"`stack {' '.join(args)}` failed ({done.returncode}):\n{(done.stdout + done.stderr)[-2000:]}"
            )
        return done

    def up(self, *services: str) -> str:
        """Start (idempotently) the named services, or all; return the script's output."""
        return self._run("up", *services).stdout

    def down(self, *services: str) -> str:
        """Stop the named services, or all."""
        return self._run("down", *services).stdout

    def status(self, *services: str) -> dict[str, str]:
        """Service -> its status line (``up ...`` or ``down``), without raising for down services."""
        done = self._run("status", *services, check=False)
        lines: dict[str, str] = {}
        for line in done.stdout.splitlines():
            name, _, rest = line.strip().partition(" ")
            if name in SERVICES:
                lines[name] = rest.strip()
        return lines

    def require_up(self, *services: str) -> None:
        """StackControlError listing every named service that is down or unhealthy."""
        wanted = services or SERVICES
        status = self.status(*wanted)
        bad = {s: status.get(s, "no status") for s in wanted}
        bad = {s: line for s, line in bad.items() if not line.startswith("up") or "UNHEALTHY" in line}
        if bad:
            lines = "\n".join(f"  {s}: {line}" for s, line in bad.items())
            raise StackControlError(
                f"stack service(s) not up:\n{lines}\nstart them with `{self.script} up` (docs/STACK.md)"
            )

    def read_env(self) -> StackEnv:
        """The stack's stack.env."""
        path = self.home / "stack.env"
        try:
            return parse_stack_env(path.read_text(encoding="utf-8"), path)
        except OSError as exc:
            raise StackControlError(
                f"cannot read {path}: {exc.strerror or exc}; is the stack set up (`{self.script} up`)?",
                retriable=False,
            ) from exc


def stack_vars(
    home: Path | None, mqtt_port: int | None = None, mqtt_tls_port: int | None = None
) -> dict[str, str]:
    """The environment that points the stack script at another home and ports."""
    out: dict[str, str] = {}
    if home is not None:
        out["IIOT_STACK_HOME"] = str(home)
    if mqtt_port is not None:
        out["IIOT_STACK_MQTT_PORT"] = str(mqtt_port)
    if mqtt_tls_port is not None:
        out["IIOT_STACK_MQTT_TLS_PORT"] = str(mqtt_tls_port)
    return out


def without_iiot_vars(env: Mapping[str, str]) -> dict[str, str]:
    """The environment less every IIOT_* variable, so child settings come only from the harness."""
    return {k: v for k, v in env.items() if not k.startswith("IIOT_")} | {"PYTHONUNBUFFERED": "1"}
