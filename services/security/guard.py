"""Authentication at the edge of every service, and the authorization check each route makes.

The middleware reads the access token (``Authorization: Bearer`` or the console's session cookie), rejects
requests without a valid one, limits body sizes, and writes the audit log. Routes call ``authorize`` with
the unit that holds the resource; the decision is ``policy.can``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

import asyncpg
from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.backbone import tracing
from services.backbone.http import Problem
from services.hierarchy.orgunits import Hierarchy, default_hierarchy
from services.security import tokens
from services.security.policy import ROLE_ZH, Action, Principal, Role, can

log = logging.getLogger(__name__)
COOKIE = "laborcase_session"
PUBLIC = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/asyncapi.json", "/static/", "/login",
          "/api/v1/auth/", "/api/v1/events", "/favicon.ico")
MAX_BODY = 1_048_576


def _problem(status: int, detail: str) -> bytes:
    titles = {401: "未登录或凭证无效", 403: "无权访问", 413: "请求体过大", 503: "服务暂不可用"}
    return json.dumps({"type": "about:blank", "title": titles.get(status, ""), "status": status, "detail": detail},
                      ensure_ascii=False).encode()


class _TooLarge(Exception):
    pass


class EdgeMiddleware:
    """Token check, body-size limit and audit trail for one service (or the console).

    ``ready``: while it answers False (the runtime is still starting) the API answers a retryable 503; the
    health probes and pages keep answering.
    """

    def __init__(self, app: ASGIApp, *, service: str, required: bool,
                 audit: Callable[[dict[str, Any]], Awaitable[None]] | None = None, max_body: int = MAX_BODY,
                 ready: Callable[[], bool] | None = None):
        self.app, self.service, self.required, self.audit, self.max_body = app, service, required, audit, max_body
        self.ready = ready

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        if self.ready is not None and not self.ready() and path.startswith("/api/"):
            await _reply(send, 503, _problem(503, "服务正在启动，请稍后重试"), headers=[(b"retry-after", b"1")])
            return
        headers = {k.decode().lower(): v.decode(errors="replace") for k, v in scope.get("headers", [])}
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > self.max_body:
            await _reply(send, 413, _problem(413, f"请求体超过 {self.max_body // 1024} KiB 上限"))
            return
        state = scope.setdefault("state", {})
        principal = None
        token = _token(headers)
        if token:
            try:
                principal = tokens.verify(token)
            except tokens.InvalidToken as exc:
                if self.required and not path.startswith(PUBLIC):
                    await _reply(send, 401, _problem(401, str(exc)))
                    return
        if principal is None and self.required and not path.startswith(PUBLIC):
            if "text/html" in headers.get("accept", "") and scope["method"] == "GET":
                await _redirect(send, f"/login?next={path}")
            else:
                await _reply(send, 401, _problem(401, "请先登录（Authorization: Bearer <token>）"))
            return
        state["principal"] = principal
        state["auth_required"] = self.required
        traceparent = tracing.child_of(headers.get("traceparent"))
        tracing.CURRENT.set(traceparent)
        status = {"code": 0}
        received = {"bytes": 0}

        async def counted_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                received["bytes"] += len(message.get("body", b""))
                if received["bytes"] > self.max_body:
                    raise _TooLarge
            return message

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                message["headers"] = [*message.get("headers", []), (b"traceparent", traceparent.encode())]
            await send(message)

        try:
            await self.app(scope, counted_receive, capture)
        except _TooLarge:
            if not status["code"]:
                await _reply(send, 413, _problem(413, f"请求体超过 {self.max_body // 1024} KiB 上限"))
            return
        except Exception:
            # Starlette answers with the error handler's problem (503 for a transient fault, logged there)
            # and re-raises for the server to log again; once answered, the second traceback is noise.
            if not status["code"]:
                raise
            return
        if self.audit is not None and principal is not None and (state.get("audit_case") or
                                                                 scope["method"] not in ("GET", "HEAD")):
            client = scope.get("client")
            try:
                await self.audit({"actor": principal.subject, "role": principal.role, "org_unit": principal.org_unit,
                                  "action": state.get("audit_action") or ("write" if scope["method"] not in (
                                      "GET", "HEAD") else "read"),
                                  "case_id": state.get("audit_case"), "method": scope["method"], "path": path,
                                  "status": status["code"], "client": client[0] if client else None,
                                  "forwarded_for": headers.get("x-forwarded-for")})
            except Exception:
                log.exception("audit write failed")


def _token(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None


async def _reply(send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str) -> None:
    await send({"type": "http.response.start", "status": 303, "headers": [(b"location", location.encode())]})
    await send({"type": "http.response.body", "body": b""})


# --- inside routes ---------------------------------------------------------------------------------------

SYSTEM = Principal("system", "supervisor", None)


def principal(request: Request) -> Principal:
    p = getattr(request.state, "principal", None)
    if p is None:
        if getattr(request.state, "auth_required", True):
            raise Problem(401, "请先登录")
        return SYSTEM
    return p


def authorize(request: Request, action: Action, *, unit: str | None = None, partner_code: str | None = None,
              roles: Iterable[Role] | None = None, case_id: str | None = None,
              hierarchy: Hierarchy | None = None) -> Principal:
    """Allow or raise 403; records the case for the audit log."""
    p = principal(request)
    request.state.audit_case = case_id
    request.state.audit_action = action
    if p is SYSTEM:
        return p
    if roles is not None and p.role not in set(roles):
        raise Problem(403, f"{ROLE_ZH[p.role]}无权进行此操作")
    if not can(p, action, unit=unit, hierarchy=hierarchy or default_hierarchy(), partner_code=partner_code):
        raise Problem(403, "无权访问该单位或该案件的数据")
    return p


def authorize_held(request: Request, action: Action, *, unit: str | None, case_id: str, roles: Iterable[Role],
                   missing: str, hierarchy: Hierarchy | None = None) -> Principal:
    """Authorize on a case this service holds (``unit`` None: not here → 404 with ``missing``)."""
    if unit is None:
        raise Problem(404, missing)
    return authorize(request, action, roles=roles, unit=unit, case_id=case_id, hierarchy=hierarchy)


def manage_registry(request: Request, unit: str | None, hierarchy: Hierarchy | None = None) -> Principal:
    """Registries of mediators and lawyers: operators anywhere, supervisors within their scope."""
    p = principal(request)
    return authorize(request, "operate" if p.role == "operator" else "write", roles=("supervisor", "operator"),
                     unit=unit, hierarchy=hierarchy)


def visible(request: Request, action: Action, unit: str | None, partner_code: str | None = None,
            hierarchy: Hierarchy | None = None) -> bool:
    """For filtering lists: may the caller see a row held by ``unit``?"""
    p = principal(request)
    return p is SYSTEM or can(p, action, unit=unit, hierarchy=hierarchy or default_hierarchy(),
                              partner_code=partner_code)


def scope_units(request: Request, requested: str | None, hierarchy: Hierarchy | None = None) -> str | None:
    """The unit a list or stream is about: the caller's own unless they asked for one in their scope."""
    p = principal(request)
    if p is SYSTEM:
        return requested
    if requested is None:
        return p.org_unit
    if not can(p, "read", unit=requested, hierarchy=hierarchy or default_hierarchy()):
        raise Problem(403, "无权查看该单位的数据")
    return requested


async def write_audit(pool: asyncpg.Pool, service: str, entry: dict[str, Any]) -> None:
    await pool.execute(
        "INSERT INTO audit_log (service, actor, role, org_unit, action, case_id, method, path, status, client, "
        "forwarded_for) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        service, entry["actor"], entry["role"], entry["org_unit"], entry["action"], entry["case_id"], entry["method"],
        entry["path"], entry["status"], entry["client"], entry["forwarded_for"])
