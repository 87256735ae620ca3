"""Every statement on mediation's tables (mediation_cases, mediators, partner_refs, sessions), in one place.

Writes take the use case's connection; reads for pages take the pool. Rows come back as the models of
``services.mediation.models`` (or plain dicts for views that join other tables).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import asyncpg

from services.backbone.db import assignments, fetchrow_whole
from services.backbone.models import from_row
from services.backbone.usecase import found, held_if_allowed
from services.mediation.domain.case import OPEN_STATES, MediationCase
from services.mediation.models import MediationCaseRecord, MediationSession, Mediator
from services.staffing.assignment import Load

if TYPE_CHECKING:
    from services.backbone.consumer import HandlerContext

Executor = asyncpg.Connection | asyncpg.Pool

# --- cases -----------------------------------------------------------------------------------------------

CASE = "SELECT * FROM mediation_cases WHERE case_id = $1"
LOCK_CASE = "SELECT * FROM mediation_cases WHERE case_id = $1 FOR UPDATE"
#: the case locked only if no other transaction holds it now (nothing, otherwise: ``checked``)
LOCK_CASE_UNHELD = LOCK_CASE + " SKIP LOCKED"
CASE_SCOPE = ("SELECT org_unit, mediator_id, state, coalesce(court_code, bureau_code) AS partner_code "
              "FROM mediation_cases WHERE case_id = $1")
INSERT_CASE = (
    "INSERT INTO mediation_cases (case_id, org_unit, kind, state, tier, due_at, received_at, court_code, court_case_no, "
    "referral_kind, procedure, bureau_code, arbitration_case_no, facts, group_dispute) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) "
    "ON CONFLICT (case_id) DO NOTHING RETURNING *"
)
SET_TIER = "UPDATE mediation_cases SET tier = $2, due_at = $3, updated_at = now() WHERE case_id = $1"
#: cases waiting for a mediator with room, earliest due first (index mediation_cases_waiting)
WAITING = (
    "SELECT case_id, org_unit FROM mediation_cases WHERE state = 'awaiting_assignment' "
    "ORDER BY due_at NULLS LAST, case_id LIMIT $1"
)
#: each case once, with its current tier clock: a reopened case (重新调解) has had one per cycle (the first met,
#: the new one open); the active one (open/paused/breached, at most one by the deadlines_active index) wins,
#: else the latest (a resolved case's last clock). ``overdue`` and ``at_risk`` are the supervisors' board's
#: definitions (services/supervision: projection._deadline raises and resolves the alerts, repository.OVERDUE_NOW
#: counts them): 已超期 = an open case whose tier clock is breached; 临期 = not overdue, and one of the case's
#: clocks has passed its warning point and is still running or paused (the board's open warning alert).
_CASES = (
    "SELECT c.*, d.state AS tier_state, d.warned AS tier_warned, d.due_at AS tier_due_at, m.name AS mediator_name, "
    "(c.state <> 'resolved' AND d.state IS NOT DISTINCT FROM 'breached') AS overdue, "
    "(c.state <> 'resolved' AND d.state IS DISTINCT FROM 'breached' AND EXISTS (SELECT 1 FROM deadlines w "
    "WHERE w.case_id = c.case_id AND w.owner = 'mediation' AND w.warned AND w.state IN ('open', 'paused'))) AS at_risk "
    "FROM mediation_cases c "
    "LEFT JOIN LATERAL (SELECT t.state, t.warned, t.due_at FROM deadlines t "
    "WHERE t.case_id = c.case_id AND t.kind = 'tier' AND t.owner = 'mediation' "
    "ORDER BY t.state IN ('open', 'paused', 'breached') DESC, t.started_at DESC LIMIT 1) d ON true "
    "LEFT JOIN mediators m ON m.mediator_id = c.mediator_id"
)
#: a worklist's filters: units ($1, NULL: all), the mediator's own cases ($2), also a station mediator's cases of
#: the parent unit ($3), resolved too ($4), the search text ($5: case number, 法院案号, 仲裁案号, worker, employer),
#: state ($6), tier ($7), due ($8: overdue | at_risk)
_FILTERED = (
    f"SELECT * FROM ({_CASES}) x WHERE ($1::text[] IS NULL OR x.org_unit = ANY($1) OR x.mediator_id = $3::text) "
    "AND ($2::text IS NULL OR x.mediator_id = $2) AND ($4::boolean OR $6::text = 'resolved' OR x.state <> 'resolved') "
    "AND ($5::text IS NULL OR x.case_id ILIKE $5 OR x.court_case_no ILIKE $5 OR x.arbitration_case_no ILIKE $5 "
    "OR x.facts->'employer'->>'name' ILIKE $5 OR EXISTS (SELECT 1 FROM jsonb_array_elements(x.facts->'workers') w "
    "WHERE w->>'name' ILIKE $5)) AND ($6::text IS NULL OR x.state = $6) AND ($7::text IS NULL OR x.tier = $7) "
    "AND ($8::text IS NULL OR ($8 = 'overdue' AND x.overdue) OR ($8 = 'at_risk' AND x.at_risk))"
)
WORKLIST_COUNT = f"SELECT count(*) FROM ({_FILTERED}) f"
#: the columns a worklist sorts by (services.web.paging.sort_key); the due time first by default
WORKLIST_SORT = {"due": "COALESCE(tier_due_at, due_at)", "case": "case_id", "state": "state", "tier": "tier",
                 "received": "received_at", "employer": "facts->'employer'->>'name'", "mediator": "mediator_name"}
_PAGE = "{filtered} ORDER BY {order}, case_id LIMIT $9 OFFSET $10"
#: one case's whole file in one statement (one snapshot, one round trip instead of seven): its worklist line, its
#: clocks (deadlines, read whole), its log, its sessions, and the names of the mediators the file mentions (who
#: acted, whom the case was taken from or given to, who holds it) as (id, name) pairs
CASE_FILE = (
    "SELECT x.*, "
    "ARRAY(SELECT d FROM deadlines d WHERE d.case_id = x.case_id AND d.owner = 'mediation' ORDER BY d.started_at) "
    "AS file_clocks, "
    "ARRAY(SELECT l FROM case_log l WHERE l.case_id = x.case_id ORDER BY l.id) AS file_log, "
    "ARRAY(SELECT s FROM sessions s WHERE s.case_id = x.case_id ORDER BY s.scheduled_at) AS file_sessions, "
    "ARRAY(SELECT (m.mediator_id, m.name) FROM mediators m WHERE m.mediator_id = ANY(ARRAY(SELECT unnest(ARRAY["
    "l.actor, l.detail->>'previous', l.detail->>'mediator_id']) FROM case_log l WHERE l.case_id = x.case_id) "
    "|| x.mediator_id)) AS file_names "
    f"FROM ({_CASES}) x WHERE x.case_id = $1")
WORKLIST = _PAGE.format(filtered=_FILTERED, order="COALESCE(tier_due_at, due_at) ASC NULLS LAST")

# --- partner references (the court's / the bureau's case numbers) ----------------------------------------

CASE_BY_REF = (
    "SELECT c.* FROM mediation_cases c JOIN partner_refs r ON r.case_id = c.case_id "
    "WHERE r.kind = $1 AND r.ref = $2 FOR UPDATE OF c"
)
ADD_REF = "INSERT INTO partner_refs (kind, ref, case_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"

# --- mediators -------------------------------------------------------------------------------------------

LOADS = (
    "SELECT m.mediator_id, m.name, m.org_unit, m.capacity, count(c.case_id) AS open_cases, "
    "count(c.case_id) FILTER (WHERE c.due_at <= $3) AS due_soon "
    "FROM mediators m LEFT JOIN mediation_cases c ON c.mediator_id = m.mediator_id AND c.state = ANY($2::text[]) "
    "WHERE m.active AND m.org_unit = ANY($1::text[]) GROUP BY m.mediator_id"
)
MEDIATOR = "SELECT * FROM mediators WHERE mediator_id = $1"
INSERT_MEDIATOR = (
    "INSERT INTO mediators (mediator_id, name, org_unit, capacity, specialties) VALUES ($1, $2, $3, $4, $5) "
    "ON CONFLICT (mediator_id) DO NOTHING RETURNING *"
)
UPDATE_MEDIATOR = (
    "UPDATE mediators SET capacity = COALESCE($2, capacity), active = COALESCE($3, active), updated_at = now() "
    "WHERE mediator_id = $1 RETURNING *"
)
MEDIATORS = (
    "SELECT m.*, (SELECT count(*) FROM mediation_cases c WHERE c.mediator_id = m.mediator_id "
    "AND c.state IN ('offered', 'in_mediation', 'awaiting_confirmation')) AS open_cases FROM mediators m "
    "WHERE $1::text IS NULL OR m.org_unit = $1 ORDER BY m.org_unit, m.mediator_id"
)

# --- sessions --------------------------------------------------------------------------------------------

INSERT_SESSION = (
    "INSERT INTO sessions (session_id, case_id, scheduled_at, location, created_by) VALUES ($1, $2, $3, $4, $5)"
)
RECORD_SESSION = (
    "UPDATE sessions SET held_at = $3, parties_present = $4, notes = $5, result = $6 "
    "WHERE case_id = $1 AND session_id = $2 "
    "RETURNING *"
)


# --- cases -----------------------------------------------------------------------------------------------


def record_of(row: Mapping[str, Any]) -> MediationCaseRecord:
    """The case's row out of a row that holds it whole (a worklist line: ``c.*`` and its joined columns)."""
    return from_row(MediationCaseRecord, row)


