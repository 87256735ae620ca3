"""Each service's log of what happened to a case, written in the same transaction as the change."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from services.backbone import db
from services.calendar.model import shanghai_iso

if TYPE_CHECKING:
    from services.backbone.consumer import HandlerContext

def insert_entries(first: int = 1) -> str:
    """A unit of work's entries, in the order they were logged, from five arrays (``columns``) numbered from
    ``$first``: case_id, at, actor, action, detail (JSON text). ``outbox`` writes them with its events this way."""
    c, a, w, x, d = (f"${n}" for n in range(first, first + 5))
    return ("INSERT INTO case_log (case_id, at, actor, action, detail) SELECT c, a, w, x, d::jsonb FROM "
            f"unnest({c}::text[], {a}::timestamptz[], {w}::text[], {x}::text[], {d}::text[]) WITH ORDINALITY "
            "AS e(c, a, w, x, d, n) ORDER BY n")


INSERT_ENTRIES = insert_entries()
CASE_ENTRIES = "SELECT at, actor, action, detail FROM case_log WHERE case_id = $1 ORDER BY id"

#: one entry held by its unit of work: case_id, at, actor, action, detail as JSON text
Entry = tuple[str, datetime, str | None, str, str]


def log(ctx: HandlerContext, case_id: str, *, actor: str | None, action: str, **detail: Any) -> None:
    """One entry, stamped with the unit of work's business time. Held by the unit of work and written at its end
    in the same transaction as the change, with the events it publishes (``HandlerContext.flush_deferred``): one
    round trip for both instead of one per entry. Nothing in a unit of work reads its own log back before then."""
    ctx.case_log.append((case_id, ctx.now, actor, action, detail_text(detail)))


def detail_text(detail: dict[str, Any]) -> str:
    """An entry's detail as JSON text: what is not JSON as its ``str``; a float that is not a number (NaN, ±∞),
    which jsonb refuses, as null — as the pool's encoder writes it."""
    try:
        return json.dumps(detail, default=str, ensure_ascii=False, allow_nan=False)
    except ValueError:
        return db.json_text(json.loads(json.dumps(detail, default=str, ensure_ascii=False)))


def columns(entries: Sequence[Entry]) -> list[list[Any]]:
    """The entries as the five arrays ``INSERT_ENTRIES`` takes."""
    return db.columns(entries, 5)


async def write(conn: asyncpg.Connection, entries: Sequence[Entry]) -> None:
    if entries:
        await conn.execute(INSERT_ENTRIES, *columns(entries))


async def entries(conn: asyncpg.Connection | asyncpg.Pool, case_id: str) -> list[dict[str, Any]]:
    return entries_of(await conn.fetch(CASE_ENTRIES, case_id))


def entries_of(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The log's entries as pages show them, out of its rows (oldest first)."""
    return [{"at": shanghai_iso(r["at"]), "actor": r["actor"], "action": r["action"], "detail": r["detail"]}
            for r in rows]
