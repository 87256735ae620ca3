"""Supervision's SQL, in one place: the projected cases, their timeline, references and deadlines, the partners'
own events, and the supervisors' alerts.

Every statement is a named constant; the projection's writes are set-based and stay SQL (one round trip each on
the hot path). Single-row reads of one table come back as models (``services.supervision.models``); list and
aggregate reads, and reads that join, as plain rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg

from services.backbone.db import assignments
from services.backbone.models import from_row
from services.supervision import fold
from services.supervision.models import Alert, Case

Db = asyncpg.Connection | asyncpg.Pool

# --- the projection's writes ---------------------------------------------------------------------------------

#: What a court or bureau sent about its own case number (attached to the case through case_refs when read).
RECORD_PARTNER_EVENT = (
    "INSERT INTO partner_events (event_id, ref, type, source, at, summary, data, sender) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING")


async def record_partner_event(conn: asyncpg.Connection, *, event_id: Any, ref: str | None, type: str, source: str,
                               at: datetime, summary: str, data: Any, sender: str | None) -> None:
    await conn.execute(RECORD_PARTNER_EVENT, event_id, ref, type, source, at, summary, data, sender)


async def set_case(conn: asyncpg.Connection, case_id: str, **values: Any) -> None:
    """Update columns of a projected case outside the projection (names from code, never from input)."""
    await conn.execute(f"UPDATE cases SET {assignments(list(values))}, updated_at = now() WHERE case_id = $1",
                       case_id, *values.values())


CASE_UNIT = "SELECT org_unit FROM cases WHERE case_id = $1"


async def case_unit(db: Db, case_id: str) -> str | None:
    return await db.fetchval(CASE_UNIT, case_id)


# --- the projection's writes, a batch at a time (services/supervision/fold.py) -----------------------------------


def _plain_column(column: str) -> str:
    return f"{column} = CASE WHEN d.j ? '{column}' THEN (d.r).{column} ELSE c.{column} END"


def _guarded_columns(column: str) -> str:
    newer = f"d.j ? '{column}' AND (c.{column}_at IS NULL OR c.{column}_at <= (d.r).{column}_at)"
    return (f"{column} = CASE WHEN {newer} THEN (d.r).{column} ELSE c.{column} END, "
            f"{column}_at = CASE WHEN {newer} THEN (d.r).{column}_at ELSE c.{column}_at END")


_NAMES = ("CASE WHEN d.j ? '+parties' THEN ARRAY(SELECT DISTINCT unnest(c.worker_names || (d.r).worker_names)) "
          "ELSE c.worker_names END")
_IDS = ("CASE WHEN d.j ? '+parties' THEN ARRAY(SELECT DISTINCT unnest(c.worker_ids || (d.r).worker_ids)) "
        "ELSE c.worker_ids END")
_EMPLOYER = "CASE WHEN d.j ? 'employer_name' THEN (d.r).employer_name ELSE c.employer_name END"
#: The batch's cases made where new ($1 case numbers, sorted: replicas lock rows in the same order).
ENSURE_CASES = "INSERT INTO cases (case_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING"
#: Every case of the batch changed at once: $1 one JSON object per case (``fold.CaseChange.row``), its keys the
#: columns it sets; a guarded column only where the row's own time is not newer; counters and parties added.
#: ``OFFSET 0`` keeps the change's record a row of its own: flattened into the update, every ``(d.r).column``
#: would call jsonb_populate_record again (47 calls a case; four fifths of the rebuild's time in this statement).
UPDATE_CASES = (
    "UPDATE cases c SET "
    + ", ".join(_plain_column(col) for col in fold.PLAIN if col not in ("worker_count", "group_dispute", "employer_name"))
    + ", " + ", ".join(_guarded_columns(col) for col in fold.GUARDED)
    + ", worker_count = CASE WHEN d.j ? 'worker_count' THEN (d.r).worker_count ELSE c.worker_count END "
    "+ coalesce((d.j->>'+workers')::int, 0), "
    "group_dispute = CASE WHEN d.j ? 'group_dispute' THEN (d.r).group_dispute ELSE c.group_dispute END "
    "OR coalesce((d.j->>'+group_dispute')::bool, false), "
    "reopened = c.reopened + coalesce((d.j->>'+reopened')::int, 0), "
    f"worker_names = {_NAMES}, worker_ids = {_IDS}, employer_name = {_EMPLOYER}, "
    f"parties = CASE WHEN d.j ? '+parties' THEN array_to_string({_NAMES}, ' ') || ' ' || coalesce({_EMPLOYER}, '') "
    "ELSE c.parties END, updated_at = now() "
    "FROM (SELECT j->>'case_id' AS id, j, jsonb_populate_record(NULL::cases, j) AS r "
    "FROM (SELECT unnest($1::text[])::jsonb AS j) s OFFSET 0) d WHERE c.case_id = d.id")
ADD_REFS = ("INSERT INTO case_refs (ref, case_id) SELECT * FROM unnest($1::text[], $2::text[]) "
            "ON CONFLICT DO NOTHING")
#: The batch's timeline rows as one JSON array of arrays ($1): one encoding of the whole batch by orjson, where eight
#: arrays cost asyncpg a Python call per data value (the rows' encoding was a tenth of a rebuild's CPU). Each row is
#: (event id, case, type, source, time, summary, data, trace id), the time in ISO 8601 with its offset.
TIMELINE_ROWS = (
    "INSERT INTO timeline (event_id, case_id, type, source, at, summary, data, trace_id) "
    "SELECT (r->>0)::uuid, r->>1, r->>2, r->>3, (r->>4)::timestamptz, r->>5, r->6, r->>7 "
    "FROM jsonb_array_elements($1::jsonb) AS r ON CONFLICT DO NOTHING")
#: What the projection knows of these deadlines (the state each event of the batch is compared with).
KNOWN_DEADLINES = (
    "SELECT deadline_id, case_id, kind, owner, state, due_at, org_unit, provisional, on_time, changed_at "
    "FROM case_deadlines WHERE deadline_id = ANY($1::text[])")
#: Deadlines upserted as one event each would be: the newest state kept, a unit or on-time left out kept as it was,
#: a newer row written meanwhile kept (RETURNING: the deadlines whose row this state became). Given each deadline
#: once: as it comes (live batches, where RETURNING says which events were the newest), or folded beforehand.
UPSERT_DEADLINES = (
    "INSERT INTO case_deadlines (deadline_id, case_id, kind, owner, state, due_at, org_unit, provisional, on_time, "
    "changed_at) SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], "
    "$6::timestamptz[], $7::text[], $8::bool[], $9::bool[], $10::timestamptz[]) "
    "ON CONFLICT (deadline_id) DO UPDATE SET owner = EXCLUDED.owner, state = EXCLUDED.state, "
    "due_at = EXCLUDED.due_at, org_unit = COALESCE(EXCLUDED.org_unit, case_deadlines.org_unit), "
    "provisional = EXCLUDED.provisional, on_time = COALESCE(EXCLUDED.on_time, case_deadlines.on_time), "
    "changed_at = EXCLUDED.changed_at WHERE case_deadlines.changed_at <= EXCLUDED.changed_at RETURNING deadline_id")
#: Each case's due time is its newest tier clock's ($1 the cases whose tier clock changed).
FOLLOW_TIER_DEADLINES = (
    "UPDATE cases c SET due_at = t.due_at, provisional = t.provisional FROM (SELECT DISTINCT ON (case_id) case_id, "
    "due_at, provisional FROM case_deadlines WHERE case_id = ANY($1::text[]) AND kind = 'tier' "
    "ORDER BY case_id, changed_at DESC) t WHERE c.case_id = t.case_id")
#: Which of these deadlines have an alert not resolved (the others have nothing to resolve).
ALERTED_DEADLINES = "SELECT DISTINCT deadline_id FROM alerts WHERE deadline_id = ANY($1::text[]) AND state <> 'resolved'"
#: The worker's view of the batch's cases, made where new ($1, sorted: replicas lock rows in the same order) ...
PUBLIC_ENSURE = "INSERT INTO public_progress (case_id) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING"
#: ... then changed at once, one row a case: its new steps (in $2, a JSON array holding each case's array; merged by
#: id and kept in time order), whether the worker may rate ($3) as the newest event that says so ($4) has it, the
#: unit serving them ($5), and its query codes' hashes (in $7, as the steps) — the list again when the batch rotated
#: the code ($6), else added unless held. NULL: the batch says nothing of it.
PUBLIC_VIEWS = (
    "UPDATE public_progress p SET "
    "steps = CASE WHEN u.steps IS NULL THEN p.steps ELSE "
    "(SELECT jsonb_agg(s ORDER BY s->>'at', (s->>'rank')::int, s->>'id') "
    "FROM (SELECT DISTINCT ON (e->>'id') e AS s FROM jsonb_array_elements(p.steps || u.steps) e) x) END, "
    "resolved = CASE WHEN u.resolved_at IS NOT NULL AND (p.resolved_changed_at IS NULL "
    "OR p.resolved_changed_at <= u.resolved_at) THEN u.resolved ELSE p.resolved END, "
    "resolved_changed_at = CASE WHEN u.resolved_at IS NOT NULL AND (p.resolved_changed_at IS NULL "
    "OR p.resolved_changed_at <= u.resolved_at) THEN u.resolved_at ELSE p.resolved_changed_at END, "
    "org_unit = coalesce(u.org_unit, p.org_unit), "
    "code_hashes = CASE WHEN u.codes IS NULL THEN p.code_hashes "
    "WHEN u.replaces THEN ARRAY(SELECT jsonb_array_elements_text(u.codes)) "
    "ELSE p.code_hashes || ARRAY(SELECT h FROM jsonb_array_elements_text(u.codes) WITH ORDINALITY AS x(h, n) "
    "WHERE h <> ALL(p.code_hashes) ORDER BY n) END, "
    "updated_at = now() "
    "FROM (SELECT u.*, nullif($2::jsonb -> (u.n - 1)::int, 'null') AS steps, "
    "nullif($7::jsonb -> (u.n - 1)::int, 'null') AS codes "
    "FROM unnest($1::text[], $3::bool[], $4::timestamptz[], $5::text[], $6::bool[]) WITH ORDINALITY "
    "AS u(case_id, resolved, resolved_at, org_unit, replaces, n) OFFSET 0) u WHERE p.case_id = u.case_id")


async def write_cases(conn: asyncpg.Connection, changes: Sequence[fold.CaseChange]) -> None:
    changes = sorted(changes, key=lambda c: c.case_id)
    await conn.execute(ENSURE_CASES, [c.case_id for c in changes])
    changed = [c.row() for c in changes if not c.changes_nothing]
    if changed:  # a row rewritten with nothing changed is still a new row version: none
        await conn.execute(UPDATE_CASES, changed)


async def write_refs(conn: asyncpg.Connection, refs: dict[str, str]) -> None:
    """``refs``: court or arbitration case number -> case (the first case to claim a number keeps it)."""
    await conn.execute(ADD_REFS, list(refs), list(refs.values()))


async def write_timeline(conn: asyncpg.Connection, rows: Sequence[tuple[Any, ...]]) -> None:
    await conn.execute(TIMELINE_ROWS, list(rows))


async def known_deadlines(conn: asyncpg.Connection, ids: Sequence[str]) -> dict[str, fold.DeadlineState]:
    return {r["deadline_id"]: fold.DeadlineState(**dict(r)) for r in await conn.fetch(KNOWN_DEADLINES, list(ids))}


_DEADLINE_FIELDS = ("deadline_id", "case_id", "kind", "owner", "state", "due_at", "org_unit", "provisional",
                    "on_time", "changed_at")


async def upsert_deadlines(conn: asyncpg.Connection, states: Sequence[fold.DeadlineState]) -> set[str]:
    """``states``: one per deadline. Returns the deadlines whose row became this state (it was the newest)."""
    states = sorted(states, key=lambda s: s.deadline_id)
    rows = await conn.fetch(UPSERT_DEADLINES, *([getattr(s, f) for s in states] for f in _DEADLINE_FIELDS))
    return {r["deadline_id"] for r in rows}


async def follow_tier_deadlines(conn: asyncpg.Connection, case_ids: Sequence[str]) -> None:
    await conn.execute(FOLLOW_TIER_DEADLINES, sorted(case_ids))


async def alerted_deadlines(conn: asyncpg.Connection, ids: Sequence[str]) -> set[str]:
    return {r["deadline_id"] for r in await conn.fetch(ALERTED_DEADLINES, list(ids))}


async def write_public_views(conn: asyncpg.Connection, steps: dict[str, list[dict[str, Any]]],
                             resolved: dict[str, tuple[bool, datetime]], units: dict[str, str],
                             codes: dict[str, fold.CodeChange]) -> None:
    """The worker's view of every case the batch changed, in two statements (``PUBLIC_VIEWS``)."""
    cases = sorted({*steps, *resolved, *units, *codes})
    await conn.execute(PUBLIC_ENSURE, cases)
    said = [resolved.get(c) for c in cases]
    changed = [codes.get(c) for c in cases]
    await conn.execute(PUBLIC_VIEWS, cases, [steps.get(c) for c in cases],  # $2, $7: one JSON value each
                       [r[0] if r else None for r in said], [r[1] if r else None for r in said],
                       [units.get(c) for c in cases], [bool(c and c.replaces) for c in changed],
                       [list(c.hashes) if c else None for c in changed])


