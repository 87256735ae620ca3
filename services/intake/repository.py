"""Intake's SQL, in one place."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from events.common import Worker
from services.calendar.model import local_date

OPEN = ("received", "dispatched")


async def next_case_id(conn: asyncpg.Connection, received_at: Any) -> str:
    """案件编号 such as LC20260302000123: the day received and a sequence number."""
    seq = await conn.fetchval("SELECT nextval('case_number')")
    return f"LC{local_date(received_at):%Y%m%d}{seq:06d}"


async def by_partner_ref(conn: asyncpg.Connection, *, court_case_no: str | None,
                         arbitration_case_no: str | None) -> asyncpg.Record | None:
    for kind, ref in (("court_case_no", court_case_no), ("arbitration_case_no", arbitration_case_no)):
        if ref:
            row = await conn.fetchrow(
                "SELECT c.* FROM cases c JOIN case_refs r ON r.case_id = c.case_id "
                "WHERE r.kind = $1 AND r.ref = $2 FOR UPDATE OF c", kind, ref)
            if row:
                return row
    return None


async def add_refs(conn: asyncpg.Connection, case_id: str, *, court_case_no: str | None,
                   arbitration_case_no: str | None) -> list[str]:
    """Record the partner case numbers a case is known by; returns the new ones."""
    added = []
    for kind, ref in (("court_case_no", court_case_no), ("arbitration_case_no", arbitration_case_no)):
        if ref and await conn.fetchval(
                "INSERT INTO case_refs (kind, ref, case_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1",
                kind, ref, case_id):
            added.append(ref)
    return added


async def open_match(conn: asyncpg.Connection, *, uscc: str, id_numbers: Sequence[str],
                     claim_types: Sequence[str]) -> asyncpg.Record | None:
    """An open case of the same worker(s) against the same employer with an overlapping claim."""
    return await conn.fetchrow(
        "SELECT c.* FROM cases c WHERE c.status = ANY($4::text[]) AND c.employer_uscc = $1 "
        "AND c.claim_types && $3::text[] AND EXISTS (SELECT 1 FROM case_workers w "
        "WHERE w.case_id = c.case_id AND w.id_number = ANY($2::text[])) "
        "ORDER BY c.received_at LIMIT 1 FOR UPDATE",
        uscc, list(id_numbers), list(claim_types), list(OPEN),
    )


async def insert_case(conn: asyncpg.Connection, values: dict[str, Any]) -> None:
    columns = list(values)
    await conn.execute(
        f"INSERT INTO cases ({', '.join(columns)}) VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))})",
        *values.values(),
    )


async def update_case(conn: asyncpg.Connection, case_id: str, **values: Any) -> asyncpg.Record | None:
    """Update columns (names from code, never from input); returns the updated row in the same round trip."""
    columns = list(values)
    assignments = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(columns))
    return await conn.fetchrow(f"UPDATE cases SET {assignments}, updated_at = now() WHERE case_id = $1 RETURNING *",
                               case_id, *values.values())


async def add_workers(conn: asyncpg.Connection, case_id: str, workers: Sequence[Worker]) -> int:
    """Add workers not yet on the case; returns how many were new."""
    status = await conn.execute(
        "INSERT INTO case_workers (case_id, id_number, name, phone) "
        "SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING",
        case_id, [w.id_number for w in workers], [w.name for w in workers], [w.phone for w in workers])
    return int(status.split()[-1])


async def workers_of(conn: asyncpg.Connection, case_id: str) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM case_workers WHERE case_id = $1", case_id))


async def get(conn: asyncpg.Connection | asyncpg.Pool, case_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM cases WHERE case_id = $1{' FOR UPDATE' if lock else ''}", case_id)


async def find(pool: asyncpg.Pool, *, ref: str | None, status: str | None, limit: int) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT * FROM cases c WHERE ($1::text IS NULL OR c.case_id = $1 OR EXISTS "
        "(SELECT 1 FROM case_refs r WHERE r.case_id = c.case_id AND r.ref = $1)) "
        "AND ($2::text IS NULL OR c.status = $2) ORDER BY c.received_at DESC LIMIT $3",
        ref, status, limit)


async def refs_of(conn: asyncpg.Connection | asyncpg.Pool, case_id: str) -> list[dict[str, str]]:
    rows = await conn.fetch("SELECT kind, ref FROM case_refs WHERE case_id = $1 ORDER BY kind, ref", case_id)
    return [dict(r) for r in rows]


async def prune_ingress(conn: asyncpg.Connection | asyncpg.Pool, *, days: float) -> int:
    """Forget ingress event ids older than the retention (the replay cache; DESIGN §6)."""
    status = await conn.execute("DELETE FROM ingress WHERE received_at < now() - make_interval(days => $1)",
                                int(days))
    return int(status.split()[-1])
