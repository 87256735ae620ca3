"""Logging in and out (served by intake, through the console's origin): throttled, audited, revocable.

    POST /api/v1/auth/login   {username, password} → a token (and the console's session cookie)
    POST /api/v1/auth/logout  → the token is revoked everywhere (auth.session_revoked)
    GET  /api/v1/auth/me      → who is logged in
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

import asyncpg
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from events.auth import SessionRevoked
from services.backbone import audit_store, session_store
from services.backbone.http import Problem
from services.backbone.runtime import runtime_of
from services.security import throttle, tokens
from services.security.accounts import accounts
from services.security.guard import COOKIE

log = logging.getLogger(__name__)


class LoginBody(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


async def _attempts(conn: asyncpg.Connection, key: str) -> throttle.Attempts:
    row = await session_store.throttle_for_update(conn, key)
    return throttle.Attempts(row.failures, row.last_failure, row.locked_until) if row else throttle.Attempts()


async def _save(conn: asyncpg.Connection, key: str, a: throttle.Attempts) -> None:
    await session_store.save_throttle(conn, key, a.failures, a.last_failure, a.locked_until)


router = APIRouter()


async def audit(request: Request, *, actor: str, role: str, org_unit: str | None, action: str, status: int,
                detail: dict[str, Any] | None = None) -> None:
    runtime = runtime_of(request)
    await audit_store.write(runtime.pool, runtime.spec.name, {
        "actor": actor[:64], "role": role, "org_unit": org_unit, "action": action, "case_id": None,
        "method": request.method, "path": request.url.path, "status": status,
        "client": getattr(request.state, "client", None), "forwarded_for": None, "detail": detail})


@router.post("/api/v1/auth/login")
async def login(request: Request, body: LoginBody) -> JSONResponse:
    runtime = runtime_of(request)
    now = datetime.now(UTC)  # a security clock: never the shifted business clock
    address = getattr(request.state, "client", None) or "unknown"
    keys = (f"user:{body.username}", f"addr:{address}")
    async with runtime.pool.acquire() as conn, conn.transaction():
        user, addr = [await _attempts(conn, k) for k in keys]
    locked = max((d for d in (user.locked_for(now), addr.locked_for(now)) if d), default=None)
    if locked is not None:
        await audit(request, actor=body.username, role="anonymous", org_unit=None, action="login_locked",
                    status=429)
        log.warning("login refused: locked", extra={"user": body.username, "client": address})
        raise Problem(429, f"密码错误次数过多，请 {throttle.minutes(locked)} 分钟后再试",
                      retry_after=int(locked.total_seconds()) + 1)
    who = accounts().login(body.username, body.password)
    if who is None:
        async with runtime.pool.acquire() as conn, conn.transaction():
            user = throttle.after_failure(await _attempts(conn, keys[0]), now, throttle.ACCOUNT)
            addr = throttle.after_failure(await _attempts(conn, keys[1]), now, throttle.ADDRESS)
            await _save(conn, keys[0], user)
            await _save(conn, keys[1], addr)
        await audit(request, actor=body.username, role="anonymous", org_unit=None, action="login_failed",
                    status=401, detail={"failures": user.failures})
        log.warning("login failed", extra={"user": body.username, "client": address, "failures": user.failures})
        await asyncio.sleep(throttle.answer_delay(max(user.failures, addr.failures - 40)))
        raise Problem(401, "用户名或密码错误")
    await session_store.clear_throttle(runtime.pool, keys[0])
    token = tokens.issue(who)
    await audit(request, actor=who.subject, role=who.role, org_unit=who.org_unit, action="login", status=200)
    ttl = int(tokens.DEFAULT_TTL.total_seconds())
    response = JSONResponse({"access_token": token, "token_type": "bearer", "expires_in": ttl, "role": who.role,
                             "org_unit": who.org_unit, "name": who.name})
    response.set_cookie(COOKIE, token, max_age=ttl, httponly=True, samesite="strict",
                        secure=runtime.settings.cookie_secure)
    return response


@router.post("/api/v1/auth/logout")
async def logout(request: Request) -> JSONResponse:
    runtime = runtime_of(request)
    p = getattr(request.state, "principal", None)
    if p is not None and p.token_id is not None:
        expires = datetime.fromtimestamp(p.expires_at or 0, UTC)
        async with runtime.unit_of_work() as ctx:
            if await session_store.record_revocation(ctx.conn, token_id=p.token_id, subject=p.subject, expires_at=expires):
                ctx.publish("auth.session_revoked", SessionRevoked(
                    token_id=p.token_id, subject=p.subject, expires_at=expires, revoked_at=datetime.now(UTC)),
                    subject=f"session-{p.subject}")
        runtime.sessions.knows(p.token_id, p.expires_at or 0)
        await audit(request, actor=p.subject, role=p.role, org_unit=p.org_unit, action="logout", status=200)
    response = JSONResponse({"ok": True})
    response.delete_cookie(COOKIE, httponly=True, samesite="strict", secure=runtime.settings.cookie_secure)
    return response


@router.get("/api/v1/auth/me")
async def me(request: Request) -> dict[str, Any]:
    p = getattr(request.state, "principal", None)
    if p is None:
        raise Problem(401, "未登录")
    return {"username": p.subject, "role": p.role, "org_unit": p.org_unit, "name": p.name,
            "mediator_id": p.mediator_id, "expires_at": p.expires_at}