# --- alerts --------------------------------------------------------------------------------------------------

NOTIFY = "SELECT pg_notify($1, '')"
RAISE_ALERT = (
    "INSERT INTO alerts (case_id, deadline_id, deadline_kind, kind, state, org_unit, escalated_to, due_at, "
    "breach_at, detail) VALUES ($1, $2, $3, $4, 'open', $5, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING *")
RESOLVE_ALERTS = (
    "UPDATE alerts SET state = 'resolved', resolved_at = $2, updated_at = now() "
    "WHERE deadline_id = $1 AND kind = ANY($3::text[]) AND state <> 'resolved' RETURNING *")
OPEN_OVERDUE_ALERTS = "SELECT * FROM alerts WHERE deadline_id = $1 AND state <> 'resolved' AND kind = 'overdue'"
LOCK_ALERT = "SELECT * FROM alerts WHERE alert_id = $1 FOR UPDATE"
ESCALATE_ALERT = ("UPDATE alerts SET escalated_to = $2, level = level + 1, updated_at = now() "
                  "WHERE alert_id = $1 RETURNING *")
ACKNOWLEDGE_ALERT = (
    "UPDATE alerts SET state = 'acknowledged', acknowledged_by = $2, ack_note = $3, acknowledged_at = $4, "
    "updated_at = now() WHERE alert_id = $1 AND state = 'open' RETURNING *")
