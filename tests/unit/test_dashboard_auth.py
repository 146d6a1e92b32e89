"""Dashboard access rules, pure: roles, signed session tokens, CSRF tokens, logout, login throttling."""

from __future__ import annotations

import pytest

from cloud.dashboard.auth import (
    ROLE_PERMISSIONS,
    LoginThrottle,
    Permission,
    Principal,
    RevokedSessions,
    Role,
    TokenSigner,
    _b64,
    _unb64,
    check_double_submit,
    hash_api_token,
    new_api_token,
    require,
)
from cloud.dashboard.errors import BadCredentials, CsrfRejected, RoleForbidden, SessionInvalid

KEY = b"k" * 32
NOW = 1_700_000_000_000
HOUR = 3_600_000


@pytest.mark.parametrize(
    ("role", "permission", "allowed"),
    [
        (Role.VIEWER, Permission.VIEW, True),
        (Role.VIEWER, Permission.ACT, False),
        (Role.VIEWER, Permission.ADMIN, False),
        (Role.OPERATOR, Permission.VIEW, True),
        (Role.OPERATOR, Permission.ACT, True),
        (Role.OPERATOR, Permission.ADMIN, False),
        (Role.ADMIN, Permission.VIEW, True),
        (Role.ADMIN, Permission.ACT, True),
        (Role.ADMIN, Permission.ADMIN, True),
    ],
)
def test_role_permissions(role: Role, permission: Permission, allowed: bool) -> None:
    principal = Principal("someone", role)
    assert principal.may(permission) is allowed
    if allowed:
        require(principal, permission)
    else:
        with pytest.raises(RoleForbidden):
            require(principal, permission)


def test_every_role_has_a_permission_set() -> None:
    assert set(ROLE_PERMISSIONS) == set(Role)


def test_session_token_round_trip() -> None:
    signer = TokenSigner(KEY)
    token, claims = signer.issue("olga", NOW, HOUR)
    assert token.startswith("v1.")
    assert signer.verify(token, NOW + HOUR - 1) == claims
    assert claims.user == "olga"
    assert claims.expires_ms == NOW + HOUR


def test_two_sessions_have_different_ids() -> None:
    signer = TokenSigner(KEY)
    assert signer.issue("olga", NOW, HOUR)[1].session_id != signer.issue("olga", NOW, HOUR)[1].session_id


def test_expired_token_is_refused() -> None:
    signer = TokenSigner(KEY)
    token, _ = signer.issue("olga", NOW, HOUR)
    with pytest.raises(SessionInvalid, match="expired"):
        signer.verify(token, NOW + HOUR)


def _tamper_payload(token: str) -> str:
    version, payload, mac = token.split(".")
    body = _unb64(payload).replace(b'"olga"', b'"admin"')
    return f"{version}.{_b64(body)}.{mac}"


def _extend_expiry(token: str) -> str:
    version, payload, mac = token.split(".")
    body = _unb64(payload).replace(str(NOW + HOUR).encode(), str(NOW + 100 * HOUR).encode())
    return f"{version}.{_b64(body)}.{mac}"


@pytest.mark.parametrize(
    "forge",
    [
        pytest.param(_tamper_payload, id="other-user"),
        pytest.param(_extend_expiry, id="longer-expiry"),
        pytest.param(lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), id="changed-mac"),
        pytest.param(lambda t: t.rsplit(".", 1)[0], id="no-mac"),
        pytest.param(lambda t: "v2" + t[2:], id="other-version"),
        pytest.param(lambda t: TokenSigner(b"x" * 32).issue("olga", NOW, HOUR)[0], id="other-key"),
        pytest.param(lambda t: "", id="empty"),
        pytest.param(lambda t: "v1.%%%.$$$", id="garbage"),
    ],
)
def test_tampered_tokens_are_refused(forge: object) -> None:
    signer = TokenSigner(KEY)
    token, _ = signer.issue("olga", NOW, HOUR)
    forged = forge(token)  # type: ignore[operator]
    with pytest.raises(SessionInvalid):
        signer.verify(forged, NOW)


def test_short_key_is_refused() -> None:
    with pytest.raises(ValueError, match="16 bytes"):
        TokenSigner(b"short")


def test_csrf_token_belongs_to_its_session() -> None:
    signer = TokenSigner(KEY)
    _, mine = signer.issue("olga", NOW, HOUR)
    _, theirs = signer.issue("otto", NOW, HOUR)
    signer.check_csrf(mine.session_id, signer.csrf_for(mine.session_id))
    for sent in (None, "", "nonsense", signer.csrf_for(theirs.session_id)):
        with pytest.raises(CsrfRejected):
            signer.check_csrf(mine.session_id, sent)


@pytest.mark.parametrize(
    ("cookie", "sent", "ok"),
    [
        ("abc", "abc", True),
        ("abc", "abd", False),
        ("", "", False),
        (None, "abc", False),
        ("abc", None, False),
    ],
)
def test_login_double_submit(cookie: str | None, sent: str | None, ok: bool) -> None:
    if ok:
        check_double_submit(cookie, sent)
    else:
        with pytest.raises(CsrfRejected):
            check_double_submit(cookie, sent)


def test_logout_revokes_until_expiry() -> None:
    signer = TokenSigner(KEY)
    _, claims = signer.issue("olga", NOW, HOUR)
    revoked = RevokedSessions()
    revoked.check(claims, NOW)
    revoked.revoke(claims)
    with pytest.raises(SessionInvalid, match="logged out"):
        revoked.check(claims, NOW + 1)


def test_login_throttle_locks_then_forgives() -> None:
    throttle = LoginThrottle(attempts=3, lockout_ms=30_000)
    for i in range(3):
        throttle.check("olga", NOW + i)
        throttle.failed("olga", NOW + i)
    with pytest.raises(BadCredentials, match="too many"):
        throttle.check("olga", NOW + 10)
    throttle.check("otto", NOW + 10)  # other names are not affected
    throttle.check("olga", NOW + 2 + 30_000)  # the pause is over
    throttle.succeeded("olga")
    assert "olga" not in throttle.failures


def test_api_tokens_are_random_and_hashed() -> None:
    a, b = new_api_token(), new_api_token()
    assert a != b
    assert a.startswith("iiot_")
    assert len(a) > 40
    assert hash_api_token(a) != a
    assert len(hash_api_token(a)) == 64
