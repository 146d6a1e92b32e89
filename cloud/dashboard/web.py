"""The web adapter: FastAPI routes for the pages, the JSON API, server-sent events and actions.

Thin by design: each route authenticates (cookie or bearer), checks the permission and, for a
POST, the CSRF token, then calls :class:`DashboardService` and writes its bytes. Hot answers come
encoded from the service's cache with an ETag, so pollers may send ``If-None-Match``.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles

from cloud.dashboard import sse
from cloud.dashboard.auth import Permission, Principal, check_double_submit, require
from cloud.dashboard.cache import CachedBody
from cloud.dashboard.errors import AuthError, DashboardError, SessionInvalid
from cloud.dashboard.gate import Gate
from cloud.dashboard.schemas import (
    ActionAccepted,
    ActionBody,
    AlertList,
    AlertRevisions,
    Defects,
    ErrorBody,
    Fleet,
    LoginBody,
    MachineDetail,
    MachineList,
    Overview,
    SessionInfo,
)
from cloud.dashboard.service import ALERT_STATES, HOT_KEYS, DashboardService, alerts_key, machine_key

STATIC = Path(__file__).parent / "static"
SESSION_COOKIE = "iiot_session"
LOGIN_CSRF_COOKIE = "iiot_login_csrf"
CSRF_HEADER = "x-csrf-token"
ID_PATTERN = r"^[A-Za-z0-9_.~@-]{1,160}$"
ID_RE = re.compile(ID_PATTERN)
CSP = (
    "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; font-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "not logged in, or a bad/expired token"},
    403: {"model": ErrorBody, "description": "role lacks the permission, or CSRF token missing"},
}

AlertStateFilter = Literal["open", "active", "acknowledged", "shelved", "cleared", "all"]
Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class SecurityHeaders:
    """Adds CSP and friends to every response (plain ASGI: no buffering, streams stay streams)."""

    def __init__(self, app: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_with_headers)


class HotPath:
    """Answers GETs of the hot JSON endpoints straight from the cache, skipping routing and dependencies.

    Only when the caller is a valid viewer (or better) and a current entry exists; everything else
    (a miss, a bad token, another path) goes on to the FastAPI routes, which behave identically.
    """

    def __init__(
        self, app: Callable[[Scope, Receive, Send], Awaitable[None]], service: DashboardService, gate: Gate
    ) -> None:
        self.app = app
        self.service = service
        self.gate = gate

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "GET":
            key = hot_key(scope["path"], scope["query_string"])
            entry = self.service.cache.peek(key) if key else None
            if entry is not None and self._may_view(scope["headers"]):
                await self._send(entry, scope["headers"], send)
                return
        await self.app(scope, receive, send)

    def _may_view(self, headers: list[tuple[bytes, bytes]]) -> bool:
        cookie = authorization = None
        for name, value in headers:
            if name == b"authorization":
                authorization = value.decode("latin-1")
            elif name == b"cookie":
                cookie = _cookie(value.decode("latin-1"), SESSION_COOKIE)
        try:
            return self.gate.identify(cookie, authorization).may(Permission.VIEW)
        except DashboardError:
            return False

    @staticmethod
    async def _send(entry: CachedBody, headers: list[tuple[bytes, bytes]], send: Send) -> None:
        etag = entry.etag.encode()
        if any(name == b"if-none-match" and value == etag for name, value in headers):
            await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", etag)]})
            await send({"type": "http.response.body", "body": b""})
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(entry.body)).encode()),
                    (b"etag", etag),
                    (b"cache-control", b"no-cache"),
                ],
            }
        )
        await send({"type": "http.response.body", "body": entry.body})


def hot_key(path: str, query: bytes) -> str | None:
    """The cache key answering a GET of a hot endpoint, or None."""
    if path == "/api/v1/alerts":
        state = "open"
        for part in query.split(b"&"):
            name, _, value = part.partition(b"=")
            if name == b"state":
                state = value.decode("latin-1")
        return alerts_key(state) if state in ALERT_STATES else None
    if path.startswith("/api/v1/machines/"):
        machine_id = path[len("/api/v1/machines/") :]
        return machine_key(machine_id) if ID_RE.match(machine_id) else None
    return HOT_KEYS.get(path)


def _cookie(header: str, name: str) -> str | None:
    for part in header.split(";"):
        key, _, value = part.strip().partition("=")
        if key == name:
            return value
    return None


def json_body(entry: CachedBody, request: Request) -> Response:
    """A cached JSON answer, or 304 when the client already has it."""
    if request.headers.get("if-none-match") == entry.etag:
        return Response(status_code=304, headers={"ETag": entry.etag})
    return Response(
        entry.body, media_type="application/json", headers={"ETag": entry.etag, "Cache-Control": "no-cache"}
    )


def _gate(request: Request) -> Gate:
    gate: Gate = request.app.state.gate
    return gate


def who(request: Request) -> Principal:
    """The caller: a bearer token (machine client) or the session cookie."""
    return _gate(request).identify(request.cookies.get(SESSION_COOKIE), request.headers.get("authorization"))


def viewer(principal: Annotated[Principal, Depends(who)]) -> Principal:
    """Anyone who may look."""
    require(principal, Permission.VIEW)
    return principal


def operator(request: Request, principal: Annotated[Principal, Depends(who)]) -> Principal:
    """People only (a session), with the ACT permission and this session's CSRF token."""
    require(principal, Permission.ACT)
    _gate(request).signer.check_csrf(principal.session_id, request.headers.get(CSRF_HEADER))
    return principal