ALERT_SCOPE = "SELECT case_id, escalated_to FROM alerts WHERE alert_id = $1"
OPEN_ALERTS = (
    "SELECT * FROM alerts WHERE state <> 'resolved' AND kind = ANY($1::text[]) "
    "AND ($2::text[] IS NULL OR escalated_to = ANY($2) OR org_unit = ANY($2)) "
    "ORDER BY (kind = 'overdue') DESC, due_at NULLS LAST, alert_id LIMIT $3")
CASE_ALERTS = "SELECT * FROM alerts WHERE case_id = $1 ORDER BY alert_id"


def _alert(row: asyncpg.Record | None) -> Alert | None:
    return from_row(Alert, row) if row is not None else None


def _alerts(rows: Sequence[asyncpg.Record]) -> list[Alert]:
    return [from_row(Alert, r) for r in rows]


async def notify(conn: asyncpg.Connection, channel: str) -> None:
    """Wake the boards' listeners when this transaction commits."""
    await conn.execute(NOTIFY, channel)


async def raise_alert(conn: asyncpg.Connection, *, kind: str, case_id: str | None, deadline_id: str | None,
                      deadline_kind: str | None, org_unit: str | None, due_at: datetime | None,
                      breach_at: datetime | None, detail: dict[str, Any]) -> Alert | None:
    """The new alert, or None when the same one is already open."""
    return _alert(await conn.fetchrow(RAISE_ALERT, case_id, deadline_id, deadline_kind, kind, org_unit, due_at,
                                      breach_at, detail))


