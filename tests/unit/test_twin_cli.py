"""The `iiot sim` commands."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from simulators.cli import group


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(group, ["--help"])
    assert result.exit_code == 0
    for name in ("run", "export-timeseries", "plot", "generate-plant", "export-images", "contact-sheet"):
        assert name in result.output


def test_run_without_mqtt_reports_events() -> None:
    result = CliRunner().invoke(
        group,
        ["run", "--no-mqtt", "--no-cameras", "--speed", "0", "--duration", "70", "--scenario", "demo_faults"],
    )
    assert result.exit_code == 0, result.output
    assert "simulated 70 s" in result.output
    assert "fault_onset spindle-1 bearing_outer" in result.output


def test_plot_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "trace.png"
    result = CliRunner().invoke(
        group,
        ["plot", "--machine", "pump-1", "--duration", "60", "--scenario", "demo_faults", "--out", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"\x89PNG")


def test_bad_plant_is_a_clean_error(tmp_path: Path) -> None:
    bad = tmp_path / "p.yaml"
    bad.write_text("name: x\nsites: []\n")
    result = CliRunner().invoke(group, ["run", "--no-mqtt", "--plant", str(bad), "--duration", "1"])
    assert result.exit_code != 0
    assert "  - sites: Tuple should have at least 1 item" in result.output


def test_generate_plant_round_trips(tmp_path: Path) -> None:
    out = tmp_path / "big.yaml"
    result = CliRunner().invoke(
        group, ["generate-plant", "--machines", "30", "--seed", "2", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    from simulators.plant import load_plant

    assert len(load_plant(out).machine_ids()) == 30
