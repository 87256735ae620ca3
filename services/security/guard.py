"""Authentication at the edge of every service, and the authorization check each route makes.

The middleware reads the access token (``Authorization: Bearer`` or the console's session cookie), rejects
requests without a valid one — expired, revoked (logout) or no longer matching its account — limits body
sizes and reading time, and writes the audit log *before* the answer leaves: a read whose audit row cannot
be written is not answered. Routes call ``authorize`` with the unit that holds the resource; the decision is
``policy.can``. A case outside the caller's scope answers exactly like a case that does not exist.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import re
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, Protocol
from urllib.parse import quote

from fastapi import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.backbone import audit_store, tracing
from services.backbone.http import Problem
from services.hierarchy.orgunits import Hierarchy, default_hierarchy
from services.security import tokens
from services.security.policy import ROLE_ZH, SYSTEM, Action, Principal, Role, can

log = logging.getLogger(__name__)
COOKIE = "laborcase_session"
#: The worker's door (docs/domain/worker-door.md): no login; every request is audited all the same.
WORKER_DOOR = ("/api/v1/public/", "/apply", "/progress")
PUBLIC = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/asyncapi.json", "/static/", "/login",
          "/api/v1/auth/", "/api/v1/events", "/favicon.ico", *WORKER_DOOR)
#: Requests that touch no case data are not audited (probes, static files, contracts).
UNAUDITED = ("/healthz", "/readyz", "/metrics", "/openapi.json", "/asyncapi.json", "/static/", "/favicon.ico")
MAX_BODY = 1_048_576
#: The one route whose body may be larger than ``max_body``: an attachment's upload (``max_upload``).
UPLOADS = re.compile(r"^/api/v1/(public/)?cases/[^/]+/attachments$")
#: The console's signed statement of who its caller is (services trust no other forwarded address).
CLIENT_HEADER = "x-laborcase-client"


def _problem(status: int, detail: str) -> bytes:
    titles = {401: "未登录或凭证无效", 403: "无权访问", 408: "请求超时", 413: "请求体过大", 503: "服务暂不可用"}
    return json.dumps({"type": "about:blank", "title": titles.get(status, ""), "status": status, "detail": detail},
                      ensure_ascii=False).encode()


class Sessions(Protocol):
    """Whether a verified token still stands: not revoked (logout), still matching its account."""

    async def refused(self, p: Principal) -> str | None: ...


# --- the caller's address ---------------------------------------------------------------------------------


def _client_mac(secret: str, address: str) -> str:
    return hmac.new(secret.encode(), f"client:{address}".encode(), hashlib.sha256).hexdigest()[:32]


def client_statement(address: str, secret: str | None = None) -> str:
    """What the console tells a service about its caller: the address, signed with the shared key."""
    return f"{address}|{_client_mac(secret or tokens.secret_key(), address)}"


class ClientAddress:
    """The caller's address, trusted only from where it can be trusted: the peer itself; the console's signed
    statement; ``X-Forwarded-For`` only from the configured proxies (an ingress in front), never from anyone."""

    def __init__(self, trusted_proxies: Sequence[str] = (), secret: Callable[[], str] | None = None):
        self.proxies = [ipaddress.ip_network(p, strict=False) for p in trusted_proxies]
        self.secret = secret or tokens.secret_key

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in net for net in self.proxies)

    def resolve(self, scope: Scope, headers: dict[str, str]) -> tuple[str | None, str | None]:
        """(the caller's address, the forwarded-for chain when it came from a trusted proxy)."""
        peer = (scope.get("client") or (None,))[0]
        statement = headers.get(CLIENT_HEADER)
        if statement and "|" in statement:
            address, _, mac = statement.rpartition("|")
            try:
                if hmac.compare_digest(mac, _client_mac(self.secret(), address)):
                    return address[:64], None
            except RuntimeError:  # no key configured
                pass
        forwarded = headers.get("x-forwarded-for")
        if forwarded and peer and self._trusted(peer):
            hops = [h.strip() for h in forwarded.split(",") if h.strip()]
            for hop in reversed(hops):  # the rightmost address no trusted proxy added
                if not self._trusted(hop):
                    return hop[:64], forwarded[:500]
            return (hops[0][:64] if hops else peer), forwarded[:500]
        return peer, None


class EdgeMiddleware:
    """Token check, body-size and reading-time limits, and the audit trail for one service (or the console).

    ``ready``: while it answers False (the runtime is still starting) the API answers a retryable 503; the
    health probes and pages keep answering.
    """

    def __init__(self, app: ASGIApp, *, service: str, required: bool,
                 audit: Callable[[dict[str, Any]], Awaitable[None]] | None = None, max_body: int = MAX_BODY,
                 ready: Callable[[], bool] | None = None, sessions: Sessions | None = None,
                 clients: ClientAddress | None = None, body_seconds: float = 30, max_upload: int | None = None):
        self.app, self.service, self.required, self.audit, self.max_body = app, service, required, audit, max_body
        self.max_upload = max_upload
        self.ready, self.sessions, self.body_seconds = ready, sessions, body_seconds
        self.clients = clients or ClientAddress()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        max_body = self.max_upload if self.max_upload and scope.get("method") == "POST" and UPLOADS.match(path) \
            else self.max_body
        if self.ready is not None and not self.ready() and path.startswith("/api/"):
            await _reply(send, 503, _problem(503, "服务正在启动，请稍后重试"), headers=[(b"retry-after", b"1")])
            return
        headers = {k.decode("latin-1").lower(): v.decode(errors="replace") for k, v in scope.get("headers", [])}
        length = headers.get("content-length")
        if length and length.isascii() and length.isdigit() and int(length) > max_body:
            await _reply(send, 413, _problem(413, f"请求体超过 {max_body // 1024} KiB 上限"))
            return
        state = scope.setdefault("state", {})
        client, forwarded = self.clients.resolve(scope, headers)
        state["client"] = client
        principal = None
        token = _token(headers)
        if token:
            try:
                principal = tokens.verify(token)
                refused = await self.sessions.refused(principal) if self.sessions is not None else None
                if refused:
                    raise tokens.InvalidToken(refused)
            except tokens.InvalidToken as exc:
                principal = None
                if self.required and not path.startswith(PUBLIC):
                    if _wants_page(scope, headers):
                        await _redirect(send, _login_url(scope))
                    else:
                        await _reply(send, 401, _problem(401, str(exc)))
                    return
        if principal is None and self.required and not path.startswith(PUBLIC):
            if _wants_page(scope, headers):
                await _redirect(send, _login_url(scope))
            else:
                await _reply(send, 401, _problem(401, "请先登录（Authorization: Bearer <token>）"))
            return
        state["principal"] = principal
        state["auth_required"] = self.required
        traceparent = tracing.child_of(headers.get("traceparent"))
        tracing.CURRENT.set(traceparent)
        status: dict[str, Any] = {"code": 0, "suppressed": False, "slow": False}
        received = {"bytes": 0}
        audited = (principal is not None or path.startswith(WORKER_DOOR)) and self.audit is not None \
            and not path.startswith(UNAUDITED)
        # a use case may write this request's row in its own transaction (usecase.run(..., audited=True))
        pending = audit_store.Pending(self.service, lambda code: self._entry(principal, scope, state, code, client,
                                                                             forwarded), scope) if audited else None
        pending_token = audit_store.PENDING.set(pending)

        async def guarded_receive() -> Message:
            if status.get("cut"):  # asked again after being cut off: still gone
                return {"type": "http.disconnect"}
            try:
                async with asyncio.timeout(self.body_seconds):  # no task per read, as wait_for would make
                    message = await receive()
            except TimeoutError:  # a body that never ends (slow client or slowloris): the app sees a disconnect,
                status["slow"] = status["cut"] = True  # and whatever it answers becomes a 408
                return {"type": "http.disconnect"}
            if message["type"] == "http.request":
                received["bytes"] += len(message.get("body", b""))
                if received["bytes"] > max_body:
                    # Without a Content-Length (chunked) the size shows only now. An exception here would pass
                    # through the app's own error handling (a 500 sent before we could answer): the app sees a
                    # disconnect instead, stores nothing, and whatever it answers becomes a 413.
                    status["too_large"] = status["cut"] = True
                    return {"type": "http.disconnect"}
            return message

        async def capture(message: Message) -> None:
            if status["suppressed"]:
                return
            if status.get("cut") and message["type"] == "http.response.start":
                code = 413 if status.get("too_large") else 408
                status["suppressed"], status["code"] = True, code
                await _reply(send, code, self._cut_off(code, max_body))
                return
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                if audited and not (pending is not None and pending.already_written(message["status"])) \
                        and not await self._audit(principal, scope, state, message["status"], client, forwarded):
                    status["suppressed"] = True  # nothing is answered that could not be audited
                    await _reply(send, 503, _problem(503, "审计记录写入失败，请稍后重试"), headers=[(b"retry-after", b"1")])
                    return
                message["headers"] = [*message.get("headers", []), (b"traceparent", traceparent.encode())]
            await send(message)

        try:
            await self.app(scope, guarded_receive, capture)
        except Exception:
            if status.get("cut"):  # the app gave up on the body it could not read (logged nothing worth a trace)
                if not status["code"]:
                    code = 413 if status.get("too_large") else 408
                    await _reply(send, code, self._cut_off(code, max_body))
                return
            # Starlette answers with the error handler's problem (503 for a transient fault, logged there)
            # and re-raises for the server to log again; once answered, the second traceback is noise.
            if not status["code"]:
                raise
            return
        finally:
            audit_store.PENDING.reset(pending_token)

    def _cut_off(self, code: int, max_body: int) -> bytes:
        if code == 413:
            return _problem(413, f"请求体超过 {max_body // 1024} KiB 上限")
        return _problem(408, f"请求体在 {self.body_seconds:g} 秒内未传完")

    async def _audit(self, p: Principal | None, scope: Scope, state: dict[str, Any], status: int, client: str | None,
                     forwarded: str | None) -> bool:
        assert self.audit is not None
        entry = self._entry(p, scope, state, status, client, forwarded)
        try:
            await self.audit(entry)
            return True
        except Exception:
            log.exception("audit write failed; the answer is withheld")
            return False

    @staticmethod
    def _entry(p: Principal | None, scope: Scope, state: dict[str, Any], status: int, client: str | None,
               forwarded: str | None) -> dict[str, Any]:
        """The audit row of this request answered with ``status``, as its state says now."""
        method = scope["method"]
        cases = state.get("audit_cases")
        detail: dict[str, Any] = {}
        if cases is not None:
            detail = {"cases": list(cases)[:200], "count": len(cases)}
        if scope.get("query_string"):
            detail["query"] = scope["query_string"].decode("latin-1")[:500]
        detail.update(state.get("audit_detail") or {})
        # the worker's door: someone without a login (the case number and the outcome, never the code)
        who = {"actor": "public", "role": "public", "org_unit": None} if p is None else \
            {"actor": p.subject, "role": p.role, "org_unit": p.org_unit}
        return {**who,
                "action": state.get("audit_action") or ("write" if method not in ("GET", "HEAD") else "read"),
                "case_id": state.get("audit_case"), "method": method, "path": scope["path"][:500], "status": status,
                "client": client, "forwarded_for": forwarded, "detail": detail or None}


def _token(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == COOKIE and value:
            return value
    return None


def _wants_page(scope: Scope, headers: dict[str, str]) -> bool:
    return "text/html" in headers.get("accept", "") and scope["method"] in ("GET", "HEAD")


def _login_url(scope: Scope) -> str:
    """The login page, coming back to this page with its filters (``next`` percent-encoded)."""
    query = scope.get("query_string", b"").decode("latin-1")
    return "/login?next=" + quote(safe_next(scope["path"] + (f"?{query}" if query else "")), safe="/")


def safe_next(target: str | None) -> str:
    """Where to go after logging in: a path on this origin only (never ``//host``, ``/\\host`` or a scheme)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or "\\" in target:
        return "/"
    if any(ord(c) < 0x20 or c == "\x7f" for c in target) or ":" in target.split("?", 1)[0]:
        return "/"
    return target


async def _reply(send: Send, status: int, body: bytes, headers: Sequence[tuple[bytes, bytes]] = ()) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/problem+json"), (b"content-length", str(len(body)).encode()),
                            *headers]})
    await send({"type": "http.response.body", "body": body})


async def _redirect(send: Send, location: str) -> None:
    await send({"type": "http.response.start", "status": 303, "headers": [(b"location", location.encode())]})
    await send({"type": "http.response.body", "body": b""})


# --- inside routes ---------------------------------------------------------------------------------------



def principal(request: Request) -> Principal:
    p = getattr(request.state, "principal", None)
    if p is None:
        if getattr(request.state, "auth_required", True):
            raise Problem(401, "请先登录")
        return SYSTEM
    return p


def is_system(p: Principal) -> bool:
    return p is SYSTEM


def acting(request: Request, claimed: str | None = None) -> str:
    """Who acts, as the case log records it: the authenticated person (a name in the body is ignored). Only the
    unauthenticated functional tests may say who acts."""
    p = principal(request)
    if p is SYSTEM:
        return claimed or "system"
    return p.display_name


def acting_mediator(request: Request, claimed: str | None) -> str | None:
    """The mediator acting: a mediator account acts as itself only; others (a supervisor) name one."""
    p = principal(request)
    if p is SYSTEM or p.role != "mediator":
        return claimed
    if p.mediator_id is None:
        raise Problem(403, "该账号未对应调解员，无法办理调解案件")
    if claimed is not None and claimed != p.mediator_id:
        raise Problem(403, "只能以本人（调解员本人）的身份办理", errors=[{"field": "mediator_id",
                                                                    "reason": "与登录的调解员不一致"}])
    return p.mediator_id


def require_role(request: Request, roles: Iterable[Role] | None) -> Principal:
    """Roles first, before anything is looked up: a refusal for the role says nothing about what exists."""
    p = principal(request)
    if p is not SYSTEM and roles is not None and p.role not in set(roles):
        raise Problem(403, f"{ROLE_ZH[p.role]}无权进行此操作")
    return p


def authorize(request: Request, action: Action, *, unit: str | None = None, partner_code: str | None = None,
              roles: Iterable[Role] | None = None, case_id: str | None = None, missing: str | None = None,
              hierarchy: Hierarchy | None = None) -> Principal:
    """Allow, or refuse: 403 for the role; for a case outside the caller's scope, the same 404 as a case that does
    not exist (``missing``), so that nobody learns which cases exist. Records the case for the audit log."""
    p = require_role(request, roles)
    request.state.audit_case = case_id
    request.state.audit_action = action
    if p is SYSTEM:
        return p
    if not can(p, action, unit=unit, hierarchy=hierarchy or default_hierarchy(), partner_code=partner_code):
        if case_id is not None:
            raise Problem(404, missing or f"案件 {case_id} 不存在", type_="urn:laborcase:problem:not-found")
        raise Problem(403, "无权访问该单位的数据")
    return p


def authorize_held(request: Request, action: Action, *, unit: str | None, case_id: str, roles: Iterable[Role],
                   missing: str, partner_code: str | None = None, hierarchy: Hierarchy | None = None) -> Principal:
    """Authorize on a case this service holds (``unit`` None: not here): missing and out of scope answer alike."""
    require_role(request, roles)
    if unit is None and partner_code is None:
        request.state.audit_case = case_id
        raise Problem(404, missing, type_="urn:laborcase:problem:not-found")
    return authorize(request, action, roles=roles, unit=unit, partner_code=partner_code, case_id=case_id,
                     missing=missing, hierarchy=hierarchy)


def not_found(missing: str) -> Problem:
    """The one answer for a case that is not there, or not there for this caller."""
    return Problem(404, missing, type_="urn:laborcase:problem:not-found")


def audit_cases(request: Request, case_ids: Iterable[str | None], *, action: Action = "read") -> None:
    """A list, search, stream or export read these cases: the audit row names them."""
    request.state.audit_cases = [c for c in case_ids if c]
    request.state.audit_action = action


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