def _case(row: asyncpg.Record | None) -> MediationCaseRecord | None:
    return record_of(row) if row is not None else None


async def get(conn: Executor, case_id: str, *, lock: bool = False, wait: bool = True) -> MediationCaseRecord | None:
    """The case as stored; ``lock``: held for the rest of the caller's transaction. Locking and not ``wait``: locked
    only if no other transaction holds it this moment, None otherwise (as for a case that is not there)."""
    return _case(await conn.fetchrow((LOCK_CASE if wait else LOCK_CASE_UNHELD) if lock else CASE, case_id))


def missing(case_id: str) -> str:
    """The one answer for a mediation case that is not here, or not the caller's."""
    return f"调解案件 {case_id} 不存在"


#: where ``checked`` leaves the row it locked, for the use case's own ``held`` to take
_CHECKED = "mediation.checked"


async def checked(ctx: HandlerContext, case_id: str, check: Callable[[CaseScope | None], None]) -> None:
    """The case locked for a route's use case, and the caller's right to write it checked on that row (``check``
    raises); the row is the one the use case's ``held`` then takes (no second read). Only a caller who may write
    the case ever waits for its lock (``usecase.held_if_allowed``)."""
    record = await held_if_allowed(lambda: get(ctx.conn, case_id, lock=True, wait=False),
                                   lambda: get(ctx.conn, case_id), lambda: get(ctx.conn, case_id, lock=True),
                                   lambda r: check(CaseScope.of(r) if r is not None else None))
    if record is not None:
        ctx.batch_memo[_CHECKED] = record


