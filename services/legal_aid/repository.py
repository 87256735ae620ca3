"""Legal aid's SQL, all of it: aid cases (法律援助案件), the lawyers' registry and their conflicts of interest.

Functions take a connection (a pool for reads outside a unit of work) and return the models of
``services.legal_aid.models``, or plain rows for the joined list views. The backbone's ``deadlines`` table is
only read here (the worklist's decision clock); clocks change through ``ctx.deadlines``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from events.intake import CaseReclassified
from services.backbone.db import assignments
from services.backbone.models import from_row
from services.legal_aid.domain.case import LegalAidCase
from services.legal_aid.models import AidCase, Lawyer

Conn = asyncpg.Connection | asyncpg.Pool

# --- aid cases ------------------------------------------------------------------------------------------------

CASE = "SELECT * FROM aid_cases WHERE case_id = $1"
LOCK_CASE = "SELECT * FROM aid_cases WHERE case_id = $1 FOR UPDATE"
LOCK_BY_ARBITRATION_NO = "SELECT * FROM aid_cases WHERE arbitration_case_no = $1 FOR UPDATE"
CASE_EXISTS = "SELECT 1 FROM aid_cases WHERE case_id = $1"
#: intake's latest change of tier for a case not here yet (a later one replaces it), taken when the case arrives
KEEP_TIER_CHANGE = (
    "INSERT INTO pending_tier_changes (case_id, from_tier, to_tier, due_at, provisional, received_at, actor, reason, "
    "kept_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (case_id) DO UPDATE SET "
    "from_tier = EXCLUDED.from_tier, to_tier = EXCLUDED.to_tier, "
    "due_at = EXCLUDED.due_at, provisional = EXCLUDED.provisional, received_at = EXCLUDED.received_at, "
    "actor = EXCLUDED.actor, reason = EXCLUDED.reason, kept_at = EXCLUDED.kept_at")
TAKE_TIER_CHANGE = "DELETE FROM pending_tier_changes WHERE case_id = $1 RETURNING *"
CASE_UNIT = "SELECT org_unit FROM aid_cases WHERE case_id = $1"
INSERT_APPLICATION = (
    "INSERT INTO aid_cases (case_id, org_unit, source, state, applied_at, facts, employer_uscc, claim_types, "
    "disputed_points) VALUES ($1, $2, $3, 'under_review', $4, $5, $6, $7, $8)")
RECORD_APPLICANT = (
    "UPDATE aid_cases SET migrant_worker = $2, monthly_income = $3, limitation_date = $4 WHERE case_id = $1 "
    "RETURNING *")
CASE_WITH_LAWYER = (
    "SELECT c.*, l.name AS lawyer_name, l.firm AS lawyer_firm FROM aid_cases c "
    "LEFT JOIN lawyers l ON l.lawyer_id = c.lawyer_id WHERE c.case_id = $1")
#: the officers' worklist: each case with its workers and employer, its lawyer by name, and the soonest clock still
#: running (decision, lawyer assignment or the case's tier clock; on a tie, legal aid's own clock, which says more
#: than the tier's); filters are parameters, the order and the page
#: are appended by ``worklist`` from a whitelist
WORKLIST = (
    "SELECT c.case_id, c.org_unit, c.state, c.applied_at, c.claim_types, c.urgent, c.lawyer_id, "
    "l.name AS lawyer_name, c.facts->'employer'->>'name' AS employer_name, "
    "ARRAY(SELECT w->>'name' FROM jsonb_array_elements(c.facts->'workers') w) AS worker_names, "
    "c.arbitration_case_no, d.kind AS clock_kind, d.due_at AS clock_due, d.state AS clock_state, "
    "d.warned, d.paused_at IS NOT NULL AS clock_paused, "
    "EXISTS (SELECT 1 FROM deadlines b WHERE b.case_id = c.case_id AND b.state = 'breached') AS overdue, "
    "count(*) OVER () AS total FROM aid_cases c "
    "LEFT JOIN lawyers l ON l.lawyer_id = c.lawyer_id "
    "LEFT JOIN LATERAL (SELECT t.kind, t.due_at, t.state, t.warned, t.paused_at FROM deadlines t "
    "WHERE t.case_id = c.case_id AND t.state IN ('open', 'paused', 'breached') "
    "ORDER BY t.due_at, t.kind = 'tier', t.kind LIMIT 1) d ON true "
    "WHERE ($1::text[] IS NULL OR c.org_unit = ANY($1)) AND ($2::text[] IS NULL OR c.state = ANY($2)) "
    "AND ($3::text IS NULL OR strpos(lower(c.case_id), lower($3)) > 0 OR strpos(lower(c.arbitration_case_no), lower($3)) > 0 "
    "OR strpos(lower(c.facts->'employer'->>'name'), lower($3)) > 0 "
    "OR EXISTS (SELECT 1 FROM jsonb_array_elements(c.facts->'workers') w WHERE strpos(lower(w->>'name'), lower($3)) > 0)) "
    "AND (NOT $4::boolean OR EXISTS (SELECT 1 FROM deadlines b WHERE b.case_id = c.case_id AND b.state = 'breached'))")
#: what the worklist may be sorted by (key in the URL → column)
WORKLIST_SORT = {"due": "d.due_at", "applied": "c.applied_at", "case": "c.case_id", "state": "c.state",
                 "employer": "c.facts->'employer'->>'name'"}


@dataclass(frozen=True)
class CaseView:
    """A case with the name and firm of its lawyer (for the case's page)."""

    case: AidCase
    lawyer_name: str | None
    lawyer_firm: str | None


def _case(row: asyncpg.Record | None) -> AidCase | None:
    return None if row is None else from_row(AidCase, row)


def state_of(case: AidCase) -> LegalAidCase:
    """The row's state machine (domain/case.py)."""
    return LegalAidCase(case.case_id, case.state, case.decision, case.urgent, case.lawyer_id)  # type: ignore[arg-type]


async def get(conn: Conn, case_id: str) -> AidCase | None:
    return _case(await conn.fetchrow(CASE, case_id))


async def lock(conn: asyncpg.Connection, case_id: str) -> AidCase | None:
    """The case, locked for this unit of work."""
    return _case(await conn.fetchrow(LOCK_CASE, case_id))


async def lock_by_arbitration_no(conn: asyncpg.Connection, arbitration_case_no: str) -> AidCase | None:
    return _case(await conn.fetchrow(LOCK_BY_ARBITRATION_NO, arbitration_case_no))


async def keep_tier_change(conn: asyncpg.Connection, change: CaseReclassified, *, at: datetime) -> None:
    await conn.execute(KEEP_TIER_CHANGE, change.case_id, str(change.from_tier), str(change.to_tier), change.due_at,
                       change.provisional, change.received_at, change.actor, change.reason, at)


async def take_tier_change(conn: asyncpg.Connection, case_id: str) -> CaseReclassified | None:
    """The change kept for ``case_id``, now removed."""
    row = await conn.fetchrow(TAKE_TIER_CHANGE, case_id)
    return CaseReclassified.model_validate({k: v for k, v in row.items() if k != "kept_at"}) if row else None


async def exists(conn: Conn, case_id: str) -> bool:
    return bool(await conn.fetchval(CASE_EXISTS, case_id))


async def unit_of(conn: Conn, case_id: str) -> str | None:
    """Which unit holds the case (the case guard's scope lookup); None: not here."""
    return await conn.fetchval(CASE_UNIT, case_id)


async def add_application(conn: asyncpg.Connection, *, case_id: str, org_unit: str, source: str, applied_at: datetime,
                          facts: dict[str, Any], employer_uscc: str, claim_types: Sequence[str],
                          disputed_points: Sequence[str]) -> None:
    await conn.execute(INSERT_APPLICATION, case_id, org_unit, source, applied_at, facts, employer_uscc,
                       list(claim_types), list(disputed_points))


async def record_applicant(conn: asyncpg.Connection, case_id: str, *, migrant_worker: bool,
                           monthly_income: Decimal | None, limitation_date: date | None) -> AidCase | None:
    """What eligibility turns on; the case as it now is (None: no such case)."""
    return _case(await conn.fetchrow(RECORD_APPLICANT, case_id, migrant_worker, monthly_income, limitation_date))


async def save(conn: asyncpg.Connection, case: LegalAidCase, **columns: Any) -> None:
    """The state machine's fields, and any other ``columns`` the step sets."""
    values = {"state": case.state, "decision": case.decision, "urgent": case.urgent, "lawyer_id": case.lawyer_id,
              **columns}
    await conn.execute(f"UPDATE aid_cases SET {assignments(list(values))}, updated_at = now() WHERE case_id = $1",
                       case.case_id, *values.values())


async def view(pool: Conn, case_id: str) -> CaseView | None:
    row = await pool.fetchrow(CASE_WITH_LAWYER, case_id)
    if row is None:
        return None
    return CaseView(from_row(AidCase, row), row["lawyer_name"], row["lawyer_firm"])


async def worklist(pool: Conn, *, units: Sequence[str] | None, states: Sequence[str] | None, q: str | None = None,
                   overdue: bool = False, order: str = "d.due_at ASC NULLS LAST", limit: int = 25,
                   offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    """One page of the worklist and how many rows match in all; ``order`` comes from ``WORKLIST_SORT`` only."""
    rows = await pool.fetch(f"{WORKLIST} ORDER BY {order}, c.applied_at, c.case_id LIMIT $5 OFFSET $6",
                            list(units) if units is not None else None, list(states) if states is not None else None,
                            (q or "").strip() or None, overdue, limit, offset)
    return [dict(r) for r in rows], (rows[0]["total"] if rows else 0)


# --- lawyers --------------------------------------------------------------------------------------------------

_OPEN_CASES = "(SELECT count(*) FROM aid_cases c WHERE c.lawyer_id = l.lawyer_id AND c.state = 'represented')"
#: active lawyers of the given units, with their open cases and whether they may not act against the employer
CANDIDATES = (
    f"SELECT l.*, {_OPEN_CASES} AS open_cases, "
    "EXISTS (SELECT 1 FROM lawyer_conflicts x WHERE x.lawyer_id = l.lawyer_id AND x.uscc = $2) AS conflicted "
    "FROM lawyers l WHERE l.active AND l.org_unit = ANY($1::text[])")
REGISTRY = (f"SELECT l.*, {_OPEN_CASES} AS open_cases FROM lawyers l WHERE $1::text IS NULL OR l.org_unit = $1 "
            "ORDER BY l.org_unit, l.lawyer_id")
LAWYER_UNIT = "SELECT org_unit FROM lawyers WHERE lawyer_id = $1"
ADD_LAWYER = (
    "INSERT INTO lawyers (lawyer_id, name, firm, org_unit, capacity, specialties) VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT DO NOTHING RETURNING 1")
ADD_CONFLICT = "INSERT INTO lawyer_conflicts (lawyer_id, uscc, note) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
SEED_LAWYER = (
    "INSERT INTO lawyers (lawyer_id, name, firm, org_unit, capacity, specialties) VALUES ($1, $2, $3, $4, $5, $6) "
    "ON CONFLICT (lawyer_id) DO NOTHING")
SEED_CONFLICT = "INSERT INTO lawyer_conflicts (lawyer_id, uscc) VALUES ($1, $2) ON CONFLICT DO NOTHING"


@dataclass(frozen=True)
class LawyerLoad:
    """A lawyer with the cases they represent now (and, for an assignment, a conflict with the employer)."""

    lawyer: Lawyer
    open_cases: int
    conflicted: bool = False


def _load(row: asyncpg.Record) -> LawyerLoad:
    return LawyerLoad(from_row(Lawyer, row), row["open_cases"], bool(row.get("conflicted", False)))


async def candidates(conn: Conn, units: Sequence[str], *, employer_uscc: str) -> list[LawyerLoad]:
    return [_load(r) for r in await conn.fetch(CANDIDATES, list(units), employer_uscc)]


async def registry(pool: Conn, *, org_unit: str | None) -> list[LawyerLoad]:
    return [_load(r) for r in await pool.fetch(REGISTRY, org_unit)]


async def lawyer_unit(conn: Conn, lawyer_id: str) -> str | None:
    return await conn.fetchval(LAWYER_UNIT, lawyer_id)


async def add_lawyer(conn: Conn, *, lawyer_id: str, name: str, firm: str, org_unit: str, capacity: int,
                     specialties: Sequence[str]) -> bool:
    """False: the lawyer number is taken."""
    return bool(await conn.fetchval(ADD_LAWYER, lawyer_id, name, firm, org_unit, capacity, list(specialties)))


async def add_conflict(conn: Conn, *, lawyer_id: str, uscc: str, note: str) -> None:
    await conn.execute(ADD_CONFLICT, lawyer_id, uscc, note)


async def seed(conn: Conn, lawyers: Iterable[tuple[str, str, str, str, int, list[str]]],
               conflicts: Iterable[tuple[str, str]]) -> None:
    """Lawyers (and their conflicts) from configuration; ones already registered are left as they are."""
    await conn.executemany(SEED_LAWYER, list(lawyers))
    await conn.executemany(SEED_CONFLICT, list(conflicts))
