"""`iiot cloud` commands and the typed settings behind them."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from cloud.cli import group
from cloud.errors import ConfigError
from cloud.processing.windows import WindowSpec
from cloud.settings import BridgeSettings, EmbeddedSettings, WorkerSettings, parse_windows


def test_group_has_exactly_the_working_commands() -> None:
    assert set(group.commands) == {"bridge", "worker", "embedded", "dashboard"}
    result = CliRunner().invoke(group, ["--help"])
    assert result.exit_code == 0, result.output
    for name in ("bridge", "worker", "embedded", "dashboard"):
        assert name in result.output


@pytest.mark.parametrize("command", ["bridge", "worker", "embedded", "dashboard"])
def test_command_help(command: str) -> None:
    result = CliRunner().invoke(group, [command, "--help"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("text", "specs"),
    [
        ("1m", (WindowSpec(60_000),)),
        ("1m+10s", (WindowSpec(60_000, 60_000, 10_000),)),
        ("5m/1m", (WindowSpec(300_000, 60_000),)),
        (" 10s , 5m/1m+2s ", (WindowSpec(10_000), WindowSpec(300_000, 60_000, 2_000))),
    ],
)
def test_parse_windows(text: str, specs: tuple[WindowSpec, ...]) -> None:
    assert parse_windows(text) == specs


@pytest.mark.parametrize("text", ["", ",", "/1m", "1m/5m", "ten"])
def test_parse_windows_rejects(text: str) -> None:
    with pytest.raises(ConfigError):
        parse_windows(text)


def test_settings_read_the_stack_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("IIOT_MQTT_BRIDGE_USERNAME", "bridge")
    monkeypatch.setenv("IIOT_MQTT_BRIDGE_PASSWORD", "secret")
    monkeypatch.setenv("IIOT_KAFKA_BOOTSTRAP", "10.0.0.1:9092")
    monkeypatch.setenv("IIOT_INFLUX_URL", "http://10.0.0.2:8086")
    monkeypatch.setenv("IIOT_INFLUX_TOKEN", "tok")
    monkeypatch.setenv("IIOT_WINDOWS", "30s")
    bridge = BridgeSettings()
    assert (bridge.mqtt_username, bridge.mqtt_password, bridge.kafka_bootstrap) == (
        "bridge",
        "secret",
        "10.0.0.1:9092",
    )
    worker = WorkerSettings()
    assert worker.storage_url == "http://10.0.0.2:8086"
    assert worker.influx_options().token == "tok"
    assert worker.processing_config().windows == (WindowSpec(30_000),)
    assert EmbeddedSettings().mqtt_options("embedded").client_id.startswith("iiot-embedded-")


def test_processing_settings_build_the_rules() -> None:
    config = WorkerSettings(prediction_enter=0.7, prediction_exit=0.5, defect_window="2m").processing_config()
    assert (config.predictions.default.enter, config.predictions.default.exit) == (0.7, 0.5)
    assert config.defects.limits.window_ms == 120_000
