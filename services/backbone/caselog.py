"""Each service's log of what happened to a case, written in the same transaction as the change."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import asyncpg

from services.calendar.model import shanghai_iso

if TYPE_CHECKING:
    from services.backbone.consumer import HandlerContext

#: ``detail`` is jsonb (the pool encodes it).
INSERT_ENTRY = "INSERT INTO case_log (case_id, at, actor, action, detail) VALUES ($1, $2, $3, $4, $5)"
CASE_ENTRIES = "SELECT at, actor, action, detail FROM case_log WHERE case_id = $1 ORDER BY id"


async def log(ctx: HandlerContext, case_id: str, *, actor: str | None, action: str, **detail: Any) -> None:
    """One entry, stamped with the unit of work's business time."""
    await ctx.conn.execute(INSERT_ENTRY, case_id, ctx.now, actor, action,
                           json.loads(json.dumps(detail, default=str, ensure_ascii=False)))


async def entries(conn: asyncpg.Connection | asyncpg.Pool, case_id: str) -> list[dict[str, Any]]:
    return entries_of(await conn.fetch(CASE_ENTRIES, case_id))


def entries_of(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The log's entries as pages show them, out of its rows (oldest first)."""
    return [{"at": shanghai_iso(r["at"]), "actor": r["actor"], "action": r["action"], "detail": r["detail"]}
            for r in rows]