def admin(principal: Annotated[Principal, Depends(who)]) -> Principal:
    """Administrators."""
    require(principal, Permission.ADMIN)
    return principal


Viewer = Annotated[Principal, Depends(viewer)]
Operator = Annotated[Principal, Depends(operator)]
Admin = Annotated[Principal, Depends(admin)]


def create_app(
    service: DashboardService, gate: Gate, *, cookie_secure: bool = False, heartbeat_s: float = 15.0
) -> FastAPI:
    """The dashboard application."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.stop()

    app = FastAPI(
        title="IIoT plant-floor dashboard",
        version="1",
        description=(
            "Alerts, machine state, edge fleet and defects for MES and SCADA clients. "
            "Machine clients send `Authorization: Bearer <token>` (viewer role; tokens from "
            "`iiot cloud dashboard --create-token NAME`). People log in; their POSTs carry `X-CSRF-Token`."
        ),
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
        lifespan=lifespan,
    )
    app.state.gate = gate
    app.state.service = service
    app.add_middleware(HotPath, service=service, gate=gate)
    app.add_middleware(SecurityHeaders)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(DashboardError)
    async def dashboard_error(request: Request, exc: DashboardError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if isinstance(exc, AuthError) else None
        body = ErrorBody(error=type(exc).__name__, detail=str(exc))
        return JSONResponse(body.model_dump(), status_code=exc.status, headers=headers)

    # ----------------------------------------------------------------- pages

    @app.get("/", include_in_schema=False)
    async def index(request: Request) -> Response:
        try:
            gate.session(request.cookies.get(SESSION_COOKIE))
        except SessionInvalid:
            return RedirectResponse("/login", status_code=303)
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/login", include_in_schema=False)
    async def login_page(request: Request) -> Response:
        response = FileResponse(STATIC / "login.html", headers={"Cache-Control": "no-store"})
        if not request.cookies.get(LOGIN_CSRF_COOKIE):
            response.set_cookie(
                LOGIN_CSRF_COOKIE,
                secrets.token_urlsafe(24),
                samesite="strict",
                secure=cookie_secure,
                path="/",
            )
        return response

    @app.get("/api", include_in_schema=False)
    async def api_page() -> Response:
        return FileResponse(STATIC / "api.html", headers={"Cache-Control": "no-cache"})

    # ----------------------------------------------------------------- session

    @app.post("/api/v1/login", response_model=SessionInfo, tags=["session"], responses=ERRORS)
    async def login(body: LoginBody, request: Request, response: Response) -> SessionInfo:
        """Log in (the login page's double-submit CSRF cookie must be repeated in ``X-CSRF-Token``)."""
        check_double_submit(request.cookies.get(LOGIN_CSRF_COOKIE), request.headers.get(CSRF_HEADER))
        done = await gate.login(body.username, body.password)
        response.set_cookie(
            SESSION_COOKIE,
            done.token,
            max_age=gate.session_ttl_ms // 1000,
            httponly=True,
            samesite="strict",
            secure=cookie_secure,
            path="/",
        )
        return gate.info(done.principal, done.claims)

    @app.post("/api/v1/logout", status_code=204, tags=["session"], responses=ERRORS)
    async def logout(request: Request) -> Response:
        """End the session."""
        principal, _ = gate.session(request.cookies.get(SESSION_COOKIE))
        gate.signer.check_csrf(principal.session_id, request.headers.get(CSRF_HEADER))
        gate.logout(request.cookies.get(SESSION_COOKIE))
        response = Response(status_code=204)
        response.delete_cookie(
            SESSION_COOKIE, path="/", samesite="strict", secure=cookie_secure, httponly=True
        )
        return response

    @app.get("/api/v1/session", response_model=SessionInfo, tags=["session"], responses=ERRORS)
    async def session_info(request: Request) -> SessionInfo:
        """Who is logged in, and the CSRF token for POSTs."""
        principal, claims = gate.session(request.cookies.get(SESSION_COOKIE))
        return gate.info(principal, claims)

    @app.get("/api/v1/health", tags=["session"])
    async def health() -> dict[str, Any]:
        """Liveness, the server instance (changes on restart) and whether the pipeline link is up."""
        return {
            "status": "ok",
            "instance": service.hub.instance,
            "link_connected": service.feed_connected,
            "pages": service.hub.subscribers,
        }

    # ----------------------------------------------------------------- live

    @app.get("/api/v1/events", tags=["live"], responses=ERRORS)
    async def events(_: Viewer) -> StreamingResponse:
        """Server-sent events: hello, alert, overview, fleet, frame, link; a heartbeat comment when idle."""
        return StreamingResponse(
            sse.stream(service.hub, heartbeat_s, service.now_ms()),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    # ----------------------------------------------------------------- alerts

    @app.get(
        "/api/v1/alerts",
        response_model=None,
        tags=["alerts"],
        responses={200: {"model": AlertList}, **ERRORS},
    )
    async def alerts(
        request: Request,
        _: Viewer,
        state: Annotated[
            AlertStateFilter,
            Query(description="open (default: all but cleared), active, acknowledged, shelved, cleared, all"),
        ] = "open",
    ) -> Response:
        """Alerts by state, most severe and newest first, with their history and allowed actions."""
        return json_body(await service.alerts_body(state), request)

    @app.get(
        "/api/v1/alerts/{alert_id}",
        response_model=None,
        tags=["alerts"],
        responses={200: {"model": AlertRevisions}, **ERRORS},
    )
    async def alert_revisions(alert_id: Annotated[str, PathParam(pattern=ID_PATTERN)], _: Viewer) -> Response:
        """Every stored revision of one alert: the audit trail of who did what, when."""
        return Response(await service.alert_revisions(alert_id), media_type="application/json")

    @app.post(
        "/api/v1/alerts/{alert_id}/actions",
        status_code=202,
        response_model=ActionAccepted,
        tags=["alerts"],
        responses={**ERRORS, 409: {"model": ErrorBody, "description": "the action does not apply now"}},
    )
    async def act(
        alert_id: Annotated[str, PathParam(pattern=ID_PATTERN)],
        body: ActionBody,
        principal: Operator,
    ) -> ActionAccepted:
        """Acknowledge, annotate, shelve, unshelve or clear (operator or admin; session and CSRF token)."""
        return await service.act(
            principal, alert_id, body.action, note=body.note, shelve_minutes=body.shelve_minutes
        )

    # ----------------------------------------------------------------- plant

    @app.get(
        "/api/v1/overview",
        response_model=None,
        tags=["plant"],
        responses={200: {"model": Overview}, **ERRORS},
    )
    async def overview(request: Request, _: Viewer) -> Response:
        """Lines and machine tiles with health, predicted failure and remaining useful life."""
        return json_body(await service.overview(), request)

    @app.get(
        "/api/v1/machines",
        response_model=None,
        tags=["plant"],
        responses={200: {"model": MachineList}, **ERRORS},
    )
    async def machines(request: Request, _: Viewer) -> Response:
        """Every machine's health, prediction and key readings."""
        return json_body(await service.machines(), request)

    @app.get(
        "/api/v1/machines/{machine_id}",
        response_model=None,
        tags=["plant"],
        responses={200: {"model": MachineDetail}, **ERRORS},
    )
    async def machine(
        request: Request, machine_id: Annotated[str, PathParam(pattern=ID_PATTERN)], _: Viewer
    ) -> Response:
        """One machine: readings, trends with limits, prediction history with thresholds, alerts."""
        return json_body(await service.machine(machine_id), request)

    @app.get(
        "/api/v1/fleet", response_model=None, tags=["plant"], responses={200: {"model": Fleet}, **ERRORS}
    )
    async def fleet(request: Request, _: Viewer) -> Response:
        """Edge nodes: online, stale or offline; model versions, frame rate, outbox depth."""
        return json_body(await service.fleet(), request)

    @app.get(
        "/api/v1/defects", response_model=None, tags=["plant"], responses={200: {"model": Defects}, **ERRORS}
    )
    async def defects(request: Request, _: Viewer) -> Response:
        """Defect rate per line and camera, and the latest inspected frames."""
        return json_body(await service.defects(), request)

    @app.get(
        "/api/v1/defects/{frame_id}/image.jpg",
        response_class=Response,
        tags=["plant"],
        responses={200: {"content": {"image/jpeg": {}}}, **ERRORS},
    )
    async def frame_image(frame_id: Annotated[str, PathParam(pattern=ID_PATTERN)], _: Viewer) -> Response:
        """The JPEG crop of one inspected frame (recent frames only)."""
        return Response(
            service.frame_image(frame_id),
            media_type="image/jpeg",
            headers={"Cache-Control": "private, max-age=3600"},
        )

    @app.get("/api/v1/users", tags=["admin"], responses=ERRORS)
    async def users(_: Admin) -> dict[str, Any]:
        """Users with their roles, and the names of the API tokens (admin)."""
        return {
            "users": [
                {"name": u.name, "role": u.role.value}
                for u in sorted(gate.users.users.values(), key=lambda u: u.name)
            ],
            "api_tokens": sorted(gate.users.tokens),
        }

    return app
