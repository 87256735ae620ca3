"""Follow-up's SQL, in one place: the cases followed up (``followup_cases``) and their calls (``followups``).

Every statement is a named constant (a test PREPAREs each against a freshly migrated database); the functions
take a connection (a pool for reads) and return the models of ``services.followup.models``, or a typed row for
the worklist's join.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from services.backbone.db import assignments, fetchrow_whole, json_text
from services.backbone.models import from_row
from services.followup.models import CaseFacts, Followup, FollowupCase

Conn = asyncpg.Connection | asyncpg.Pool

# --- the case followed up --------------------------------------------------------------------------------

CASE = "SELECT * FROM followup_cases WHERE case_id = $1"
#: A resolved case enters follow-up: the first cycle, or the next one after a reopening (what the last cycle learnt
#: of the worker — satisfaction, comment, flag — stays). A case being followed up already (a redelivered or late
#: duplicate of the resolution) is left as it is, locked, and no row comes back.
START_CYCLE = (
    "INSERT INTO followup_cases (case_id, source, org_unit, outcome, resolved_at, confirmed_by_court, agreement, "
    "state, cycle) VALUES ($1, $2, $3, $4, $5, $6, $7, 'monitoring', 1) "
    "ON CONFLICT (case_id) DO UPDATE SET source = EXCLUDED.source, org_unit = EXCLUDED.org_unit, "
    "outcome = EXCLUDED.outcome, resolved_at = EXCLUDED.resolved_at, confirmed_by_court = EXCLUDED.confirmed_by_court, "
    "agreement = EXCLUDED.agreement, state = 'monitoring', cycle = followup_cases.cycle + 1, closed_at = NULL, "
    "updated_at = now() WHERE followup_cases.state <> 'monitoring' "
    "RETURNING *")
#: Which case a call belongs to, and the unit holding it (the guard's scope lookup).
CALL_SCOPE = ("SELECT c.case_id, c.org_unit FROM followups f JOIN followup_cases c USING (case_id) "
              "WHERE f.followup_id = $1")

# --- its calls --------------------------------------------------------------------------------------------

#: A call and its case, both locked for the unit of work that records the call (one round trip, not two).
CALL_AND_CASE = "SELECT f, c FROM followups f JOIN followup_cases c USING (case_id) WHERE f.followup_id = $1"
CALL_AND_CASE_FOR_UPDATE = CALL_AND_CASE + " FOR UPDATE OF f, c"
#: both locked only if no other transaction holds either now (nothing, otherwise: services/followup/calls.py)
CALL_AND_CASE_UNHELD = CALL_AND_CASE_FOR_UPDATE + " SKIP LOCKED"
INSERT_CALL = (
    "INSERT INTO followups (followup_id, case_id, cycle, kind, seq, due_date, instalment_due, amount, state, attempts, "
    "comment) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)")
#: A call's outcome so far (attempts, the day of the next one, what the worker said).
SAVE_CALL = (
    "UPDATE followups SET state = $2, attempts = $3, due_date = $4, reached = $5, paid = $6, satisfaction = $7, "
    "comment = $8, done_at = $9 WHERE followup_id = $1")
CYCLE_CALLS = "SELECT * FROM followups WHERE case_id = $1 AND cycle = $2"
CASE_CALLS = "SELECT * FROM followups WHERE case_id = $1 ORDER BY cycle, due_date, seq"
CANCEL_SCHEDULED = ("UPDATE followups SET state = 'cancelled' WHERE case_id = $1 AND cycle = $2 AND state = 'scheduled' "
                    "RETURNING *")
#: the calls still to make, with who to call and what the case is about; filters are parameters ($2: the first
#: due date shown, $3: the last; $4: a search on case number, worker or employer), the order and the page are
#: appended by ``worklist`` from ``WORKLIST_SORT``
WORKLIST = (
    "SELECT f.*, c.org_unit, c.outcome, c.agreement IS NOT NULL AS has_agreement, c.source, "
    "x.workers, x.employer, x.summary, count(*) OVER () AS total FROM followups f "
    "JOIN followup_cases c USING (case_id) LEFT JOIN case_facts x USING (case_id) WHERE f.state = 'scheduled' "
    "AND ($1::text[] IS NULL OR c.org_unit = ANY($1::text[])) "
    "AND ($2::date IS NULL OR f.due_date >= $2) AND ($3::date IS NULL OR f.due_date <= $3) "
    "AND ($4::text IS NULL OR strpos(lower(f.case_id), lower($4)) > 0 OR strpos(lower(x.employer), lower($4)) > 0 "
    "OR EXISTS (SELECT 1 FROM jsonb_array_elements(x.workers) w WHERE strpos(lower(w->>'name'), lower($4)) > 0))")
WORKLIST_SORT = {"due": "f.due_date", "case": "f.case_id", "kind": "f.kind", "attempts": "f.attempts"}
#: intake told us who the cases are about (registered, or dispatched again with more workers): one row a case,
#: as the last event about it said (workers as JSON text)
REMEMBER_FACTS = (
    "INSERT INTO case_facts (case_id, workers, employer, summary) "
    "SELECT c, w::jsonb, e, s FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS f(c, w, e, s) "
    "ON CONFLICT (case_id) DO UPDATE SET workers = EXCLUDED.workers, employer = EXCLUDED.employer, "
    "summary = EXCLUDED.summary, updated_at = now()")
FACTS = "SELECT * FROM case_facts WHERE case_id = $1"
CALL = "SELECT * FROM followups WHERE followup_id = $1"


def call_id(followup_id: str) -> uuid.UUID | None:
    """A call's id from the path; anything that is not one names no call."""
    try:
        return uuid.UUID(followup_id)
    except ValueError:
        return None