async def resolve_alerts(conn: asyncpg.Connection, *, deadline_id: str, at: datetime, kinds: Sequence[str]
                         ) -> list[Alert]:
    return _alerts(await conn.fetch(RESOLVE_ALERTS, deadline_id, at, list(kinds)))


async def open_overdue_alerts(conn: asyncpg.Connection, deadline_id: str) -> list[Alert]:
    return _alerts(await conn.fetch(OPEN_OVERDUE_ALERTS, deadline_id))


async def lock_alert(conn: asyncpg.Connection, alert_id: int) -> Alert | None:
    return _alert(await conn.fetchrow(LOCK_ALERT, alert_id))


async def escalate_alert(conn: asyncpg.Connection, alert_id: int, *, to: str) -> Alert:
    row = await conn.fetchrow(ESCALATE_ALERT, alert_id, to)
    assert row is not None  # locked by the caller
    return from_row(Alert, row)


async def acknowledge_alert(conn: asyncpg.Connection, alert_id: int, *, actor: str, note: str, at: datetime
                            ) -> Alert | None:
    """The acknowledged alert, or None when it is not there or no longer open."""
    return _alert(await conn.fetchrow(ACKNOWLEDGE_ALERT, alert_id, actor, note, at))


async def alert_scope(db: Db, alert_id: int) -> asyncpg.Record | None:
    """Whose alert it is (its case and the unit it is escalated to), for authorization."""
    return await db.fetchrow(ALERT_SCOPE, alert_id)


async def open_alerts(db: Db, *, kinds: Sequence[str], units: Sequence[str] | None, limit: int) -> list[Alert]:
    """Open and acknowledged alerts of these kinds within these units (None: all), overdue first."""
    return _alerts(await db.fetch(OPEN_ALERTS, list(kinds), list(units) if units is not None else None, limit))


async def case_alerts(db: Db, case_id: str) -> list[Alert]:
    return _alerts(await db.fetch(CASE_ALERTS, case_id))


# --- reads of cases ------------------------------------------------------------------------------------------