async def held(ctx: HandlerContext, case_id: str) -> tuple[MediationCaseRecord, MediationCase]:
    """The case a use case acts on, locked, with its state machine; NotFound when there is none. Locked and
    checked already by this unit of work (``checked``): that row, not read again."""
    record = ctx.batch_memo.pop(_CHECKED, None)
    if record is None or record.case_id != case_id:
        record = found(await get(ctx.conn, case_id, lock=True), missing(case_id))
    return record, domain(record)


def domain(record: MediationCaseRecord) -> MediationCase:
    """The stored case's state machine (services.mediation.domain.case)."""
    return MediationCase(case_id=record.case_id, org_unit=record.org_unit, kind=record.kind,
                         state=record.state,  # type: ignore[arg-type]
                         mediator_id=record.mediator_id, declined_by=tuple(record.declined_by),
                         signed_at=record.signed_at, outcome=record.outcome, court_case_no=record.court_case_no)


@dataclass(frozen=True)
class CaseScope:
    """Who holds a case (for the guard): its unit, its mediator, its state, the court or bureau that referred it."""

    org_unit: str
    mediator_id: str | None
    state: str
    partner_code: str | None = None

    @classmethod
    def of(cls, record: MediationCaseRecord) -> CaseScope:
        return cls(record.org_unit, record.mediator_id, record.state,
                   record.court_code if record.court_code is not None else record.bureau_code)


