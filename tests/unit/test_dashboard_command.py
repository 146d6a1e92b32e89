"""`iiot cloud dashboard` users: --create-user asks for a password, --create-token prints it once."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from click.testing import CliRunner

from cloud.dashboard.command import dashboard_command
from cloud.dashboard.users import Argon2Params, UserStore


def test_create_user_and_token(tmp_path: Path) -> None:
    users = tmp_path / "users.json"
    env = {"IIOT_DASHBOARD_USERS_FILE": str(users), "IIOT_DASHBOARD_ARGON2_MEMORY_KIB": "8192"}
    made = CliRunner().invoke(
        dashboard_command,
        ["--create-user", "olga", "--role", "operator"],
        input="secret-pass\nsecret-pass\n",
        env=env,
    )
    assert made.exit_code == 0, made.output
    assert "secret-pass" not in users.read_text()
    assert stat.S_IMODE(users.stat().st_mode) == 0o600
    issued = CliRunner().invoke(dashboard_command, ["--create-token", "scada-1"], env=env)
    assert issued.exit_code == 0, issued.output
    token = issued.output.strip().splitlines()[-1]
    store = UserStore(users, Argon2Params(memory_kib=8192))
    assert store.authenticate("olga", "secret-pass").role.value == "operator"
    assert store.token_principal(token).name == "scada-1"
    assert set(json.loads(users.read_text())) == {"users", "api_tokens"}


def test_short_password_is_refused(tmp_path: Path) -> None:
    env = {"IIOT_DASHBOARD_USERS_FILE": str(tmp_path / "users.json")}
    result = CliRunner().invoke(dashboard_command, ["--create-user", "olga"], input="short\nshort\n", env=env)
    assert result.exit_code != 0
    assert "at least" in result.output
