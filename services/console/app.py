"""The console: the web console shell and a reverse proxy of the public API to the owning services."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from http.cookiejar import CookieJar, DefaultCookiePolicy
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import ClientDisconnect

from events.catalog import SERVICES
from services.backbone import logs
from services.backbone import server as http_server
from services.backbone.handoff import CONSOLE, Handoff
from services.backbone.http import Problem, install_problem_handlers
from services.backbone.settings import Settings
from services.console.relay import RelayFront
from services.console.routing import front_owner, owner_of, page_owner
from services.security.guard import CLIENT_HEADER, COOKIE, ClientAddress, EdgeMiddleware, client_statement, safe_next
from services.web import errors as error_pages
from services.web.pages import Pages

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
#: never passed on from a caller: only the console itself says who the caller is
_NOT_FORWARDED = {"x-laborcase-client", "x-forwarded-for"}
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host",
               "content-length", "proxy-authorization", "proxy-authenticate"}
SERVICE_NAMES_ZH = {"intake": "受理", "mediation": "调解", "legal_aid": "法律援助", "followup": "回访",
                    "supervision": "督办", "notification": "通知"}


class _KeepNone(DefaultCookiePolicy):
    def set_ok(self, cookie: Any, request: Any) -> bool:
        return False

    def return_ok(self, cookie: Any, request: Any) -> bool:
        return False


def _relaying(client: httpx.AsyncClient) -> httpx.AsyncClient:
    """A client whose jar keeps nothing: the console relays cookies, it never holds any."""
    client.cookies.jar = CookieJar(policy=_KeepNone())
    return client


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    pages = Pages(HERE / "templates")

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        # No cookie jar: a client that kept the cookies upstream answers set (the login's session cookie) would send
        # one person's session with every later request that carries none of its own — an anonymous visitor of the
        # worker's door was served as whoever logged in last. The browser's own Cookie header is passed on as is.
        app.state.client = _relaying(httpx.AsyncClient(timeout=httpx.Timeout(30, connect=2)))
        # Server-sent event streams never share the request pool: 110 open boards used to exhaust it and every
        # API call then waited 30 s for a connection. Their own client, no read timeout, a cap per person.
        app.state.streams = _relaying(httpx.AsyncClient(
            timeout=httpx.Timeout(None, connect=2),
            limits=httpx.Limits(max_connections=None, max_keepalive_connections=0)))
        yield
        front.close()
        await app.state.client.aclose()
        await app.state.streams.aclose()

    app = FastAPI(title="laborcase console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    install_problem_handlers(app, error_pages.page)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    async def service_status(client: httpx.AsyncClient) -> dict[str, Any]:
        async def one(name: str) -> tuple[str, Any]:
            try:
                r = await client.get(f"{settings.url_for(name)}/readyz", timeout=2)
                return name, r.json() | {"http": r.status_code}
            except (httpx.HTTPError, ValueError) as exc:
                return name, {"ready": False, "error": type(exc).__name__}

        return dict(await asyncio.gather(*(one(n) for n in SERVICES)))

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": "console"}

    @app.get("/readyz")
    async def readyz(request: Request) -> JSONResponse:
        status = await service_status(request.app.state.client)
        ready = all(s.get("ready") for s in status.values())
        return JSONResponse({"ready": ready, "services": status}, status_code=200 if ready else 503)

    @app.get("/metrics")
    async def metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/api/v1/status")
    async def status(request: Request) -> dict[str, Any]:
        return {"services": await service_status(request.app.state.client)}

    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        return pages.render(request, "index.html", {"services": SERVICE_NAMES_ZH})

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/") -> Response:
        return pages.render(request, "login.html", {"next": safe_next(next)})

    @app.post("/logout", include_in_schema=False)
    async def logout(request: Request) -> Response:
        """Without a script: end the session at the login service, forget the cookie, back to the login page."""
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "cookie")}
        with contextlib.suppress(httpx.HTTPError):
            await request.app.state.client.post(f"{settings.url_for('intake')}/api/v1/auth/logout", headers=headers)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, httponly=True, samesite="strict", secure=settings.cookie_secure)
        return response

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return RedirectResponse("/static/favicon.svg", status_code=301)

    @app.get("/api/v1/audit")
    async def audit(request: Request, case_id: str | None = None) -> dict[str, Any]:
        """Who read or changed a case, across every service (supervisors of a province, operators)."""
        client: httpx.AsyncClient = request.app.state.client
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("authorization", "cookie")}
        entries: list[dict[str, Any]] = []
        for name in SERVICES:
            r = await client.get(f"{settings.url_for(name)}/api/v1/audit/{name}", headers=headers,
                                 params={"case_id": case_id} if case_id else None)
            if r.status_code != 200:
                return JSONResponse(r.json(), status_code=r.status_code)  # type: ignore[return-value]
            entries += r.json()["entries"]
        return {"entries": sorted(entries, key=lambda e: e["at"], reverse=True)}

    @app.api_route("/api/v1/{path:path}", methods=["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"])
    async def proxy(request: Request, path: str) -> Response:
        service = owner_of(request.method, request.url.path)
        if service is None:
            raise Problem(404, f"没有这个接口：{request.method} {request.url.path}")
        return await forward(request, service)

    @app.api_route("/{section}/{path:path}", methods=["GET", "HEAD"], include_in_schema=False)
    @app.api_route("/{section}", methods=["GET", "HEAD"], include_in_schema=False)
    async def page(request: Request, section: str, path: str = "") -> Response:
        service = page_owner(request.url.path)
        if service is None:
            raise Problem(404, "页面不存在")
        return await forward(request, service)

    streams_open: dict[str, int] = {}

    async def forward(request: Request, service: str) -> Response:
        is_stream = "text/event-stream" in request.headers.get("accept", "") or request.url.path == "/api/v1/stream"
        client: httpx.AsyncClient = request.app.state.streams if is_stream else request.app.state.client
        upstream = httpx.URL(settings.url_for(service) + request.url.path, query=request.url.query.encode())
        headers = [(k, v) for k, v in request.headers.items()
                   if k.lower() not in _HOP_BY_HOP and k.lower() not in _NOT_FORWARDED]
        caller = getattr(request.state, "client", None)
        if caller:  # signed: a service believes no other statement of who called
            headers.append((CLIENT_HEADER, client_statement(caller)))
        person = getattr(getattr(request.state, "principal", None), "subject", None) or (caller or "?")
        try:
            content = await request.body()
        except ClientDisconnect:  # cut off at the edge (too large, too slow) or the caller left: nothing forwarded
            raise Problem(400, "请求体未完整送达，未转发") from None
        if is_stream:
            if streams_open.get(person, 0) >= settings.streams_per_person:
                raise Problem(429, f"同时打开的实时看板过多（每人最多 {settings.streams_per_person} 个），请关闭其他窗口后重试")
            streams_open[person] = streams_open.get(person, 0) + 1
        try:
            req = client.build_request(request.method, upstream, headers=headers, content=content)
            resp = await client.send(req, stream=True)
        except httpx.HTTPError as exc:
            if is_stream:
                streams_open[person] -= 1
            log.warning("upstream unavailable", extra={"service": service, "error": repr(exc)})
            raise Problem(503, f"{SERVICE_NAMES_ZH[service]}服务暂不可用，请稍后重试", service=service) from exc
        out_headers = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP_BY_HOP}

        async def body() -> AsyncIterator[bytes]:
            """Relay the upstream bytes; when the client leaves (or the stream ends) close upstream at once."""
            try:
                async for chunk in resp.aiter_raw():
                    yield chunk
            finally:
                await resp.aclose()
                if is_stream:
                    streams_open[person] -= 1
                    if not streams_open[person]:
                        del streams_open[person]

        return StreamingResponse(body(), status_code=resp.status_code, headers=out_headers)

    def unavailable(scope: dict[str, Any], service: str) -> Response:
        problem = Problem(503, f"{SERVICE_NAMES_ZH[service]}服务暂不可用，请稍后重试", service=service)
        return error_pages.page(Request(scope), problem) or problem.response()

    front = RelayFront(app, settings.url_for, unavailable)
    return EdgeMiddleware(front, service="console", required=settings.auth_required,  # type: ignore[return-value]
                          clients=ClientAddress(settings.trusted_proxy_list), body_seconds=settings.request_body_seconds,
                          max_body=settings.max_body_bytes, max_upload=settings.upload_max_body)


def main() -> None:
    settings = Settings()
    logs.configure("console", settings.log_level)
    http_server.HandingServer(http_server.config(
        build_app(settings), host=settings.host, port=settings.console_port,
        header_seconds=settings.request_header_seconds,
        handoff=Handoff.configured(settings.handoff_dir, CONSOLE, front_owner))).run()