async def scope(pool: Executor, case_id: str) -> CaseScope | None:
    row = await pool.fetchrow(CASE_SCOPE, case_id)
    return CaseScope(row["org_unit"], row["mediator_id"], row["state"], row["partner_code"]) if row is not None \
        else None


async def insert(conn: asyncpg.Connection, *, case_id: str, org_unit: str, kind: str, state: str, tier: str,
                 due_at: datetime, received_at: datetime, court_code: str | None, court_case_no: str | None,
                 referral_kind: str | None, procedure: str | None, bureau_code: str | None,
                 arbitration_case_no: str | None, facts: dict[str, Any], group_dispute: bool) -> MediationCaseRecord | None:
    """The new case's row (this transaction holds it); None when the case is here already (nothing written)."""
    return _case(await conn.fetchrow(INSERT_CASE, case_id, org_unit, kind, state, tier, due_at, received_at,
                                     court_code, court_case_no, referral_kind, procedure, bureau_code,
                                     arbitration_case_no, facts, group_dispute))


async def save(conn: asyncpg.Connection, case: MediationCase, **extra: Any) -> None:
    """Write the state machine's fields back, with ``extra`` columns (agreement, disputed_points, …)."""
    values = {"org_unit": case.org_unit, "state": case.state, "mediator_id": case.mediator_id,
              "declined_by": list(case.declined_by), "signed_at": case.signed_at, "outcome": case.outcome, **extra}
    await conn.execute(f"UPDATE mediation_cases SET {assignments(list(values))}, updated_at = now() WHERE case_id = $1",
                       case.case_id, *values.values())


async def set_tier(conn: asyncpg.Connection, case_id: str, tier: str, due_at: datetime) -> None:
    await conn.execute(SET_TIER, case_id, tier, due_at)


async def waiting(pool: Executor, *, limit: int) -> list[tuple[str, str]]:
    """(case_id, org_unit) of cases waiting for a mediator, earliest due first."""
    return [(r["case_id"], r["org_unit"]) for r in await pool.fetch(WAITING, limit)]


@dataclass(frozen=True)
class WorklistFilter:
    """Which cases a worklist shows (every field optional; see ``_FILTERED``)."""

    org_units: Sequence[str] | None = None
    mediator_id: str | None = None
    also_assigned_to: str | None = None
    include_resolved: bool = False
    text: str | None = None
    state: str | None = None
    tier: str | None = None
    due: str | None = None

    def params(self) -> tuple[Any, ...]:
        pattern = None
        if self.text and self.text.strip():
            escaped = self.text.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            pattern = f"%{escaped}%"
        return (list(self.org_units) if self.org_units is not None else None, self.mediator_id,
                self.also_assigned_to, self.include_resolved, pattern, self.state, self.tier, self.due)


async def worklist(pool: Executor, *, org_unit: str | None = None, mediator_id: str | None = None,
                   include_resolved: bool = False, limit: int = 200, also_assigned_to: str | None = None,
                   where: WorklistFilter | None = None, order: str | None = None,
                   offset: int = 0) -> list[dict[str, Any]]:
    """A unit's cases (and ``also_assigned_to``'s: a station's mediator may carry a case its parent unit holds),
    each with its tier clock (tier_state, tier_warned, tier_due_at), overdue / at_risk and its mediator's name;
    ``where`` (search and filters) replaces the first arguments; ``order``: a clause from ``WORKLIST_SORT``."""
    where = where or WorklistFilter(org_units=[org_unit] if org_unit else None, mediator_id=mediator_id,
                                    also_assigned_to=also_assigned_to, include_resolved=include_resolved)
    statement = WORKLIST if order is None else _PAGE.format(filtered=_FILTERED, order=order)
    return [dict(r) for r in await pool.fetch(statement, *where.params(), limit, offset)]


