"""The dashboard's HTTP API through FastAPI's TestClient: login, sessions, forged actions, shapes, OpenAPI."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from cloud.bridge.edge_feed import EdgeNodeScript
from cloud.dashboard.auth import Role
from cloud.dashboard.embedded_link import MemoryLink, ObservedRunner
from cloud.dashboard.schemas import (
    AlertList,
    Defects,
    Fleet,
    MachineDetail,
    MachineList,
    Overview,
    SessionInfo,
)
from cloud.dashboard.server import Dashboard, build, user_store
from cloud.dashboard.settings import DashboardSettings
from cloud.dashboard.web import LOGIN_CSRF_COOKIE, SESSION_COOKIE, STATIC
from cloud.pipeline import PipelineCore
from cloud.processing.processor import Processor
from cloud.storage.base import open_storage

PASSWORDS = {"olga": "olga-operator-pw", "vera": "vera-viewer-pw", "ada": "ada-admin-pw"}


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[Dashboard, ObservedRunner, str]]:
    """A dashboard linked to an embedded runner that has raised one critical alert on m1; and a token."""
    settings = DashboardSettings(
        dashboard_storage_url=f"sqlite:///{tmp_path / 'cloud.db'}",
        dashboard_link="memory",
        dashboard_users_file=str(tmp_path / "users.json"),
        dashboard_secret_file=str(tmp_path / "secret"),
        dashboard_argon2_time_cost=1,
        dashboard_argon2_memory_kib=8192,
        dashboard_argon2_parallelism=1,
        dashboard_cache_ttl="50ms",
    )
    store = user_store(settings)
    store.set_user("olga", Role.OPERATOR, PASSWORDS["olga"])
    store.set_user("vera", Role.VIEWER, PASSWORDS["vera"])
    store.set_user("ada", Role.ADMIN, PASSWORDS["ada"])
    token = store.new_token("scada-1")
    store.save()
    storage = open_storage(settings.dashboard_storage_url)
    link = MemoryLink()
    runner = ObservedRunner(PipelineCore(Processor(settings.processing_config())), storage, link)
    node = EdgeNodeScript("plant", "edge1", {"m1": _values(0.1), "m2": _values(0.1)})
    t0 = int(time.time() * 1000) - 120_000
    messages = node.birth(t0)
    for i in range(1, 20):
        messages.append(node.data("m1", _values(0.1 if i < 10 else 0.97, 40.0 + i), t0 + i * 5000))
        messages.append(node.data("m2", _values(0.1), t0 + i * 5000))
    runner.handle(messages, t0 + 100_000)
    dashboard = build(settings, link=(link, link), storage=storage)
    try:
        yield dashboard, runner, token
    finally:
        storage.close()


def _values(p: float, temperature: float = 40.0) -> dict[str, float | str]:
    return {
        "temperature": temperature,
        "vibration": 1.5,
        "prediction/fault_probability": p,
        "prediction/fault_type": "bearing" if p > 0.5 else "normal",
        "prediction/rul_s": 7200.0,
        "prediction/line_id": "L1",
    }


def login(client: TestClient, user: str, password: str | None = None) -> Any:
    """Log in through the login page's double-submit cookie; returns the response."""
    client.get("/login")
    return client.post(
        "/api/v1/login",
        json={"username": user, "password": password if password is not None else PASSWORDS[user]},
        headers={"X-CSRF-Token": client.cookies.get(LOGIN_CSRF_COOKIE) or ""},
    )


def session(client: TestClient, user: str) -> SessionInfo:
    response = login(client, user)
    assert response.status_code == 200, response.text
    return SessionInfo.model_validate(response.json())


def first_alert(client: TestClient) -> dict[str, Any]:
    alerts = client.get("/api/v1/alerts").json()["alerts"]
    assert alerts
    return dict(alerts[0])


# ----------------------------------------------------------------------------- login and sessions


