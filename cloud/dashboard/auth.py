"""Access rules as pure code: roles and permissions, signed session tokens, CSRF tokens, login throttling.

Why this shape: the web adapter only extracts strings (cookie, header, bearer) and passes the current
time in; everything that decides *who* and *may they* lives here and is tested without a server.

* A session token is ``v1.<payload>.<mac>``: base64url JSON ``{"u": user, "s": session id, "e": expiry
  ms}`` and an HMAC-SHA256 over it with the server key. It travels only in an HttpOnly, SameSite=Strict
  cookie. Logout revokes the session id server-side until the token would have expired anyway.
* The CSRF token is a synchronizer token derived from the session id (HMAC with a distinct label),
  handed to the page by ``GET /api/v1/session`` and required in ``X-CSRF-Token`` on every POST.
  The login POST, which has no session yet, uses a double-submit cookie instead.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Literal

from cloud.dashboard.errors import BadCredentials, CsrfRejected, RoleForbidden, SessionInvalid

TOKEN_VERSION = "v1"


class Role(StrEnum):
    """What a user may do, from least to most."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"


class Permission(StrEnum):
    """One thing a role may do."""

    VIEW = "view"
    ACT = "act"  # acknowledge, note, shelve, clear alerts
    ADMIN = "admin"  # list users and tokens


ROLE_PERMISSIONS: Mapping[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.VIEW}),
    Role.OPERATOR: frozenset({Permission.VIEW, Permission.ACT}),
    Role.ADMIN: frozenset({Permission.VIEW, Permission.ACT, Permission.ADMIN}),
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a logged-in person (session) or a machine client (API token)."""

    name: str
    role: Role
    via: Literal["session", "token"] = "session"
    session_id: str = ""

    def may(self, permission: Permission) -> bool:
        """Whether the role grants the permission."""
        return permission in ROLE_PERMISSIONS[self.role]


def require(principal: Principal, permission: Permission) -> None:
    """Raise :class:`RoleForbidden` unless the principal's role grants the permission."""
    if not principal.may(permission):
        raise RoleForbidden(f"{principal.name} ({principal.role.value}) may not {permission.value}")


@dataclass(frozen=True, slots=True)
class SessionClaims:
    """What a valid session token says."""

    user: str
    session_id: str
    expires_ms: int


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Issues and verifies session tokens and their CSRF tokens with one server key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the signing key needs at least 16 bytes")
        self._key = key

    def _mac(self, label: str, data: bytes) -> bytes:
        return hmac.new(self._key, label.encode() + b"\x00" + data, hashlib.sha256).digest()

    def issue(self, user: str, now_ms: int, ttl_ms: int) -> tuple[str, SessionClaims]:
        """A new session for ``user`` valid for ``ttl_ms``."""
        claims = SessionClaims(user, secrets.token_urlsafe(16), now_ms + ttl_ms)
        body = json.dumps(
            {"u": claims.user, "s": claims.session_id, "e": claims.expires_ms}, separators=(",", ":")
        )
        payload = _b64(body.encode())
        return f"{TOKEN_VERSION}.{payload}.{_b64(self._mac('session', payload.encode()))}", claims

    def verify(self, token: str | None, now_ms: int) -> SessionClaims:
        """The claims of a genuine, unexpired token; :class:`SessionInvalid` otherwise."""
        if not token:
            raise SessionInvalid("not logged in")
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != TOKEN_VERSION:
            raise SessionInvalid("malformed session token")
        _, payload, mac = parts
        try:
            given = _unb64(mac)
        except ValueError as exc:
            raise SessionInvalid("malformed session token") from exc
        if not hmac.compare_digest(given, self._mac("session", payload.encode())):
            raise SessionInvalid("session token signature does not match")
        try:
            body = json.loads(_unb64(payload))
            claims = SessionClaims(str(body["u"]), str(body["s"]), int(body["e"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise SessionInvalid("malformed session token") from exc
        if now_ms >= claims.expires_ms:
            raise SessionInvalid("session expired, log in again")
        return claims

    def csrf_for(self, session_id: str) -> str:
        """The anti-forgery token of one session."""
        return _b64(self._mac("csrf", session_id.encode()))

    def check_csrf(self, session_id: str, sent: str | None) -> None:
        """Raise :class:`CsrfRejected` unless ``sent`` is this session's CSRF token."""
        if not sent or not hmac.compare_digest(sent.encode(), self.csrf_for(session_id).encode()):
            raise CsrfRejected("missing or wrong CSRF token")


def check_double_submit(cookie: str | None, sent: str | None) -> None:
    """Raise :class:`CsrfRejected` unless the header repeats the (non-empty) CSRF cookie."""
    if not cookie or not sent or not hmac.compare_digest(cookie.encode(), sent.encode()):
        raise CsrfRejected("missing or wrong login CSRF token")


def hash_api_token(token: str) -> str:
    """The stored form of an API token (random and long, so a plain SHA-256 suffices)."""
    return hashlib.sha256(token.encode()).hexdigest()


def new_api_token() -> str:
    """A fresh bearer token for a machine client."""
    return "iiot_" + secrets.token_urlsafe(32)


@dataclass(slots=True)
class RevokedSessions:
    """Session ids logged out before their expiry; forgotten once they would have expired."""

    until: dict[str, int] = field(default_factory=dict)

    def revoke(self, claims: SessionClaims) -> None:
        """Refuse this session from now on."""
        self.until[claims.session_id] = claims.expires_ms

    def check(self, claims: SessionClaims, now_ms: int) -> None:
        """Raise :class:`SessionInvalid` if the session was logged out."""
        if len(self.until) > 1024:
            self.until = {s: e for s, e in self.until.items() if e > now_ms}
        if claims.session_id in self.until:
            raise SessionInvalid("logged out")


@dataclass(slots=True)
class LoginThrottle:
    """After ``attempts`` failures in a row a user name is refused for ``lockout_ms``."""

    attempts: int = 5
    lockout_ms: int = 30_000
    failures: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (count, last failure ms)

    def check(self, name: str, now_ms: int) -> None:
        """Raise :class:`BadCredentials` while the name is locked out."""
        count, last = self.failures.get(name, (0, 0))
        if count >= self.attempts and now_ms - last < self.lockout_ms:
            raise BadCredentials("too many failed logins, wait and try again")

    def failed(self, name: str, now_ms: int) -> None:
        """Count one failure."""
        count, last = self.failures.get(name, (0, 0))
        if count >= self.attempts and now_ms - last >= self.lockout_ms:
            count = 0
        self.failures[name] = (count + 1, now_ms)

    def succeeded(self, name: str) -> None:
        """Forget the failures of a name."""
        self.failures.pop(name, None)
