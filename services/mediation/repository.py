"""Mediation's SQL, in one place."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.mediation.domain.case import OPEN_STATES, MediationCase
from services.staffing.assignment import Load


async def get(conn: asyncpg.Connection | asyncpg.Pool, case_id: str, *, lock: bool = False) -> asyncpg.Record | None:
    return await conn.fetchrow(f"SELECT * FROM mediation_cases WHERE case_id = $1{' FOR UPDATE' if lock else ''}",
                               case_id)


def domain(row: asyncpg.Record) -> MediationCase:
    return MediationCase(case_id=row["case_id"], org_unit=row["org_unit"], kind=row["kind"], state=row["state"],
                         mediator_id=row["mediator_id"], declined_by=tuple(row["declined_by"]),
                         signed_at=row["signed_at"], outcome=row["outcome"], court_case_no=row["court_case_no"])


async def save(conn: asyncpg.Connection, case: MediationCase, **extra: Any) -> None:
    values = {"org_unit": case.org_unit, "state": case.state, "mediator_id": case.mediator_id,
              "declined_by": list(case.declined_by), "signed_at": case.signed_at, "outcome": case.outcome, **extra}
    columns = list(values)
    assignments = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(columns))
    await conn.execute(f"UPDATE mediation_cases SET {assignments}, updated_at = now() WHERE case_id = $1",
                       case.case_id, *values.values())


async def insert(conn: asyncpg.Connection, values: dict[str, Any]) -> None:
    columns = list(values)
    await conn.execute(
        f"INSERT INTO mediation_cases ({', '.join(columns)}) "
        f"VALUES ({', '.join(f'${i + 1}' for i in range(len(columns)))})", *values.values())


async def by_ref(conn: asyncpg.Connection, kind: str, ref: str) -> asyncpg.Record | None:
    return await conn.fetchrow(
        "SELECT c.* FROM mediation_cases c JOIN partner_refs r ON r.case_id = c.case_id "
        "WHERE r.kind = $1 AND r.ref = $2 FOR UPDATE OF c", kind, ref)


async def add_ref(conn: asyncpg.Connection, kind: str, ref: str | None, case_id: str) -> None:
    if ref:
        await conn.execute("INSERT INTO partner_refs (kind, ref, case_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                           kind, ref, case_id)


async def loads(conn: asyncpg.Connection, units: Sequence[str], *, soon: datetime) -> list[Load]:
    rows = await conn.fetch(
        "SELECT m.mediator_id, m.name, m.org_unit, m.capacity, count(c.case_id) AS open_cases, "
        "count(c.case_id) FILTER (WHERE c.due_at <= $3) AS due_soon "
        "FROM mediators m LEFT JOIN mediation_cases c ON c.mediator_id = m.mediator_id AND c.state = ANY($2::text[]) "
        "WHERE m.active AND m.org_unit = ANY($1::text[]) GROUP BY m.mediator_id",
        list(units), [s for s in OPEN_STATES if s != "awaiting_assignment"], soon)
    return [Load(r["mediator_id"], r["name"], r["org_unit"], r["capacity"], r["open_cases"], r["due_soon"])
            for r in rows]


async def mediator(conn: asyncpg.Connection | asyncpg.Pool, mediator_id: str) -> asyncpg.Record | None:
    return await conn.fetchrow("SELECT * FROM mediators WHERE mediator_id = $1", mediator_id)


async def sessions_of(pool: asyncpg.Pool, case_id: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT * FROM sessions WHERE case_id = $1 ORDER BY scheduled_at", case_id)


async def worklist(pool: asyncpg.Pool, *, org_unit: str | None, mediator_id: str | None,
                   include_resolved: bool, limit: int, also_assigned_to: str | None = None) -> list[asyncpg.Record]:
    """A unit's cases (and ``also_assigned_to``'s: a station's mediator may carry a case its parent unit holds)."""
    return await pool.fetch(
        "SELECT c.*, d.state AS tier_state, d.warned AS tier_warned, d.due_at AS tier_due_at, m.name AS mediator_name "
        "FROM mediation_cases c "
        "LEFT JOIN deadlines d ON d.case_id = c.case_id AND d.kind = 'tier' AND d.owner = 'mediation' "
        "LEFT JOIN mediators m ON m.mediator_id = c.mediator_id "
        "WHERE ($1::text IS NULL OR c.org_unit = $1 OR c.mediator_id = $5) AND ($2::text IS NULL OR c.mediator_id = $2) "
        "AND ($3 OR c.state <> 'resolved') ORDER BY COALESCE(d.due_at, c.due_at) LIMIT $4",
        org_unit, mediator_id, include_resolved, limit, also_assigned_to)
