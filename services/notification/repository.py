"""Notification's SQL, in one place: the phones per case, the case's unit and mediator, the messages, opt-outs,
staff notices and the recording gateway's log.

Every statement is a named constant (a test PREPAREs each against a freshly migrated database); the functions
take a connection (a pool for reads) and return the models of ``services.notification.models``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from services.backbone.db import columns, json_text
from services.backbone.models import from_row
from services.notification.models import CaseInfo, Message, Notice, OptOut

Conn = asyncpg.Connection | asyncpg.Pool

# --- who to tell, and what of the case ---------------------------------------------------------------------

#: the phones a batch's events made known: (case_id, phone) pairs, in order
REMEMBER_PHONES = ("INSERT INTO recipients (case_id, phone) SELECT * FROM unnest($1::text[], $2::text[]) "
                   "ON CONFLICT DO NOTHING")
#: whom to tell about a batch's events: the phones known for the cases $1, each with whether it opted out, and the
#: phones among $2 (those an event names itself) that opted out
PHONES = ("SELECT r.case_id, r.phone, o.phone IS NOT NULL AS opted_out FROM recipients r "
          "LEFT JOIN opt_outs o USING (phone) WHERE r.case_id = ANY($1::text[]) "
          "UNION ALL SELECT NULL, phone, true FROM opt_outs WHERE phone = ANY($2::text[])")
CASE = "SELECT * FROM cases WHERE case_id = $1"
#: what a batch's events taught of some cases (``learning.Holders``), one row a case: the unit holding it, where
#: one was learnt (NULL keeps the known one), and its mediator, where one was offered (NULL keeps the known one)
LEARNED = ("INSERT INTO cases (case_id, org_unit, mediator_id, mediator_name) "
           "SELECT c, u, m, n FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS x (c, u, m, n) "
           "ON CONFLICT (case_id) DO UPDATE SET org_unit = coalesce(EXCLUDED.org_unit, cases.org_unit), "
           "mediator_id = CASE WHEN EXCLUDED.mediator_id IS NULL THEN cases.mediator_id ELSE EXCLUDED.mediator_id END, "
           "mediator_name = CASE WHEN EXCLUDED.mediator_id IS NULL THEN cases.mediator_name "
           "ELSE EXCLUDED.mediator_name END, updated_at = now()")

# --- messages -----------------------------------------------------------------------------------------------

#: a batch's messages, one row each in every column (params as JSON text): one per (event, phone), so a
#: redelivered event inserts nothing (RETURNING gives no row for it)
INSERT_MESSAGES = (
    "INSERT INTO messages (message_id, event_id, case_id, phone, kind, template_id, params, text, state, attempts, "
    "not_before, event_at, reason, gateway, created_at) "
    "SELECT m, e, c, p, k, t, pa::jsonb, tx, st, 0, nb, ea, r, g, ca "
    "FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], "
    "$9::text[], $10::timestamptz[], $11::timestamptz[], $12::text[], $13::text[], $14::timestamptz[]) "
    "AS u (m, e, c, p, k, t, pa, tx, st, nb, ea, r, g, ca) "
    "ON CONFLICT (event_id, phone) DO NOTHING RETURNING *")
#: the messages whose time has come (queued, or held through the night), oldest first; another sender skips them
DUE = ("SELECT * FROM messages WHERE state IN ('queued', 'held') AND not_before <= $1 "
       "ORDER BY not_before LIMIT $2 FOR UPDATE SKIP LOCKED")
SAVE_MESSAGES = ("UPDATE messages m SET state = u.state, attempts = u.attempts, not_before = u.not_before, "
                 "sent_at = u.sent_at, reason = u.reason, provider_ref = u.provider_ref, params = u.params::jsonb, "
                 "text = u.text "
                 "FROM unnest($1::uuid[], $2::text[], $3::int[], $4::timestamptz[], $5::timestamptz[], $6::text[], "
                 "$7::text[], $8::text[], $9::text[]) "
                 "AS u (message_id, state, attempts, not_before, sent_at, reason, provider_ref, params, text) "
                 "WHERE m.message_id = u.message_id")
#: a sending round's messages as the recording gateway keeps them, in the order they were sent
RECORD_SMS = ("INSERT INTO recorded_sms (message_id, phone, text, recorded_at) SELECT m, p, t, a FROM "
              "unnest($1::uuid[], $2::text[], $3::text[], $4::timestamptz[]) WITH ORDINALITY AS r(m, p, t, a, n) "
              "ORDER BY n")
#: the list operators and supervisors read; $1 units (NULL: all), $2 state, $3 a case number (part of), $4 a phone's
#: last four digits; order and page appended by ``messages``
MESSAGES = (
    "SELECT m.*, c.org_unit, count(*) OVER () AS total FROM messages m LEFT JOIN cases c USING (case_id) "
    "WHERE ($1::text[] IS NULL OR c.org_unit = ANY($1::text[])) AND ($2::text IS NULL OR m.state = $2) "
    "AND ($3::text IS NULL OR strpos(lower(m.case_id), lower($3)) > 0) "
    "AND ($4::text IS NULL OR right(m.phone, 4) = $4)")
MESSAGES_SORT = {"created": "m.created_at", "case": "m.case_id", "state": "m.state"}
STATE_COUNTS = "SELECT state, count(*) AS n FROM messages GROUP BY state"

# --- opt-outs -----------------------------------------------------------------------------------------------

OPTED_OUT = "SELECT phone FROM opt_outs WHERE phone = ANY($1::text[])"
OPT_OUT = ("INSERT INTO opt_outs (phone, reason, actor, at) VALUES ($1, $2, $3, $4) "
           "ON CONFLICT (phone) DO UPDATE SET reason = EXCLUDED.reason, actor = EXCLUDED.actor, at = EXCLUDED.at "
           "RETURNING *")
OPT_IN = "DELETE FROM opt_outs WHERE phone = $1 RETURNING *"

# --- staff notices -----------------------------------------------------------------------------------------

#: a batch's notices in one statement (``notices.Notices``); one per event and recipient
INSERT_NOTICES = ("INSERT INTO notices (notice_id, event_id, recipient, case_id, kind, text, created_at) "
                  "SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::text[], "
                  "$7::timestamptz[]) ON CONFLICT (event_id, recipient) DO NOTHING")
NOTICES = ("SELECT *, count(*) FILTER (WHERE read_at IS NULL) OVER () AS unread FROM notices "
           "WHERE recipient = ANY($1::text[]) ORDER BY created_at DESC LIMIT $2")
MARK_READ = ("UPDATE notices SET read_at = coalesce(read_at, $3) WHERE notice_id = $1 AND recipient = ANY($2::text[]) "
             "RETURNING *")


async def remember_phones(conn: asyncpg.Connection, phones: Mapping[str, Iterable[str]]) -> None:
    """Each case's phones (case_id -> phones) in one statement, in order (two batches lock the same rows in the
    same order)."""
    pairs = sorted((case_id, phone) for case_id, known in phones.items() for phone in known)
    await conn.execute(REMEMBER_PHONES, [c for c, _ in pairs], [p for _, p in pairs])


@dataclass(frozen=True)
class Phones:
    """The phones known for some cases, and which of the phones read opted out."""

    by_case: dict[str, list[str]]
    opted_out: set[str]


async def phones(conn: Conn, cases: Sequence[str], named: Sequence[str]) -> Phones:
    """The phones known for ``cases`` (in order) and which of them, or of ``named``, opted out: one statement."""
    by_case: dict[str, list[str]] = {}
    opted: set[str] = set()
    for r in await conn.fetch(PHONES, sorted(set(cases)), sorted(set(named))):
        if r["case_id"] is not None:
            by_case.setdefault(r["case_id"], []).append(r["phone"])
        if r["opted_out"]:
            opted.add(r["phone"])
    return Phones({case: sorted(found) for case, found in by_case.items()}, opted)


async def case(conn: Conn, case_id: str) -> CaseInfo | None:
    row = await conn.fetchrow(CASE, case_id)
    return from_row(CaseInfo, row) if row else None


async def learned(conn: asyncpg.Connection, cases: Mapping[str, tuple[str | None, str | None, str | None]]) -> None:
    """What some cases' events taught (case_id -> unit, mediator id, mediator name; None: not learnt), in one
    statement, the cases in order."""
    rows = sorted(cases.items())
    await conn.execute(LEARNED, [c for c, _ in rows], [r[0] for _, r in rows], [r[1] for _, r in rows],
                       [r[2] for _, r in rows])


@dataclass(frozen=True)
class Addressed:
    """One phone's copy of an event's message: its state, variables and why it is not sent (None: it is)."""

    phone: str
    state: str
    params: list[str]
    reason: str | None


@dataclass(frozen=True)
class Told:
    """An event's message, as written: who it is about and what it says, for each of its copies."""

    event_id: uuid.UUID
    case_id: str
    kind: str
    template_id: str
    text: str
    copies: list[Addressed]
    not_before: datetime
    event_at: datetime
    gateway: str
    at: datetime


