"""The console: the web console shell and a reverse proxy of the public API to the owning services."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, Field

from events.catalog import SERVICES
from services.backbone import logs
from services.backbone.http import Problem, install_problem_handlers
from services.backbone.settings import Settings
from services.console.routing import owner_of, page_owner
from services.security import tokens
from services.security.accounts import accounts
from services.security.guard import COOKIE, EdgeMiddleware

log = logging.getLogger(__name__)
HERE = Path(__file__).parent
_HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade", "host",
               "content-length", "proxy-authorization", "proxy-authenticate"}
SERVICE_NAMES_ZH = {"intake": "受理", "mediation": "调解", "legal_aid": "法律援助", "followup": "回访",
                    "supervision": "督办"}


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    @asynccontextmanager
    async def lifespan(app: FastAPI):  # type: ignore[no-untyped-def]
        app.state.client = httpx.AsyncClient(timeout=httpx.Timeout(30, connect=2))
        yield
        await app.state.client.aclose()

    app = FastAPI(title="laborcase console", docs_url=None, redoc_url=None, openapi_url=None, lifespan=lifespan)
    install_problem_handlers(app)
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
        return templates.TemplateResponse(request, "index.html", {"services": SERVICE_NAMES_ZH})

    @app.get("/login", response_class=HTMLResponse)
    async def login_page(request: Request, next: str = "/") -> Response:
        return templates.TemplateResponse(request, "login.html", {"next": next if next.startswith("/") else "/"})

    @app.post("/api/v1/auth/login")
    async def login(body: LoginBody) -> JSONResponse:
        who = accounts().login(body.username, body.password)
        if who is None:
            raise Problem(401, "用户名或密码错误")
        token = tokens.issue(who)
        response = JSONResponse({"access_token": token, "token_type": "bearer", "expires_in":
                                 int(tokens.DEFAULT_TTL.total_seconds()), "role": who.role, "org_unit": who.org_unit,
                                 "name": who.name})
        response.set_cookie(COOKIE, token, max_age=int(tokens.DEFAULT_TTL.total_seconds()), httponly=True,
                            samesite="strict")
        return response

    @app.post("/api/v1/auth/logout")
    async def logout() -> JSONResponse:
        response = JSONResponse({"ok": True})
        response.delete_cookie(COOKIE)
        return response

    @app.get("/api/v1/auth/me")
    async def me(request: Request) -> dict[str, Any]:
        p = getattr(request.state, "principal", None)
        if p is None:
            raise Problem(401, "未登录")
        return {"username": p.subject, "role": p.role, "org_unit": p.org_unit, "name": p.name}

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

    async def forward(request: Request, service: str) -> Response:
        client: httpx.AsyncClient = request.app.state.client
        upstream = httpx.URL(settings.url_for(service) + request.url.path, query=request.url.query.encode())
        headers = [(k, v) for k, v in request.headers.items() if k.lower() not in _HOP_BY_HOP]
        headers.append(("x-forwarded-for", request.client.host if request.client else ""))
        try:
            req = client.build_request(request.method, upstream, headers=headers, content=await request.body())
            resp = await client.send(req, stream=True)
        except httpx.HTTPError as exc:
            log.warning("upstream unavailable", extra={"service": service, "error": repr(exc)})
            raise Problem(503, f"{SERVICE_NAMES_ZH[service]}服务暂不可用，请稍后重试", service=service) from exc
        out_headers = {k: v for k, v in resp.headers.items() if k.lower() not in _HOP_BY_HOP}
        return StreamingResponse(resp.aiter_raw(), status_code=resp.status_code, headers=out_headers,
                                 background=_Close(resp))

    return EdgeMiddleware(app, service="console", required=settings.auth_required)  # type: ignore[return-value]


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class _Close:
    def __init__(self, resp: httpx.Response):
        self.resp = resp

    async def __call__(self) -> None:
        await self.resp.aclose()


def main() -> None:
    settings = Settings()
    logs.configure("console", settings.log_level)
    uvicorn.run(build_app(settings), host=settings.host, port=settings.console_port, log_config=None,
                access_log=False)