CASE_SCOPE = "SELECT org_unit, partner_code FROM cases WHERE case_id = $1"
CASE_BY_ID = "SELECT * FROM cases WHERE case_id = $1"
#: Overdue now (当前超期) — the one definition of the board's 已超期, the statistics' 当前超期, the case search's and
#: ``GET /api/v1/cases?overdue=``: a case neither resolved nor closed whose tier clock (the 1/5/15 rule) is breached,
#: i.e. has an overdue alert of its tier clock not resolved (an acknowledged alert still counts: acknowledging stops
#: the escalation, not the overdue). A case counts once. A stage clock breached alone (the union's 15 days, the
#: legal-aid review) is shown on the board apart, not counted here.
OVERDUE = (
    "(coalesce(c.status, '') NOT IN ('resolved', 'closed') AND EXISTS (SELECT 1 FROM alerts a "
    "WHERE a.case_id = c.case_id AND a.kind = 'overdue' AND a.deadline_kind = 'tier' AND a.state <> 'resolved'))")
FIND_CASES = (
    "SELECT c.* FROM cases c WHERE ($1::text IS NULL OR c.case_id = $1 OR EXISTS "
    "(SELECT 1 FROM case_refs r WHERE r.case_id = c.case_id AND r.ref = $1)) "
    "AND ($2::text IS NULL OR c.status = $2) AND ($3::text IS NULL OR c.tier = $3) "
    "AND ($4::text[] IS NULL OR c.org_unit = ANY($4)) "
    f"AND ($5::bool IS NULL OR $5 = {OVERDUE}) AND c.received_at IS NOT NULL "
    "ORDER BY c.due_at NULLS LAST LIMIT $6")
#: The case search (案件查询). $1 units (None: all); $2 the words typed: a case number, a court or arbitration
#: number, a full ID number (each exactly), or part of a worker's or the employer's name ($3, LIKE-escaped);
#: $4 status, $5 stage, $6 tier, $7 overdue now, $8/$9 received from/before, $10 finished (resolved or closed).
#: Each way of finding is its own indexed branch (primary keys, the ID numbers' GIN, the names' trigrams).
SEARCH_WHERE = (
    "c.received_at IS NOT NULL AND ($1::text[] IS NULL OR c.org_unit = ANY($1)) "
    "AND ($2::text IS NULL OR c.case_id IN (SELECT case_id FROM cases WHERE case_id = upper($2) "
    "UNION SELECT case_id FROM case_refs WHERE ref = $2 "
    "UNION SELECT case_id FROM cases WHERE worker_ids @> ARRAY[upper($2)] "
    "UNION SELECT case_id FROM cases WHERE parties ILIKE '%' || $3 || '%')) "
    "AND ($4::text IS NULL OR c.status = $4) AND ($5::text IS NULL OR c.stage = $5) "
    "AND ($6::text IS NULL OR c.tier = $6) "
    f"AND ($7::bool IS NULL OR $7 = {OVERDUE}) "
    "AND ($8::timestamptz IS NULL OR c.received_at >= $8) AND ($9::timestamptz IS NULL OR c.received_at < $9) "
    "AND ($10::bool IS NULL OR $10 = (coalesce(c.status, '') IN ('resolved', 'closed')))")
SEARCH_COUNT = f"SELECT count(*) FROM cases c WHERE {SEARCH_WHERE}"
#: What a row of the search shows (and whether the case is overdue now, by the one definition).
SEARCH_COLUMNS = (
    "c.case_id, c.status, c.stage, c.tier, c.org_unit, c.due_at, c.received_at, c.channel, c.worker_names, "
    "c.worker_ids, c.employer_name, c.mediator_name, c.claim_types, c.partner_code, "
    f"(SELECT array_agg(r.ref ORDER BY r.ref) FROM case_refs r WHERE r.case_id = c.case_id) AS refs, {OVERDUE} AS overdue")
#: The sort keys the search offers (key → column).
SEARCH_SORTS = {"received": "c.received_at", "due": "c.due_at", "case": "c.case_id", "status": "c.status",
                "tier": "c.tier", "unit": "c.org_unit"}
#: The overdue cases of the board, one row each: the case's newest unresolved tier alert ($1 units, $2 limit).
BOARD_OVERDUE = (
    "SELECT * FROM (SELECT DISTINCT ON (c.case_id) a.* FROM cases c JOIN alerts a ON a.case_id = c.case_id "
    "AND a.kind = 'overdue' AND a.deadline_kind = 'tier' AND a.state <> 'resolved' "
    "WHERE coalesce(c.status, '') NOT IN ('resolved', 'closed') AND c.received_at IS NOT NULL "
    "AND ($1::text[] IS NULL OR c.org_unit = ANY($1)) ORDER BY c.case_id, a.alert_id DESC) o "
    "ORDER BY due_at NULLS LAST, alert_id LIMIT $2")