def test_login_sets_a_strict_httponly_cookie(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    with TestClient(setup[0].app) as client:
        response = login(client, "olga")
        assert response.status_code == 200
        info = SessionInfo.model_validate(response.json())
        assert (info.user, info.role, info.permissions) == ("olga", "operator", ["act", "view"])
        cookie = response.headers["set-cookie"]
        assert f"{SESSION_COOKIE}=" in cookie
        assert "HttpOnly" in cookie
        assert "SameSite=strict" in cookie or "samesite=strict" in cookie.lower()
        assert client.get("/api/v1/session").json()["csrf_token"] == info.csrf_token


@pytest.mark.parametrize(
    ("user", "password"), [("olga", "wrong-password"), ("nobody", "whatever-pw"), ("olga", "")]
)
def test_wrong_password_is_401(
    setup: tuple[Dashboard, ObservedRunner, str], user: str, password: str
) -> None:
    with TestClient(setup[0].app) as client:
        response = login(client, user, password)
        assert response.status_code in (401, 422)
        assert SESSION_COOKIE not in client.cookies
        assert client.get("/api/v1/alerts").status_code == 401


def test_login_without_its_csrf_cookie_is_refused(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    with TestClient(setup[0].app) as client:
        response = client.post("/api/v1/login", json={"username": "olga", "password": PASSWORDS["olga"]})
        assert response.status_code == 403


def test_repeated_failures_lock_the_name(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    with TestClient(setup[0].app) as client:
        for _ in range(5):
            assert login(client, "olga", "wrong-password").status_code == 401
        response = login(client, "olga")
        assert response.status_code == 401
        assert "too many" in response.json()["detail"]


def test_expired_session_is_401(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    dashboard = setup[0]
    with TestClient(dashboard.app) as client:
        session(client, "olga")
        assert client.get("/api/v1/alerts").status_code == 200
        dashboard.gate.clock = lambda: time.time() + 9 * 3600  # the 8 h shift is over
        response = client.get("/api/v1/alerts")
        assert response.status_code == 401
        assert "expired" in response.json()["detail"]
        assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_tampered_cookie_is_401(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    with TestClient(setup[0].app) as client:
        session(client, "vera")
        token = client.cookies.get(SESSION_COOKIE) or ""
        version, payload, mac = token.split(".")
        client.cookies.set(SESSION_COOKIE, f"{version}.{payload}x.{mac}")
        assert client.get("/api/v1/alerts").status_code == 401


def test_logout_revokes_the_session(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    with TestClient(setup[0].app) as client:
        info = session(client, "olga")
        token = client.cookies.get(SESSION_COOKIE) or ""
        assert client.post("/api/v1/logout", headers={"X-CSRF-Token": info.csrf_token}).status_code == 204
        client.cookies.set(SESSION_COOKIE, token)  # a copy of the old cookie does not work either
        assert client.get("/api/v1/alerts").status_code == 401


# ----------------------------------------------------------------------------- actions


def test_operator_ack_travels_through_the_pipeline(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    dashboard, _, _ = setup
    with TestClient(dashboard.app) as client:
        info = session(client, "olga")
        alert = first_alert(client)
        assert alert["state"] == "active"
        assert "ack" in alert["actions"]
        response = client.post(
            f"/api/v1/alerts/{alert['alert_id']}/actions",
            json={"action": "ack"},
            headers={"X-CSRF-Token": info.csrf_token},
        )
        assert response.status_code == 202, response.text
        assert response.json()["who"] == "olga"
        stored = dashboard.service.storage.alerts(open_only=True)[0]
        assert stored.state.value == "acknowledged"
        assert stored.history[-1].who == "olga"
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            listed = client.get("/api/v1/alerts?state=acknowledged").json()
            if listed["total"]:
                break
            time.sleep(0.05)
        assert listed["alerts"][0]["alert_id"] == alert["alert_id"]
        revisions = client.get(f"/api/v1/alerts/{alert['alert_id']}").json()["revisions"]
        assert [r["state"] for r in revisions][-1] == "acknowledged"


def _post_action(
    client: TestClient, alert_id: str, headers: dict[str, str], body: dict[str, Any] | None = None
) -> Any:
    return client.post(f"/api/v1/alerts/{alert_id}/actions", json=body or {"action": "ack"}, headers=headers)


def test_action_without_csrf_token_is_403(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    with TestClient(setup[0].app) as client:
        session(client, "olga")
        alert_id = first_alert(client)["alert_id"]
        assert _post_action(client, alert_id, {}).status_code == 403
        assert _post_action(client, alert_id, {"X-CSRF-Token": "forged"}).status_code == 403
        assert setup[0].service.storage.alerts()[0].state.value == "active"


def test_csrf_token_of_another_session_is_403(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    with TestClient(setup[0].app) as other, TestClient(setup[0].app) as client:
        theirs = session(other, "ada")
        session(client, "olga")
        alert_id = first_alert(client)["alert_id"]
        assert _post_action(client, alert_id, {"X-CSRF-Token": theirs.csrf_token}).status_code == 403


def test_viewer_cannot_act(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    with TestClient(setup[0].app) as client:
        info = session(client, "vera")
        alert = first_alert(client)
        assert alert["state"] == "active"
        response = _post_action(client, alert["alert_id"], {"X-CSRF-Token": info.csrf_token})
        assert response.status_code == 403
        assert response.json()["error"] == "RoleForbidden"
        assert setup[0].service.storage.alerts()[0].state.value == "active"


def test_bearer_token_reads_but_cannot_act(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    dashboard, _, token = setup
    with TestClient(dashboard.app) as client:
        auth = {"Authorization": f"Bearer {token}"}
        listed = client.get("/api/v1/alerts?state=active", headers=auth)
        assert listed.status_code == 200
        alert_id = listed.json()["alerts"][0]["alert_id"]
        assert _post_action(client, alert_id, auth).status_code == 403
        assert (
            client.get("/api/v1/alerts", headers={"Authorization": "Bearer iiot_forged"}).status_code == 401
        )
        assert client.get("/api/v1/alerts", headers={"Authorization": "Basic b2xnYTp4"}).status_code == 401


def test_unauthenticated_action_is_401(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    with TestClient(setup[0].app) as client:
        assert _post_action(client, "0123abcd", {}).status_code == 401


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"action": "unshelve"}, 409),  # not shelved
        ({"action": "note", "note": "   "}, 409),
        ({"action": "shelve"}, 409),  # needs a duration
        ({"action": "shelve", "shelve_minutes": 0}, 422),
        ({"action": "explode"}, 422),
        ({"action": "note", "note": "x" * 501}, 422),
    ],
)
def test_invalid_actions(
    setup: tuple[Dashboard, ObservedRunner, str], body: dict[str, Any], status: int
) -> None:
    with TestClient(setup[0].app) as client:
        info = session(client, "olga")
        alert_id = first_alert(client)["alert_id"]
        assert _post_action(client, alert_id, {"X-CSRF-Token": info.csrf_token}, body).status_code == status


def test_action_on_unknown_alert_is_404(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    with TestClient(setup[0].app) as client:
        info = session(client, "olga")
        assert (
            _post_action(client, "ffffffffffffffffffff", {"X-CSRF-Token": info.csrf_token}).status_code == 404
        )


# ----------------------------------------------------------------------------- shapes


def test_api_shapes(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    dashboard, _, token = setup
    with TestClient(dashboard.app) as client:
        auth = {"Authorization": f"Bearer {token}"}
        alerts = AlertList.model_validate_json(
            client.get("/api/v1/alerts?state=active", headers=auth).content
        )
        assert alerts.state == "active"
        assert alerts.by_severity["critical"] == 1
        assert alerts.alerts[0].machine_id == "m1"
        machines = MachineList.model_validate_json(client.get("/api/v1/machines", headers=auth).content)
        by_id = {m.machine_id: m for m in machines.machines}
        assert set(by_id) == {"m1", "m2"}
        assert (by_id["m1"].health.level, by_id["m1"].health.label, by_id["m1"].health.shape) == (
            "critical",
            "CRITICAL",
            "octagon",
        )
        assert by_id["m2"].health.level == "ok"
        assert by_id["m1"].rul_text == "2 h 0 min"
        detail = MachineDetail.model_validate_json(client.get("/api/v1/machines/m1", headers=auth).content)
        assert detail.prediction.enter == 0.8
        assert detail.prediction.exit == 0.6
        assert detail.prediction.points[-1][1] == pytest.approx(0.97)
        assert {t.metric for t in detail.trends} == {"temperature", "vibration"}
        assert detail.alerts[0].severity == "critical"
        overview = Overview.model_validate_json(client.get("/api/v1/overview", headers=auth).content)
        assert [line.line_id for line in overview.lines] == ["L1"]
        fleet = Fleet.model_validate_json(client.get("/api/v1/fleet", headers=auth).content)
        assert [(n.edge_node, n.status) for n in fleet.nodes] == [("edge1", "online")]
        Defects.model_validate_json(client.get("/api/v1/defects", headers=auth).content)
        assert client.get("/api/v1/machines/nope", headers=auth).status_code == 404
        assert client.get("/api/v1/alerts?state=bogus", headers=auth).status_code == 422
        assert client.get("/api/v1/users", headers=auth).status_code == 403


def test_etag_and_not_modified(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    dashboard, _, token = setup
    with TestClient(dashboard.app) as client:
        auth = {"Authorization": f"Bearer {token}"}
        first = client.get("/api/v1/alerts", headers=auth)
        again = client.get("/api/v1/alerts", headers={**auth, "If-None-Match": first.headers["etag"]})
        assert again.status_code == 304


def test_security_headers(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    with TestClient(setup[0].app) as client:
        response = client.get("/login")
        assert "default-src 'self'" in response.headers["content-security-policy"]
        assert response.headers["x-content-type-options"] == "nosniff"


def test_admin_lists_users(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    with TestClient(setup[0].app) as client:
        session(client, "ada")
        listed = client.get("/api/v1/users").json()
        assert {u["name"]: u["role"] for u in listed["users"]} == {
            "olga": "operator",
            "vera": "viewer",
            "ada": "admin",
        }
        assert listed["api_tokens"] == ["scada-1"]


def test_openapi_documents_the_endpoints(setup: tuple[Dashboard, ObservedRunner, str]) -> None:
    with TestClient(setup[0].app) as client:
        spec = client.get("/openapi.json").json()
        paths = spec["paths"]
        for path in (
            "/api/v1/alerts",
            "/api/v1/alerts/{alert_id}",
            "/api/v1/alerts/{alert_id}/actions",
            "/api/v1/machines",
            "/api/v1/machines/{machine_id}",
            "/api/v1/fleet",
            "/api/v1/defects",
            "/api/v1/overview",
            "/api/v1/events",
            "/api/v1/login",
        ):
            assert path in paths, path
        assert "post" in paths["/api/v1/alerts/{alert_id}/actions"]
        ok = paths["/api/v1/alerts"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert ok["$ref"].endswith("/AlertList")
        assert [p["name"] for p in paths["/api/v1/alerts"]["get"]["parameters"]] == ["state"]
        for schema in ("AlertList", "MachineList", "MachineDetail", "Fleet", "Defects", "ActionBody"):
            assert schema in spec["components"]["schemas"]
        assert client.get("/api").status_code == 200
        assert client.get("/docs").status_code == 404  # Swagger UI would load from a CDN


def test_static_assets_load_nothing_from_elsewhere() -> None:
    for path in STATIC.iterdir():
        text = path.read_text(encoding="utf-8")
        found = [
            u for u in re.findall(r"https?://[^\s\"'<>)]+", text) if not u.startswith("http://www.w3.org/")
        ]
        assert found == [], f"{path.name} references {found}"
