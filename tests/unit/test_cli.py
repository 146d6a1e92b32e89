"""The `iiot` command: one group per package, loaded lazily."""

from __future__ import annotations

import sys

from click.testing import CliRunner

from iiot.cli import LAZY_COMMANDS, cli


def test_help_lists_every_group() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0, result.output
    for name in ("sim", "edge", "cloud", "models", "demo", "harness"):
        assert name in result.output
    assert set(LAZY_COMMANDS) == {"sim", "edge", "cloud", "models", "demo", "harness"}


def test_help_does_not_import_the_groups() -> None:
    for mod in [m for m in sys.modules if m.split(".")[0] in {"edge", "cloud", "simulators", "models"}]:
        del sys.modules[mod]
    CliRunner().invoke(cli, ["--help"])
    assert not any(m.split(".")[0] in {"edge", "cloud", "models"} for m in sys.modules)


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-group"])
    assert result.exit_code == 2
    assert "No such command" in result.output