#: The services' clocks of a case (supervision's own escalation clocks are bookkeeping, not the case's).
CASE_DEADLINES = "SELECT * FROM case_deadlines WHERE case_id = $1 AND owner <> 'supervision' ORDER BY changed_at"
#: A case's timeline with what its own partner (the court or bureau that referred it) sent under its numbers.
CASE_TIMELINE = (
    "SELECT type, source, at, summary, data, trace_id, seq FROM timeline WHERE case_id = $1 UNION ALL "
    "SELECT p.type, p.source, p.at, p.summary, p.data, NULL, NULL FROM partner_events p "
    "JOIN case_refs r ON r.ref = p.ref JOIN cases c ON c.case_id = r.case_id WHERE r.case_id = $1 "
    "AND (p.sender IS NULL OR c.partner_code IS NULL OR p.sender = c.partner_code) "
    "ORDER BY at, seq NULLS FIRST")
CASE_REFS = "SELECT ref FROM case_refs WHERE case_id = $1 ORDER BY ref"
#: Open cases with a due time, for the breach forecast.
OPEN_CASES_DUE = (
    "SELECT case_id, org_unit, due_at FROM cases WHERE status NOT IN ('resolved', 'closed') "
    "AND due_at IS NOT NULL AND org_unit IS NOT NULL AND ($1::text[] IS NULL OR org_unit = ANY($1))")
GENERAL_INFLOW = (
    "SELECT org_unit, count(*) AS n FROM cases WHERE tier = 'general' AND received_at >= $1 "
    "AND org_unit IS NOT NULL GROUP BY org_unit")


async def case_scope(db: Db, case_id: str) -> asyncpg.Record | None:
    """Whose case it is (its unit and referring partner), for authorization; None when not projected."""
    return await db.fetchrow(CASE_SCOPE, case_id)


async def case_by_id(db: Db, case_id: str) -> Case | None:
    row = await db.fetchrow(CASE_BY_ID, case_id)
    return from_row(Case, row) if row is not None else None


async def find_cases(db: Db, *, ref: str | None, status: str | None, tier: str | None,
                     org_units: Sequence[str] | None, overdue: bool | None, limit: int) -> list[asyncpg.Record]:
    return await db.fetch(FIND_CASES, ref, status, tier, list(org_units) if org_units is not None else None,
                          overdue, limit)


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _search_args(f: dict[str, Any]) -> list[Any]:
    q = (f.get("q") or "").strip() or None
    units = f.get("units")
    return [list(units) if units is not None else None, q, _like(q) if q else None, f.get("status"), f.get("stage"),
            f.get("tier"), f.get("overdue"), f.get("start"), f.get("end"), f.get("finished")]


async def search_cases(db: Db, filters: dict[str, Any], *, order: str, limit: int, offset: int
                       ) -> tuple[list[asyncpg.Record], int]:
    """One page of the case search and how many cases match; ``order`` from ``SEARCH_SORTS`` (a whitelist)."""
    args = _search_args(filters)
    total = int(await db.fetchval(SEARCH_COUNT, *args))
    rows = await db.fetch(f"SELECT {SEARCH_COLUMNS} FROM cases c WHERE {SEARCH_WHERE} ORDER BY {order}, c.case_id "
                          "LIMIT $11 OFFSET $12", *args, limit, offset)
    return rows, total


CASE_PARTIES = "SELECT case_id, worker_names, employer_name FROM cases WHERE case_id = ANY($1::text[])"


async def case_parties(db: Db, case_ids: Sequence[str]) -> dict[str, asyncpg.Record]:
    """Who each case is about (workers' names, the employer), for lists that name cases."""
    return {r["case_id"]: r for r in await db.fetch(CASE_PARTIES, list(case_ids))}


async def board_overdue(db: Db, units: Sequence[str] | None, limit: int = 500) -> list[Alert]:
    return _alerts(await db.fetch(BOARD_OVERDUE, list(units) if units is not None else None, limit))


async def case_deadlines(db: Db, case_id: str) -> list[asyncpg.Record]:
    return await db.fetch(CASE_DEADLINES, case_id)


async def case_timeline(db: Db, case_id: str) -> list[asyncpg.Record]:
    return await db.fetch(CASE_TIMELINE, case_id)


async def case_refs(db: Db, case_id: str) -> list[str]:
    return [r["ref"] for r in await db.fetch(CASE_REFS, case_id)]


