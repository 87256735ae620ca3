"""The worker's door (docs/domain/worker-door.md): what every public route shares — the one answer for an unknown
case and a wrong code, the attempts limited per case number and per address with a growing delay (the login
throttle's rules and table, ``throttle.PUBLIC_CASE`` / ``PUBLIC_ADDRESS``), the rate limit on public writes, and
the audit row's facts (the case number and the outcome; never the code or an ID number).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from fastapi import Request

from services.backbone import session_store
from services.backbone.http import Problem
from services.security import throttle
from services.security.partners import RateLimiter

#: the same words for a case that does not exist and a wrong code: nothing tells them apart
NOT_FOUND = "案件编号或查询码不正确，请核对后重试。查询码在受理回执和短信中；遗失的，请联系受理的工会工作人员重新生成。"
CASE_ID_MAX = 40


def not_found() -> Problem:
    return Problem(404, NOT_FOUND, type_="urn:laborcase:problem:not-found")


def _writes_per_hour() -> float:
    try:
        return max(1.0, float(os.environ.get("LABORCASE_PUBLIC_WRITES_PER_HOUR", "30")))
    except ValueError:
        return 30.0


#: public writes (applications, ratings, uploads) per address: a burst, then refilled over the hour (per process)
WRITES = RateLimiter(rate=_writes_per_hour() / 3600, burst=min(_writes_per_hour(), 20))


def address(request: Request) -> str:
    return getattr(request.state, "client", None) or "unknown"


def keys(case_id: str, client: str) -> tuple[str, str]:
    return f"public-case:{case_id[:CASE_ID_MAX]}", f"public-addr:{client}"


def limit_writes(request: Request) -> None:
    """The public-write rate limit: a 429 in words when one address sends too much."""
    if not WRITES.allow(address(request)):
        mark(request, None, "write", "rate_limited")
        raise Problem(429, "提交过于频繁，请稍后再试。如有急事，请拨打 12351 职工服务热线。", retry_after=60)


def mark(request: Request, case_id: str | None, action: str, outcome: str) -> None:
    """What the audit row of this public request says: the case number asked about and the outcome."""
    note(request.scope.setdefault("state", {}), case_id, action, outcome)


def note(state: dict[str, Any], case_id: str | None, action: str, outcome: str) -> None:
    """``mark`` on the request's state as the edge keeps it (``scope["state"]``), for a route without FastAPI."""
    state["audit_case"] = case_id[:CASE_ID_MAX] if case_id else None
    state["audit_action"] = action
    state["audit_detail"] = {"public": outcome}


@dataclass(frozen=True)
class Throttles:
    case: throttle.Attempts
    address: throttle.Attempts

    @classmethod
    def of(cls, row: Mapping[str, Any] | None) -> Throttles:
        row = row or {}
        return cls(throttle.Attempts(row.get("case_failures") or 0, row.get("case_last"), row.get("case_locked")),
                   throttle.Attempts(row.get("addr_failures") or 0, row.get("addr_last"), row.get("addr_locked")))

    def locked_for(self, now: datetime) -> timedelta | None:
        return max((d for d in (self.case.locked_for(now), self.address.locked_for(now)) if d), default=None)


def now() -> datetime:
    return datetime.now(UTC)  # a security clock: never the shifted business clock


def refuse_locked(request: Request, case_id: str, locked: timedelta) -> Problem:
    mark(request, case_id, "read", "locked")
    return Problem(429, f"尝试次数过多，为保护您的信息，请 {throttle.minutes(locked)} 分钟后再试",
                   retry_after=int(locked.total_seconds()) + 1)


async def read(pool: asyncpg.Pool, case_id: str, client: str) -> Throttles:
    """Both throttles (when the route does not read them with its own lookup)."""
    case_key, addr_key = keys(case_id, client)
    rows = await session_store.throttles(pool, [case_key, addr_key])

    def attempts(key: str) -> throttle.Attempts:
        r = rows.get(key)
        return throttle.Attempts(r.failures, r.last_failure, r.locked_until) if r else throttle.Attempts()

    return Throttles(attempts(case_key), attempts(addr_key))


async def failed(request: Request, pool: asyncpg.Pool, case_id: str, action: str = "read") -> Problem:
    """A wrong code or an unknown case: count it against both, wait the growing delay, and answer the one 404."""
    at = now()
    case_key, addr_key = keys(case_id, address(request))
    async with pool.acquire() as conn, conn.transaction():
        counts = []
        for key, limit in ((case_key, throttle.PUBLIC_CASE), (addr_key, throttle.PUBLIC_ADDRESS)):
            row = await session_store.throttle_for_update(conn, key)
            before = throttle.Attempts(row.failures, row.last_failure, row.locked_until) if row else throttle.Attempts()
            after = throttle.after_failure(before, at, limit)
            await session_store.save_throttle(conn, key, after.failures, after.last_failure, after.locked_until)
            counts.append(after.failures)
    mark(request, case_id, action, "not_found")
    await asyncio.sleep(throttle.answer_delay(max(counts[0], counts[1] - 25)))
    return not_found()
