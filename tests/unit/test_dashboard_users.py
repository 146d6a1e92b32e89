"""The users file: argon2id hashes, wrong passwords, API tokens, persistence."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from cloud.dashboard.auth import Role
from cloud.dashboard.errors import BadCredentials, SessionInvalid, UserStoreError
from cloud.dashboard.users import Argon2Params, UserStore

FAST = Argon2Params(time_cost=1, memory_kib=8192, parallelism=1)


def test_passwords_are_stored_as_argon2id(tmp_path: Path) -> None:
    store = UserStore(tmp_path / "users.json", FAST)
    record = store.set_user("olga", Role.OPERATOR, "correct horse")
    assert record.password_hash.startswith("$argon2id$")
    assert "correct horse" not in record.password_hash
    store.save()
    text = (tmp_path / "users.json").read_text()
    assert "correct horse" not in text
    assert stat.S_IMODE((tmp_path / "users.json").stat().st_mode) == 0o600


def test_authenticate(tmp_path: Path) -> None:
    store = UserStore(None, FAST)
    store.set_user("olga", Role.OPERATOR, "correct horse")
    principal = store.authenticate("olga", "correct horse")
    assert (principal.name, principal.role) == ("olga", Role.OPERATOR)


@pytest.mark.parametrize(
    ("name", "password"), [("olga", "wrong horse"), ("olga", ""), ("nobody", "correct horse")]
)
def test_wrong_password_or_unknown_user(name: str, password: str) -> None:
    store = UserStore(None, FAST)
    store.set_user("olga", Role.OPERATOR, "correct horse")
    with pytest.raises(BadCredentials, match="unknown user or wrong password"):
        store.authenticate(name, password)


def test_round_trip_through_the_file(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    store = UserStore(path, FAST)
    store.set_user("olga", Role.OPERATOR, "correct horse")
    store.set_user("ada", Role.ADMIN, "admin password")
    token = store.new_token("scada-1")
    store.save()
    again = UserStore(path, FAST)
    assert again.role_of("olga") is Role.OPERATOR
    assert again.role_of("ada") is Role.ADMIN
    assert again.role_of("ghost") is None
    assert again.authenticate("olga", "correct horse").name == "olga"
    client = again.token_principal(token)
    assert (client.name, client.role, client.via) == ("scada-1", Role.VIEWER, "token")
    assert token not in path.read_text()


def test_replacing_a_token_revokes_the_old_one() -> None:
    store = UserStore(None, FAST)
    old = store.new_token("scada-1")
    new = store.new_token("scada-1")
    assert store.token_principal(new).name == "scada-1"
    with pytest.raises(SessionInvalid):
        store.token_principal(old)


@pytest.mark.parametrize("name", ["", "a b", "x" * 65, "olga/../../etc", "ölga"])
def test_bad_names(name: str) -> None:
    with pytest.raises(UserStoreError):
        UserStore(None, FAST).set_user(name, Role.VIEWER, "long enough")


def test_short_password_is_refused() -> None:
    with pytest.raises(UserStoreError, match="at least"):
        UserStore(None, FAST).set_user("olga", Role.VIEWER, "short")


def test_malformed_file(tmp_path: Path) -> None:
    path = tmp_path / "users.json"
    path.write_text(json.dumps({"users": {"olga": {"role": "emperor", "hash": "x"}}}))
    with pytest.raises(UserStoreError, match="cannot read"):
        UserStore(path, FAST)