async def insert_messages(conn: asyncpg.Connection, told: Sequence[Told]) -> list[Message]:
    """Every copy of these events' messages in one statement; those already there (a redelivery) are not
    returned."""
    rows = [(uuid.uuid4(), t.event_id, t.case_id, c.phone, t.kind, t.template_id, json_text(c.params), t.text, c.state,
             t.not_before, t.event_at, c.reason, t.gateway, t.at) for t in told for c in t.copies]
    written = await conn.fetch(INSERT_MESSAGES, *columns(rows, 14))
    return [from_row(Message, r) for r in written]


async def due(conn: asyncpg.Connection, now: datetime, limit: int) -> list[Message]:
    return [from_row(Message, r) for r in await conn.fetch(DUE, now, limit)]


async def save_all(conn: asyncpg.Connection, messages: Sequence[Message]) -> None:
    """Each message's state as it is now (a sending round's outcomes: one statement)."""
    if messages:
        ordered = sorted(messages, key=lambda m: m.message_id)
        columns = [[getattr(m, f) for m in ordered] for f in (
            "message_id", "state", "attempts", "not_before", "sent_at", "reason", "provider_ref", "params", "text")]
        columns[7] = [json_text(p) for p in columns[7]]  # a list in a list is no jsonb[] to asyncpg
        await conn.execute(SAVE_MESSAGES, *columns)


