"""The gate: logs people in and out and says who a request is, from a cookie or a bearer token.

Glue between the pure rules (:mod:`cloud.dashboard.auth`) and the users file
(:mod:`cloud.dashboard.users`); the web adapter passes strings in and gets a :class:`Principal` out.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from cloud.dashboard.auth import (
    ROLE_PERMISSIONS,
    LoginThrottle,
    Principal,
    RevokedSessions,
    SessionClaims,
    TokenSigner,
)
from cloud.dashboard.errors import BadCredentials, SessionInvalid
from cloud.dashboard.schemas import SessionInfo
from cloud.dashboard.users import UserStore


@dataclass(frozen=True, slots=True)
class Login:
    """A successful login: the cookie value and what it grants."""

    token: str
    claims: SessionClaims
    principal: Principal


class Gate:
    """Sessions and API tokens for one server."""

    def __init__(
        self,
        users: UserStore,
        signer: TokenSigner,
        *,
        session_ttl_ms: int = 8 * 3_600_000,
        throttle: LoginThrottle | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.users = users
        self.signer = signer
        self.session_ttl_ms = session_ttl_ms
        self.throttle = throttle or LoginThrottle()
        self.revoked = RevokedSessions()
        self.clock = clock

    def _now(self) -> int:
        return int(self.clock() * 1000)

    async def login(self, name: str, password: str) -> Login:
        """Check the password (argon2id, in a worker thread) and open a session."""
        now = self._now()
        self.throttle.check(name, now)
        try:
            principal = await asyncio.to_thread(self.users.authenticate, name, password)
        except BadCredentials:
            self.throttle.failed(name, self._now())
            raise
        self.throttle.succeeded(name)
        token, claims = self.signer.issue(principal.name, now, self.session_ttl_ms)
        return Login(token, claims, Principal(principal.name, principal.role, "session", claims.session_id))

    def session(self, token: str | None) -> tuple[Principal, SessionClaims]:
        """The person behind a session cookie, with the role the users file gives them now."""
        now = self._now()
        claims = self.signer.verify(token, now)
        self.revoked.check(claims, now)
        role = self.users.role_of(claims.user)
        if role is None:
            raise SessionInvalid(f"user {claims.user} no longer exists")
        return Principal(claims.user, role, "session", claims.session_id), claims

    def identify(self, cookie: str | None, authorization: str | None) -> Principal:
        """A bearer token (machine client) if one is sent, else the session cookie."""
        if authorization:
            scheme, _, credential = authorization.partition(" ")
            if scheme.lower() != "bearer" or not credential.strip():
                raise SessionInvalid("use 'Authorization: Bearer <token>'")
            return self.users.token_principal(credential.strip())
        return self.session(cookie)[0]

    def logout(self, token: str | None) -> None:
        """Refuse this session from now on (an invalid token is simply ignored)."""
        try:
            claims = self.signer.verify(token, self._now())
        except SessionInvalid:
            return
        self.revoked.revoke(claims)

    def info(self, principal: Principal, claims: SessionClaims | None) -> SessionInfo:
        """What the page needs to know about its user, including the CSRF token."""
        return SessionInfo(
            user=principal.name,
            role=principal.role.value,
            permissions=sorted(p.value for p in ROLE_PERMISSIONS[principal.role]),
            csrf_token=self.signer.csrf_for(principal.session_id) if principal.session_id else "",
            expires_ms=claims.expires_ms if claims else None,
        )