async def case(conn: Conn, case_id: str) -> FollowupCase | None:
    row = await conn.fetchrow(CASE, case_id)
    return from_row(FollowupCase, row) if row else None


async def start_cycle(conn: asyncpg.Connection, *, case_id: str, source: str, org_unit: str, outcome: str,
                      resolved_at: datetime, confirmed_by_court: bool,
                      agreement: dict[str, Any] | None) -> FollowupCase | None:
    """The case's first cycle, or its next; None when it is being followed up already (nothing written)."""
    row = await conn.fetchrow(START_CYCLE, case_id, source, org_unit, outcome, resolved_at, confirmed_by_court,
                              agreement)
    return from_row(FollowupCase, row) if row else None


async def update_case(conn: asyncpg.Connection, case_id: str, **changes: Any) -> FollowupCase:
    """Change some of a case's columns (its state, the worker's satisfaction, the flag); the case as it now is."""
    case = await update_if_here(conn, case_id, **changes)
    assert case is not None, f"follow-up case {case_id} vanished inside its unit of work"
    return case


async def update_if_here(conn: asyncpg.Connection, case_id: str, **changes: Any) -> FollowupCase | None:
    """``update_case`` for a case that may not be followed up here: None, and nothing written, when it is not."""
    row = await conn.fetchrow(f"UPDATE followup_cases SET {assignments(list(changes))}, updated_at = now() "
                              "WHERE case_id = $1 RETURNING *", case_id, *changes.values())
    return from_row(FollowupCase, row) if row else None


@dataclass(frozen=True)
class CallScope:
    """Where a call's case is held (for the guard)."""

    case_id: str
    org_unit: str


async def call_scope(pool: Conn, followup_id: uuid.UUID) -> CallScope | None:
    row = await pool.fetchrow(CALL_SCOPE, followup_id)
    return CallScope(row["case_id"], row["org_unit"]) if row else None


async def locked_call_and_case(conn: asyncpg.Connection, followup_id: uuid.UUID, *, wait: bool = True
                               ) -> tuple[Followup, FollowupCase] | None:
    """The call and its case, both locked for the unit of work that records the call (the call's row first, as
    every writer of both takes them). Not ``wait``: locked only if no other transaction holds either this moment,
    None otherwise (as for a call that is not there)."""
    return _call_and_case(await fetchrow_whole(conn, CALL_AND_CASE_FOR_UPDATE if wait else CALL_AND_CASE_UNHELD,
                                               followup_id))


