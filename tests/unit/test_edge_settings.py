"""AgentSettings: edge.yaml, IIOT_EDGE_* overrides, discriminated sources, help for every field."""

from __future__ import annotations

from pathlib import Path

import pytest

from edge.errors import ConfigError
from edge.settings import AgentSettings, OpenCVSourceSettings, TwinSourceSettings, describe, load_settings

ROOT = Path(__file__).resolve().parents[2]

YAML = """
group_id: plant
edge_node_id: edge-7
mqtt: {host: broker, port: 8883, tls: true, username: edge, password: s3cret, primary_host_id: scada}
sources:
  - {kind: twin, site_id: site-1, line_ids: [line-a]}
  - {kind: opencv, camera_id: cam-1, line_id: line-a, uri: "nvarguscamerasrc ! appsink"}
fault: {manifest: models/artifacts/fault/fault.manifest.json, tick_s: 2}
"""


def test_yaml_then_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(YAML)
    monkeypatch.setenv("IIOT_EDGE_MQTT__HOST", "override")
    monkeypatch.setenv("IIOT_EDGE_OUTBOX__MAX_BYTES", "1024")
    settings = load_settings(path)
    assert settings.edge_node_id == "edge-7"
    assert settings.mqtt.host == "override"  # the environment wins over the file
    assert settings.mqtt.port == 8883
    assert settings.mqtt.tls
    assert settings.mqtt.password is not None
    assert settings.mqtt.password.get_secret_value() == "s3cret"
    assert settings.outbox.max_bytes == 1024
    twin, camera = settings.sources
    assert isinstance(twin, TwinSourceSettings)
    assert twin.line_ids == ("line-a",)
    assert isinstance(camera, OpenCVSourceSettings)
    assert camera.camera_id == "cam-1"
    assert settings.fault is not None
    assert settings.fault.tick_s == 2
    assert settings.client_id == "plant-edge-7"
    assert "s3cret" not in str(settings.model_dump(mode="json"))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("edge_node_id: 'a/b'", "edge_node_id"),
        ("mqtt: {port: 0}", "port"),
        ("sources: [{kind: plc}]", "kind"),
        ("unknown_key: 1", "unknown_key"),
        ("- just a list", "mapping"),
    ],
)
def test_bad_settings_say_what_is_wrong(tmp_path: Path, text: str, fragment: str) -> None:
    path = tmp_path / "edge.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=fragment):
        load_settings(path)


def test_every_field_has_help_and_an_environment_variable() -> None:
    rows = dict(describe())
    assert "IIOT_EDGE_MQTT__PRIMARY_HOST_ID" in rows
    assert "IIOT_EDGE_OUTBOX__MAX_AGE_S" in rows
    assert all(help_text for help_text in rows.values())


def test_shipped_jetson_example_loads() -> None:
    settings = load_settings(ROOT / "deploy" / "jetson" / "edge.yaml")
    assert isinstance(settings, AgentSettings)
    assert settings.detector is not None
    assert settings.fault is not None
