"""Sessions that end when they should: logout revokes the token everywhere, an account change ends it.

A revoked token id is written by the service that logs people out (intake) and reaches every other service as
``auth.session_revoked`` on ``intake.events``; each service keeps the ids in its own database (pruned once the
token would have expired anyway) and in memory, refreshed every second so that every replica knows it.
Every request's token is also held against the accounts file as it is now: a removed user, or a changed role,
unit or mediator identity, ends the session.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from events.auth import SessionRevoked
from services.backbone import session_store
from services.backbone.consumer import HandlerContext
from services.backbone.runtime import Extension, Runtime
from services.security.accounts import accounts
from services.security.policy import Principal

log = logging.getLogger(__name__)

REVOKED = "已退出登录，请重新登录"
EXPIRED = "登录已过期，请重新登录"


class SessionRegistry:
    def __init__(self, pool: asyncpg.Pool | None = None):
        self.pool = pool
        self._revoked: dict[str, float] = {}  # token id -> expiry (Unix seconds)
        self._since = datetime.fromtimestamp(0, UTC)

    async def refused(self, p: Principal) -> str | None:
        if p.token_id is not None and p.token_id in self._revoked:
            return REVOKED
        if p.expires_at is not None and p.expires_at <= time.time():
            return EXPIRED
        current = accounts()
        if current.users:  # an accounts file is configured: the token must still match its account
            return current.changed(p)
        return None

    def knows(self, token_id: str, expires_at: float) -> None:
        self._revoked[token_id] = expires_at

    async def refresh(self) -> int:
        """Learn what other replicas (and the revocation events) wrote; forget what has expired."""
        if self.pool is None:
            return 0
        rows = await session_store.revoked_since(self.pool, self._since - timedelta(seconds=5))
        for row in rows:
            self._revoked[row.token_id] = row.expires_at.timestamp()
            self._since = max(self._since, row.revoked_at)
        now = time.time()
        for token_id in [t for t, exp in self._revoked.items() if exp < now]:
            del self._revoked[token_id]
        return len(rows)

    async def load(self) -> None:
        if self.pool is None:
            return
        rows, self._since = await session_store.revoked_live(self.pool)
        self._revoked = {r.token_id: r.expires_at.timestamp() for r in rows}


def extension(registry: SessionRegistry) -> Extension:
    """Sessions in every service process: loaded at start, refreshed every second, revocations applied as
    ``auth.session_revoked`` arrives, expired ids pruned with the housekeeping."""

    async def start(runtime: Runtime) -> None:
        registry.pool = runtime.pool
        await registry.load()

    async def on_revoked(ctx: HandlerContext, event: Any, data: SessionRevoked) -> None:
        await session_store.record_revocation(ctx.conn, token_id=data.token_id, subject=data.subject, expires_at=data.expires_at)
        registry.knows(data.token_id, data.expires_at.timestamp())

    async def housekeeping(runtime: Runtime) -> None:
        await session_store.prune_revoked(runtime.pool)

    return Extension("sessions", handlers={"auth.session_revoked": on_revoked}, on_start=start,
                     housekeeping=housekeeping, every=(1.0, registry.refresh))