async def open_cases_due(db: Db, units: Sequence[str] | None) -> list[asyncpg.Record]:
    return await db.fetch(OPEN_CASES_DUE, list(units) if units is not None else None)


async def general_inflow(db: Db, since: datetime) -> dict[str, int]:
    """General-tier cases received since ``since``, by unit."""
    return {r["org_unit"]: r["n"] for r in await db.fetch(GENERAL_INFLOW, since)}


# --- statistics (docs/domain/case.md) ----------------------------------------------------------------------------------

#: $1 region prefix, $2 org units, $3 received from, $4 received before, $5 tier (each None: any)
_IN_SCOPE = ("($1::text IS NULL OR c.region_code LIKE $1 || '%') AND ($2::text[] IS NULL OR c.org_unit = ANY($2)) "
             "AND ($3::timestamptz IS NULL OR c.received_at >= $3) "
             "AND ($4::timestamptz IS NULL OR c.received_at < $4) "
             "AND ($5::text IS NULL OR c.tier = $5) AND c.received_at IS NOT NULL")
STATS_TOTALS = (
    "SELECT count(*) AS received, coalesce(sum(worker_count), 0) AS workers, "
    "count(*) FILTER (WHERE group_dispute) AS group_disputes, "
    "count(*) FILTER (WHERE channel = 'online') AS online, "
    "count(*) FILTER (WHERE legal_aid) AS legal_aid_cases, coalesce(sum(amount_recovered), 0) AS recovered, "
    "count(*) FILTER (WHERE mediation_outcome = 'settled') AS settled, "
    "count(*) FILTER (WHERE mediation_outcome = 'failed') AS failed, "
    "count(*) FILTER (WHERE returned_to = 'court') AS to_court, "
    "count(*) FILTER (WHERE returned_to = 'arbitration') AS to_arbitration, "
    "count(satisfaction) AS satisfaction_n, avg(satisfaction) AS satisfaction_avg, "
    "count(*) FILTER (WHERE status = 'closed') AS closed "
    f"FROM cases c WHERE {_IN_SCOPE}")
STATS_BY_CHANNEL = f"SELECT channel, count(*) AS n FROM cases c WHERE {_IN_SCOPE} GROUP BY channel ORDER BY channel"
STATS_BY_CLAIM_TYPE = (f"SELECT unnest(claim_types) AS t, count(*) AS n FROM cases c WHERE {_IN_SCOPE} "
                       "GROUP BY 1 ORDER BY 1")
STATS_ON_TIME = (
    "SELECT tier, count(*) FILTER (WHERE on_time IS NOT NULL) AS resolved, "
    f"count(*) FILTER (WHERE on_time) AS on_time FROM cases c WHERE {_IN_SCOPE} AND tier IS NOT NULL "
    "GROUP BY tier")
#: Overdue now within the statistics' scope (``OVERDUE``, the one definition).
OVERDUE_NOW = f"SELECT count(*) FROM cases c WHERE {OVERDUE} AND {_IN_SCOPE}"
#: The mediators' figures (per mediator, within a unit): caseload (open cases), settled of concluded mediations,
#: on time of the cases whose tier clock ended, and the average days from receipt to a settlement.
_FIGURES = (
    "count(*) FILTER (WHERE coalesce(c.status, '') NOT IN ('resolved', 'closed')) AS open_cases, "
    "count(*) FILTER (WHERE c.mediation_outcome = 'settled') AS settled, "
    "count(*) FILTER (WHERE c.mediation_outcome IS NOT NULL) AS concluded, "
    "count(*) FILTER (WHERE c.on_time IS NOT NULL) AS timed, count(*) FILTER (WHERE c.on_time) AS on_time, "
    "avg(extract(epoch FROM c.resolved_at - c.received_at) / 86400) "
    "FILTER (WHERE c.mediation_outcome = 'settled' AND c.resolved_at IS NOT NULL) AS settle_days")
MEDIATOR_FIGURES = (
    f"SELECT c.mediator_id, max(c.mediator_name) AS mediator_name, c.org_unit, {_FIGURES} "
    f"FROM cases c WHERE c.mediator_id IS NOT NULL AND {_IN_SCOPE} GROUP BY c.mediator_id, c.org_unit "
    "ORDER BY c.org_unit, 2")
UNIT_FIGURES = (
    f"SELECT c.org_unit, count(DISTINCT c.mediator_id) AS mediators, {_FIGURES} "
    f"FROM cases c WHERE c.mediator_id IS NOT NULL AND {_IN_SCOPE} GROUP BY c.org_unit ORDER BY c.org_unit")
