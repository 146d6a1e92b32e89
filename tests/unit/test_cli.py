"""The `iiot` command: one group per package, loaded lazily."""

from __future__ import annotations

import subprocess
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
    # In a fresh interpreter: dropping modules from this one would break later tests' isinstance checks.
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from iiot.cli import cli\n"
        "CliRunner().invoke(cli, ['--help'])\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'edge', 'cloud', 'models', 'torch'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["no-such-group"])
    assert result.exit_code == 2
    assert "No such command" in result.output