async def record_sms(conn: asyncpg.Connection, rows: Sequence[tuple[uuid.UUID, str, str, datetime]]) -> None:
    """(message_id, phone, text, recorded_at) of each message, in one statement."""
    await conn.execute(RECORD_SMS, *columns(rows, 4))


async def messages(pool: Conn, *, units: list[str] | None, state: str | None, q: str | None, last4: str | None,
                   order: str, limit: int, offset: int) -> tuple[list[dict[str, Any]], int]:
    rows = await pool.fetch(f"{MESSAGES} ORDER BY {order}, m.message_id LIMIT {int(limit)} OFFSET {int(offset)}",
                            units, state, q, last4)
    total = rows[0]["total"] if rows else 0
    return [{**from_row(Message, r).model_dump(), "org_unit": r["org_unit"]} for r in rows], total


async def state_counts(pool: Conn) -> dict[str, int]:
    return {r["state"]: r["n"] for r in await pool.fetch(STATE_COUNTS)}


async def opted_out(conn: Conn, phones: list[str]) -> set[str]:
    return {r["phone"] for r in await conn.fetch(OPTED_OUT, phones)}


async def opt_out(conn: asyncpg.Connection, *, phone: str, reason: str, actor: str, at: datetime) -> OptOut:
    return from_row(OptOut, await conn.fetchrow(OPT_OUT, phone, reason, actor, at))


async def opt_in(conn: asyncpg.Connection, phone: str) -> OptOut | None:
    row = await conn.fetchrow(OPT_IN, phone)
    return from_row(OptOut, row) if row else None


async def insert_notices(conn: asyncpg.Connection,
                         rows: Sequence[tuple[uuid.UUID, str, str, str, str, datetime]]) -> None:
    """Notices (event id, recipient, case, kind, text, at) in one statement; one already there is left as it is."""
    await conn.execute(INSERT_NOTICES, [uuid.uuid4() for _ in rows], *([r[i] for r in rows] for i in range(6)))


async def notices(pool: Conn, recipients: list[str], limit: int = 50) -> tuple[list[Notice], int]:
    rows = await pool.fetch(NOTICES, recipients, limit)
    return [from_row(Notice, r) for r in rows], (rows[0]["unread"] if rows else 0)


async def mark_read(conn: asyncpg.Connection, notice_id: uuid.UUID, recipients: list[str],
                    at: datetime) -> Notice | None:
    row = await conn.fetchrow(MARK_READ, notice_id, recipients, at)
    return from_row(Notice, row) if row else None