async def case_file(pool: Executor, case_id: str) -> dict[str, Any] | None:
    """``CASE_FILE``: the line's columns, and ``file_clocks``, ``file_log``, ``file_sessions`` (rows read whole),
    ``file_names`` (mediator id -> name)."""
    row = await fetchrow_whole(pool, CASE_FILE, case_id)
    if row is None:
        return None
    out = dict(row)
    out["file_names"] = dict(out["file_names"])
    return out


async def worklist_count(pool: Executor, where: WorklistFilter) -> int:
    return int(await pool.fetchval(WORKLIST_COUNT, *where.params()))


# --- partner references ----------------------------------------------------------------------------------


async def by_ref(conn: asyncpg.Connection, kind: str, ref: str) -> MediationCaseRecord | None:
    """The case a partner's number (``court_case_no`` / ``arbitration_case_no``) refers to, locked."""
    return _case(await conn.fetchrow(CASE_BY_REF, kind, ref))


async def add_ref(conn: asyncpg.Connection, kind: str, ref: str | None, case_id: str) -> None:
    if ref:
        await conn.execute(ADD_REF, kind, ref, case_id)


# --- mediators -------------------------------------------------------------------------------------------


async def loads(conn: asyncpg.Connection, units: Sequence[str], *, soon: datetime) -> list[Load]:
    """The active mediators of ``units`` with their open cases (and how many of those fall due by ``soon``)."""
    rows = await conn.fetch(LOADS, list(units), [s for s in OPEN_STATES if s != "awaiting_assignment"], soon)
    return [Load(r["mediator_id"], r["name"], r["org_unit"], r["capacity"], r["open_cases"], r["due_soon"])
            for r in rows]


async def mediator(conn: Executor, mediator_id: str) -> Mediator | None:
    row = await conn.fetchrow(MEDIATOR, mediator_id)
    return from_row(Mediator, row) if row is not None else None


async def insert_mediator(conn: Executor, *, mediator_id: str, name: str, org_unit: str, capacity: int,
                          specialties: Sequence[str]) -> Mediator | None:
    """The new mediator, or None when the number is taken."""
    row = await conn.fetchrow(INSERT_MEDIATOR, mediator_id, name, org_unit, capacity, list(specialties))
    return from_row(Mediator, row) if row is not None else None


async def seed_mediators(conn: Executor, rows: Sequence[tuple[str, str, str, int, list[str]]]) -> None:
    """(mediator_id, name, org_unit, capacity, specialties) rows; numbers already registered are left alone."""
    await conn.executemany(INSERT_MEDIATOR, rows)


async def update_mediator(conn: Executor, mediator_id: str, *, capacity: int | None,
                          active: bool | None) -> Mediator | None:
    row = await conn.fetchrow(UPDATE_MEDIATOR, mediator_id, capacity, active)
    return from_row(Mediator, row) if row is not None else None


async def mediators(pool: Executor, *, org_unit: str | None) -> list[dict[str, Any]]:
    """The registry (one unit's, or all), each mediator with the number of open cases they carry."""
    return [dict(r) for r in await pool.fetch(MEDIATORS, org_unit)]


# --- sessions --------------------------------------------------------------------------------------------


async def insert_session(conn: asyncpg.Connection, *, case_id: str, scheduled_at: datetime, location: str,
                         created_by: str) -> uuid.UUID:
    session_id = uuid.uuid4()
    await conn.execute(INSERT_SESSION, session_id, case_id, scheduled_at, location, created_by)
    return session_id


async def record_session(conn: asyncpg.Connection, case_id: str, session_id: uuid.UUID, *, held_at: datetime,
                         parties_present: list[str], notes: str, result: str = "") -> MediationSession | None:
    """The session as recorded; None when the case has no such session."""
    row = await conn.fetchrow(RECORD_SESSION, case_id, session_id, held_at, parties_present, notes, result)
    return from_row(MediationSession, row) if row is not None else None
