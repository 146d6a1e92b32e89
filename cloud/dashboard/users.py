"""Users (argon2id password hashes) and machine-client API tokens (SHA-256), kept in one JSON file.

File format (written by ``iiot cloud dashboard --create-user`` / ``--create-token``, mode 0600)::

    {"users": {"alice": {"role": "operator", "hash": "$argon2id$v=19$..."}},
     "api_tokens": {"scada-1": {"role": "viewer", "sha256": "9f86d0..."}}}

API tokens always carry the viewer role: machine clients read, people act.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from cloud.dashboard.auth import Principal, Role, hash_api_token, new_api_token
from cloud.dashboard.errors import BadCredentials, SessionInvalid, UserStoreError

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@-]{1,64}$")
MIN_PASSWORD = 8


@dataclass(frozen=True, slots=True)
class Argon2Params:
    """argon2id cost parameters (RFC 9106's second recommendation by default)."""

    time_cost: int = 3
    memory_kib: int = 65_536
    parallelism: int = 2


@dataclass(frozen=True, slots=True)
class UserRecord:
    """One person who can log in."""

    name: str
    role: Role
    password_hash: str


@dataclass(frozen=True, slots=True)
class TokenRecord:
    """One machine client's API token, stored as its SHA-256."""

    name: str
    role: Role
    sha256: str


def check_name(name: str) -> str:
    """A valid user or token name, or :class:`UserStoreError`."""
    if not NAME_PATTERN.match(name):
        raise UserStoreError(f"name {name!r} must be 1-64 letters, digits or _ . @ -")
    return name


class UserStore:
    """Users and API tokens, loaded from and saved to an optional JSON file."""

    def __init__(self, path: str | Path | None = None, params: Argon2Params | None = None) -> None:
        self.path = Path(path) if path else None
        p = params or Argon2Params()
        self._hasher = PasswordHasher(
            time_cost=p.time_cost, memory_cost=p.memory_kib, parallelism=p.parallelism, type=Type.ID
        )
        self._dummy = self._hasher.hash("not a password of anyone")
        self.users: dict[str, UserRecord] = {}
        self.tokens: dict[str, TokenRecord] = {}
        self._by_digest: dict[str, TokenRecord] = {}
        if self.path is not None and self.path.exists():
            self._load(self.path)

    def _load(self, path: Path) -> None:
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            for name, entry in dict(data.get("users", {})).items():
                self.users[check_name(name)] = UserRecord(name, Role(entry["role"]), str(entry["hash"]))
            for name, entry in dict(data.get("api_tokens", {})).items():
                self._put_token(
                    TokenRecord(check_name(name), Role(entry.get("role", "viewer")), entry["sha256"])
                )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise UserStoreError(f"cannot read users file {path}: {exc}") from exc

    def save(self) -> None:
        """Write the file atomically with mode 0600."""
        if self.path is None:
            raise UserStoreError("no users file configured")
        data: dict[str, Any] = {
            "users": {u.name: {"role": u.role.value, "hash": u.password_hash} for u in self.users.values()},
            "api_tokens": {t.name: {"role": t.role.value, "sha256": t.sha256} for t in self.tokens.values()},
        }
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".users-", dir=self.path.parent)
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(data, out, indent=2, sort_keys=True)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except OSError as exc:
            with contextlib.suppress(OSError, UnboundLocalError):
                os.unlink(tmp)
            raise UserStoreError(f"cannot write users file {self.path}: {exc}") from exc

    # ----------------------------------------------------------------- people

    def set_user(self, name: str, role: Role, password: str) -> UserRecord:
        """Create or replace a user (in memory; call :meth:`save` to persist)."""
        if len(password) < MIN_PASSWORD:
            raise UserStoreError(f"a password needs at least {MIN_PASSWORD} characters")
        record = UserRecord(check_name(name), role, self._hasher.hash(password))
        self.users[name] = record
        return record

    def role_of(self, name: str) -> Role | None:
        """The current role of a user, or None if the user no longer exists."""
        record = self.users.get(name)
        return record.role if record else None

    def authenticate(self, name: str, password: str) -> Principal:
        """The user if the password matches; :class:`BadCredentials` otherwise (same cost either way)."""
        record = self.users.get(name)
        try:
            self._hasher.verify(record.password_hash if record else self._dummy, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError) as exc:
            raise BadCredentials("unknown user or wrong password") from exc
        if record is None:
            raise BadCredentials("unknown user or wrong password")
        return Principal(record.name, record.role)

    # ----------------------------------------------------------------- machine clients

    def _put_token(self, record: TokenRecord) -> None:
        old = self.tokens.get(record.name)
        if old is not None:
            self._by_digest.pop(old.sha256, None)
        self.tokens[record.name] = record
        self._by_digest[record.sha256] = record

    def new_token(self, name: str) -> str:
        """Create (or replace) the viewer token of a machine client; the plain token is returned once."""
        token = new_api_token()
        self._put_token(TokenRecord(check_name(name), Role.VIEWER, hash_api_token(token)))
        return token

    def token_principal(self, token: str) -> Principal:
        """The machine client owning a bearer token, or :class:`SessionInvalid`."""
        record = self._by_digest.get(hash_api_token(token))
        if record is None:
            raise SessionInvalid("unknown API token")
        return Principal(record.name, record.role, via="token")