async def call_and_case(conn: asyncpg.Connection, followup_id: uuid.UUID) -> tuple[Followup, FollowupCase] | None:
    """The call and its case as last committed, not locked."""
    return _call_and_case(await fetchrow_whole(conn, CALL_AND_CASE, followup_id))


def _call_and_case(row: asyncpg.Record | None) -> tuple[Followup, FollowupCase] | None:
    return (from_row(Followup, row["f"]), from_row(FollowupCase, row["c"])) if row else None


async def insert_call(conn: asyncpg.Connection, *, case_id: str, cycle: int, kind: str, seq: int, due_date: date,
                      instalment_due: date | None, amount: Decimal | None) -> Followup:
    planned = Followup(followup_id=uuid.uuid4(), case_id=case_id, cycle=cycle, kind=kind, seq=seq, due_date=due_date,
                       instalment_due=instalment_due, amount=amount, state="scheduled", attempts=0, comment="")
    await conn.execute(INSERT_CALL, planned.followup_id, planned.case_id, planned.cycle, planned.kind, planned.seq,
                       planned.due_date, planned.instalment_due, planned.amount, planned.state, planned.attempts,
                       planned.comment)
    return planned


async def save_call(conn: asyncpg.Connection, call: Followup) -> None:
    await conn.execute(SAVE_CALL, call.followup_id, call.state, call.attempts, call.due_date, call.reached, call.paid,
                       call.satisfaction, call.comment, call.done_at)


async def cycle_calls(conn: asyncpg.Connection, case_id: str, cycle: int) -> list[Followup]:
    return [from_row(Followup, r) for r in await conn.fetch(CYCLE_CALLS, case_id, cycle)]


async def case_calls(pool: Conn, case_id: str) -> list[Followup]:
    return [from_row(Followup, r) for r in await pool.fetch(CASE_CALLS, case_id)]


async def cancel_scheduled(conn: asyncpg.Connection, case_id: str, cycle: int) -> list[Followup]:
    """The cycle's calls not made yet are not to be made: the ones cancelled."""
    return [from_row(Followup, r) for r in await conn.fetch(CANCEL_SCHEDULED, case_id, cycle)]


@dataclass(frozen=True)
class WorkItem:
    """A call to make, with what the worklist shows of its case."""

    call: Followup
    org_unit: str
    outcome: str
    has_agreement: bool
    source: str = ""
    workers: list[dict[str, Any]] = field(default_factory=list)
    employer: str | None = None
    summary: str = ""


async def worklist(pool: Conn, units: list[str] | None, limit: int, *, offset: int = 0, first: date | None = None,
                   last: date | None = None, q: str | None = None,
                   order: str = "f.due_date ASC NULLS LAST") -> tuple[list[WorkItem], int]:
    """The calls still to make (in ``units``, or everywhere) due between ``first`` and ``last`` (either open), one
    page of them and how many there are; ``order`` only from ``WORKLIST_SORT``."""
    rows = await pool.fetch(f"{WORKLIST} ORDER BY {order}, f.due_date, f.case_id, f.seq LIMIT $5 OFFSET $6",
                            units, first, last, (q or "").strip() or None, limit, offset)
    items = [WorkItem(from_row(Followup, r), r["org_unit"], r["outcome"], r["has_agreement"], r["source"],
                      list(r["workers"] or []), r["employer"], r["summary"] or "") for r in rows]
    return items, (rows[0]["total"] if rows else 0)


async def remember_facts(conn: Conn, facts: Mapping[str, tuple[list[dict[str, Any]], str, str]]) -> None:
    """Each case's facts (case_id -> workers, employer, summary) in one statement; a case's row is replaced."""
    await conn.execute(REMEMBER_FACTS, list(facts), [json_text(w) for w, _, _ in facts.values()],
                       [e for _, e, _ in facts.values()], [s for _, _, s in facts.values()])


async def facts(pool: Conn, case_id: str) -> CaseFacts | None:
    row = await pool.fetchrow(FACTS, case_id)
    return from_row(CaseFacts, row) if row else None


async def call(pool: Conn, followup_id: uuid.UUID) -> Followup | None:
    row = await pool.fetchrow(CALL, followup_id)
    return from_row(Followup, row) if row else None
