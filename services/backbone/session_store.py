"""The backbone's session tables: revoked tokens (every service) and failed logins (the service that logs in).

The rules are the security package's (services/security/sessions.py, throttle.py); these are their rows.
"""

from __future__ import annotations

from datetime import datetime

import asyncpg

from services.backbone.models import LoginThrottle, RevokedToken, from_row

REVOKED_SINCE = ("SELECT token_id, subject, expires_at, revoked_at FROM revoked_tokens WHERE revoked_at > $1 "
                 "ORDER BY revoked_at")
REVOKED_LIVE = "SELECT token_id, subject, expires_at, revoked_at FROM revoked_tokens WHERE expires_at > now()"
LATEST_REVOCATION = "SELECT coalesce(max(revoked_at), 'epoch') FROM revoked_tokens"
RECORD_REVOCATION = ("INSERT INTO revoked_tokens (token_id, subject, expires_at) VALUES ($1, $2, $3) "
                     "ON CONFLICT DO NOTHING RETURNING 1")
PRUNE_REVOKED = "DELETE FROM revoked_tokens WHERE expires_at < now() - interval '1 hour'"

THROTTLE_FOR_UPDATE = "SELECT key, failures, last_failure, locked_until FROM login_throttle WHERE key = $1 FOR UPDATE"
SAVE_THROTTLE = ("INSERT INTO login_throttle (key, failures, last_failure, locked_until) VALUES ($1, $2, $3, $4) "
                 "ON CONFLICT (key) DO UPDATE SET failures = $2, last_failure = $3, locked_until = $4")
CLEAR_THROTTLE = "DELETE FROM login_throttle WHERE key = $1"
THROTTLES = "SELECT key, failures, last_failure, locked_until FROM login_throttle WHERE key = ANY($1::text[])"


async def revoked_since(pool: asyncpg.Pool, since: datetime) -> list[RevokedToken]:
    return [from_row(RevokedToken, r) for r in await pool.fetch(REVOKED_SINCE, since)]


async def revoked_live(pool: asyncpg.Pool) -> tuple[list[RevokedToken], datetime]:
    """Every token still revoked, and the time of the latest revocation (where refreshing starts)."""
    rows = [from_row(RevokedToken, r) for r in await pool.fetch(REVOKED_LIVE)]
    return rows, await pool.fetchval(LATEST_REVOCATION)


async def record_revocation(conn: asyncpg.Connection, *, token_id: str, subject: str, expires_at: datetime) -> bool:
    """Store a revoked token id (in the caller's transaction); False when it was already known."""
    return bool(await conn.fetchval(RECORD_REVOCATION, token_id, subject, expires_at))


async def prune_revoked(pool: asyncpg.Pool) -> None:
    await pool.execute(PRUNE_REVOKED)


async def throttle_for_update(conn: asyncpg.Connection, key: str) -> LoginThrottle | None:
    row = await conn.fetchrow(THROTTLE_FOR_UPDATE, key)
    return from_row(LoginThrottle, row) if row else None


async def save_throttle(conn: asyncpg.Connection, key: str, failures: int, last_failure: datetime | None,
                        locked_until: datetime | None) -> None:
    await conn.execute(SAVE_THROTTLE, key, failures, last_failure, locked_until)


async def clear_throttle(pool: asyncpg.Pool, key: str) -> None:
    await pool.execute(CLEAR_THROTTLE, key)


async def throttles(pool: asyncpg.Pool | asyncpg.Connection, keys: list[str]) -> dict[str, LoginThrottle]:
    return {r["key"]: from_row(LoginThrottle, r) for r in await pool.fetch(THROTTLES, keys)}
