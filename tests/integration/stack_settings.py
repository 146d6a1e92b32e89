"""Connection settings of the local integration stack, read from the stack.env it writes."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class MqttUser:
    """One broker account from the stack's password file."""

    username: str
    password: str


@dataclass(frozen=True)
class StackSettings:
    """Connection settings of the running stack, as written to stack.env."""

    mqtt_host: str
    mqtt_port: int
    mqtt_tls_port: int
    mqtt_ca_file: Path
    mqtt_users: dict[str, MqttUser]
    kafka_bootstrap: str
    influx_url: str
    influx_org: str
    influx_bucket: str
    influx_test_bucket: str
    influx_token: str

    def mqtt_user(self, name: str) -> MqttUser:
        """The account of one MQTT user (twin, edge, bridge, harness, guest)."""
        return self.mqtt_users[name]

    @classmethod
    def from_env_file(cls, path: Path) -> StackSettings:
        """Parse KEY=VALUE lines."""
        values: dict[str, str] = {}
        for line in path.read_text().splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                key, _, value = line.partition("=")
                values[key.strip()] = value.strip()
        users = {
            key.removeprefix("IIOT_MQTT_").removesuffix("_USERNAME").lower(): MqttUser(
                username=value, password=values[key.removesuffix("_USERNAME") + "_PASSWORD"]
            )
            for key, value in values.items()
            if key.startswith("IIOT_MQTT_") and key.endswith("_USERNAME")
        }
        return cls(
            mqtt_host=values["IIOT_MQTT_HOST"],
            mqtt_port=int(values["IIOT_MQTT_PORT"]),
            mqtt_tls_port=int(values["IIOT_MQTT_TLS_PORT"]),
            mqtt_ca_file=Path(values["IIOT_MQTT_CA_FILE"]),
            mqtt_users=users,
            kafka_bootstrap=values["IIOT_KAFKA_BOOTSTRAP"],
            influx_url=values["IIOT_INFLUX_URL"],
            influx_org=values["IIOT_INFLUX_ORG"],
            influx_bucket=values["IIOT_INFLUX_BUCKET"],
            influx_test_bucket=values.get("IIOT_INFLUX_TEST_BUCKET", values["IIOT_INFLUX_BUCKET"]),
            influx_token=values["IIOT_INFLUX_TOKEN"],
        )