#: The cases of the statistics' scope, one row each, for the case-level export ($6 limit).
STATS_CASES = (
    "SELECT c.case_id, c.received_at, c.channel, c.tier, c.status, c.stage, c.org_unit, c.mediator_name, "
    "c.claim_types, c.claim_amount, c.worker_count, c.employer_name, c.due_at, c.on_time, c.mediation_outcome, "
    "c.settled_amount, c.amount_recovered, c.satisfaction, c.resolved_at, "
    "(SELECT array_agg(r.ref ORDER BY r.ref) FROM case_refs r WHERE r.case_id = c.case_id) AS refs, "
    f"{OVERDUE} AS overdue FROM cases c WHERE {_IN_SCOPE} ORDER BY c.received_at, c.case_id LIMIT $6")


async def stats_totals(db: Db, scope: Sequence[Any]) -> asyncpg.Record:
    row = await db.fetchrow(STATS_TOTALS, *scope)
    assert row is not None  # an aggregate always answers
    return row


async def stats_by_channel(db: Db, scope: Sequence[Any]) -> dict[str, int]:
    return {r["channel"]: r["n"] for r in await db.fetch(STATS_BY_CHANNEL, *scope)}


async def stats_by_claim_type(db: Db, scope: Sequence[Any]) -> dict[str, int]:
    return {r["t"]: r["n"] for r in await db.fetch(STATS_BY_CLAIM_TYPE, *scope)}


async def stats_on_time(db: Db, scope: Sequence[Any]) -> list[asyncpg.Record]:
    return await db.fetch(STATS_ON_TIME, *scope)


async def overdue_now(db: Db, scope: Sequence[Any]) -> int:
    return int(await db.fetchval(OVERDUE_NOW, *scope))


async def mediator_figures(db: Db, scope: Sequence[Any]) -> list[asyncpg.Record]:
    return await db.fetch(MEDIATOR_FIGURES, *scope)


async def unit_figures(db: Db, scope: Sequence[Any]) -> list[asyncpg.Record]:
    return await db.fetch(UNIT_FIGURES, *scope)


async def stats_cases(db: Db, scope: Sequence[Any], limit: int) -> list[asyncpg.Record]:
    return await db.fetch(STATS_CASES, *scope, limit)


# --- rebuild -------------------------------------------------------------------------------------------------

#: What a rebuild empties: everything the consumed events make (the projection's tables and the backbone's
#: bookkeeping of it). Not the outbox (what the service has yet to publish, and what it keeps to publish again
#: after a broker restart), nor the worker's door (codes, ratings).
PROJECTION = ("cases", "case_refs", "timeline", "partner_events", "case_deadlines", "alerts", "inbox", "deadlines",
              "parked", "case_log")
EMPTY_PROJECTION = f"TRUNCATE {', '.join(PROJECTION)} RESTART IDENTITY"


async def empty_projection(db: Db) -> None:
    await db.execute(EMPTY_PROJECTION)


# --- the worker's door (进度查询, 评价) -----------------------------------------------------------------------

#: the lookup in one round trip: the case's view (if any), its rating, and both throttles (case number, address)
PUBLIC_LOOKUP = (
    "SELECT p.case_id, p.code_hashes, p.steps, p.resolved, p.org_unit, r.score, r.rated_at, "
    "tc.failures AS case_failures, tc.last_failure AS case_last, tc.locked_until AS case_locked, "
    "ta.failures AS addr_failures, ta.last_failure AS addr_last, ta.locked_until AS addr_locked "
    "FROM (VALUES (1)) v LEFT JOIN public_progress p ON p.case_id = $1 "
    "LEFT JOIN public_ratings r ON r.case_id = $1 "
    "LEFT JOIN login_throttle tc ON tc.key = $2 LEFT JOIN login_throttle ta ON ta.key = $3")
PUBLIC_RESOLVED_NOW = "SELECT resolved FROM public_progress WHERE case_id = $1 FOR UPDATE"
INSERT_RATING = ("INSERT INTO public_ratings (case_id, score, comment, rated_at) VALUES ($1, $2, $3, $4) "
                 "ON CONFLICT DO NOTHING RETURNING 1")


async def public_lookup(db: Db, case_id: str, case_key: str, address_key: str) -> asyncpg.Record:
    return await db.fetchrow(PUBLIC_LOOKUP, case_id, case_key, address_key)


async def insert_rating(conn: asyncpg.Connection, case_id: str, score: int, comment: str, at: datetime) -> bool:
    return bool(await conn.fetchval(INSERT_RATING, case_id, score, comment, at))


async def public_resolved_now(conn: asyncpg.Connection, case_id: str) -> bool | None:
    """Whether the case is resolved for the worker (None: no such case here), locked for the rating."""
    return await conn.fetchval(PUBLIC_RESOLVED_NOW, case_id)
