"""Intake's SQL, in one place: every statement on cases, case_workers, case_refs and ingress.

Functions take the unit of work's connection (or the pool, for reads) and return ``models`` rows.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any, NamedTuple

import asyncpg

from events.common import Worker
from services.backbone.db import assignments
from services.backbone.models import from_row
from services.calendar.model import local_date
from services.intake.models import Attachment, IntakeCase

#: the statuses of a case intake still holds open: new submissions of the same dispute link to it
OPEN = ("received", "dispatched")
#: the partner case numbers a case may be known by (case_refs.kind)
REF_KINDS = ("court_case_no", "arbitration_case_no")

NEXT_CASE_NUMBER = "SELECT nextval('case_number')"
CASE = "SELECT * FROM cases WHERE case_id = $1"
CASE_FOR_UPDATE = "SELECT * FROM cases WHERE case_id = $1 FOR UPDATE"
CASE_SCOPE = "SELECT org_unit, region_code FROM cases WHERE case_id = $1"
#: statuses follow-up's events set, a batch's in one statement (one case's events come on one partition, in order)
SET_STATUSES = ("UPDATE cases c SET status = u.status, updated_at = now() "
                "FROM unnest($1::text[], $2::text[]) AS u (case_id, status) WHERE c.case_id = u.case_id")
CASE_BY_REF = "SELECT c.* FROM cases c JOIN case_refs r ON r.case_id = c.case_id WHERE r.kind = $1 AND r.ref = $2"
CASE_BY_REF_FOR_UPDATE = CASE_BY_REF + " FOR UPDATE OF c"
OPEN_MATCHES = (
    "SELECT c.* FROM cases c WHERE c.status = ANY($4::text[]) AND c.employer_uscc = $1 "
    "AND c.claim_types && $3::text[] AND EXISTS (SELECT 1 FROM case_workers w "
    "WHERE w.case_id = c.case_id AND w.id_number = ANY($2::text[])) "
    "ORDER BY c.received_at, c.case_id LIMIT 20"
)
OPEN_MATCHES_FOR_UPDATE = OPEN_MATCHES + " FOR UPDATE"
WORKERS_AMONG = (
    "SELECT case_id, name FROM case_workers WHERE case_id = ANY($1::text[]) AND id_number = ANY($2::text[]) "
    "ORDER BY case_id, name"
)
#: the columns a new case is written with (the rest take their defaults)
NEW_CASE_COLUMNS = (
    "case_id", "status", "channel", "received_at", "region_code", "employer_uscc", "employer_name", "claim_types",
    "worker_count", "group_dispute", "tier", "tier_rule", "tier_reason", "due_at", "provisional", "court_code",
    "court_case_no", "bureau_code", "arbitration_case_no", "facts", "warnings", "registered_by", "org_unit", "route",
    "dispatch_attempt",
)
INSERT_CASE = (
    f"INSERT INTO cases ({', '.join(NEW_CASE_COLUMNS)}) "
    f"VALUES ({', '.join(f'${i + 1}' for i in range(len(NEW_CASE_COLUMNS)))}) RETURNING *"
)
INSERT_REF = "INSERT INTO case_refs (kind, ref, case_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1"
INSERT_WORKERS = (
    "INSERT INTO case_workers (case_id, id_number, name, phone) "
    "SELECT $1, * FROM unnest($2::text[], $3::text[], $4::text[]) ON CONFLICT DO NOTHING"
)
CASE_WORKERS = "SELECT name, id_number, phone FROM case_workers WHERE case_id = $1 ORDER BY name, id_number"
COUNT_WORKERS = "SELECT count(*) FROM case_workers WHERE case_id = $1"
FIND_CASES = (
    "SELECT * FROM cases c WHERE ($1::text IS NULL OR c.case_id = $1 OR EXISTS "
    "(SELECT 1 FROM case_refs r WHERE r.case_id = c.case_id AND r.ref = $1)) "
    "AND ($2::text IS NULL OR c.status = $2) ORDER BY c.received_at DESC LIMIT $3"
)
#: the desk's list: a clerk's own registrations ($1) or every case of their units ($2) they may see, by status ($4)
#: and case number / employer ($5); one statement per sort order (``DESK_ORDER``)
_DESK_CASES = (
    "SELECT c.*, count(*) OVER () AS total FROM cases c "
    "WHERE ($1::text IS NULL OR c.registered_by = $1) AND (c.org_unit = ANY($2::text[]) OR c.registered_by = $3) "
    "AND ($4::text IS NULL OR c.status = $4) "
    "AND ($5::text IS NULL OR c.case_id = upper($5) OR strpos(c.employer_name, $5) > 0) "
)
DESK_ORDER = {"received_at": "c.received_at", "due_at": "c.due_at", "case_id": "c.case_id"}
DESK_CASES = {f"{key}{direction}": f"{_DESK_CASES}ORDER BY {column} {direction.strip() or 'ASC'}, c.case_id "
                                   "LIMIT $6 OFFSET $7"
              for key, column in DESK_ORDER.items() for direction in ("", " DESC")}
DESK_CASES_NEWEST = DESK_CASES["received_at DESC"]
REFS_OF_CASE = "SELECT kind, ref FROM case_refs WHERE case_id = $1 ORDER BY kind, ref"
PROVISIONAL_RECEIVED = "SELECT * FROM cases WHERE provisional AND status = 'received'"
INSERT_INGRESS = (
    "INSERT INTO ingress (event_id, event_type, key_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING RETURNING 1"
)
PRUNE_INGRESS = "DELETE FROM ingress WHERE received_at < now() - make_interval(days => $1)"
#: a registration's Idempotency-Key: claimed in the registering transaction (a second request with the same key
#: waits on the first's row, then finds it), settled with the case it registered
#: (kept by the database's own time: pruning compares with it, whatever the business clock says)
CLAIM_REGISTRATION_KEY = ("INSERT INTO registration_keys (caller, key, fingerprint, created_at) VALUES ($1, $2, $3, now()) "
                          "ON CONFLICT DO NOTHING RETURNING true")
REGISTRATION_KEY = "SELECT fingerprint, case_id, linked FROM registration_keys WHERE caller = $1 AND key = $2"
SETTLE_REGISTRATION_KEY = "UPDATE registration_keys SET case_id = $3, linked = $4 WHERE caller = $1 AND key = $2"
PRUNE_REGISTRATION_KEYS = "DELETE FROM registration_keys WHERE created_at < now() - make_interval(days => $1)"
#: attachments: what a case holds (counted under the case row's lock, so two uploads cannot both pass the limit)
ATTACHMENT_COLUMNS = ("attachment_id, case_id, kind, filename, content_type, size_bytes, sha256, note, uploaded_by, "
                      "uploaded_by_name, uploaded_at, storage, object_key")
CASE_STORAGE = "SELECT count(*) AS files, coalesce(sum(size_bytes), 0) AS bytes FROM attachments WHERE case_id = $1"
INSERT_ATTACHMENT = (
    "INSERT INTO attachments (attachment_id, case_id, kind, filename, content_type, size_bytes, sha256, note, "
    "uploaded_by, uploaded_by_name, uploaded_at, storage, object_key, content) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
)
ATTACHMENTS_OF_CASE = f"SELECT {ATTACHMENT_COLUMNS} FROM attachments WHERE case_id = $1 ORDER BY uploaded_at, attachment_id"
ATTACHMENT = f"SELECT {ATTACHMENT_COLUMNS}, content FROM attachments WHERE case_id = $1 AND attachment_id = $2"

#: the worker's query codes (hashes only)
INSERT_QUERY_CODE = ("INSERT INTO query_codes (case_id, code_hash, reason, issued_at, issued_by) "
                     "VALUES ($1, $2, $3, $4, $5)")
REVOKE_QUERY_CODES = "UPDATE query_codes SET revoked_at = $2 WHERE case_id = $1 AND revoked_at IS NULL"
LIVE_QUERY_CODES = "SELECT code_hash FROM query_codes WHERE case_id = $1 AND revoked_at IS NULL"

Executor = asyncpg.Connection | asyncpg.Pool


class CaseScope(NamedTuple):
    """What authorization needs of a case: the unit holding it (None before dispatch) and its region."""

    org_unit: str | None
    region_code: str


def _case(row: asyncpg.Record | None) -> IntakeCase | None:
    return None if row is None else from_row(IntakeCase, row)


async def next_case_id(conn: asyncpg.Connection, received_at: datetime) -> str:
    """案件编号 such as LC20260302000123: the day received and a sequence number."""
    seq = await conn.fetchval(NEXT_CASE_NUMBER)
    return f"LC{local_date(received_at):%Y%m%d}{seq:06d}"


async def get(conn: Executor, case_id: str, *, lock: bool = False) -> IntakeCase | None:
    return _case(await conn.fetchrow(CASE_FOR_UPDATE if lock else CASE, case_id))


async def case_scope(pool: Executor, case_id: str) -> CaseScope | None:
    row = await pool.fetchrow(CASE_SCOPE, case_id)
    return None if row is None else CaseScope(row["org_unit"], row["region_code"])


async def by_partner_ref(conn: Executor, *, court_case_no: str | None, arbitration_case_no: str | None,
                         lock: bool = True) -> IntakeCase | None:
    """The case a partner case number (案号) belongs to; locked for the unit of work unless ``lock`` is False."""
    for kind, ref in zip(REF_KINDS, (court_case_no, arbitration_case_no), strict=True):
        if ref:
            row = await conn.fetchrow(CASE_BY_REF_FOR_UPDATE if lock else CASE_BY_REF, kind, ref)
            if row:
                return _case(row)
    return None


async def open_matches(conn: Executor, *, uscc: str, id_numbers: Sequence[str], claim_types: Sequence[str],
                       lock: bool = True) -> list[IntakeCase]:
    """The open cases of the same worker(s) against the same employer with an overlapping claim, oldest first
    (locked for the unit of work unless ``lock`` is False)."""
    rows = await conn.fetch(OPEN_MATCHES_FOR_UPDATE if lock else OPEN_MATCHES, uscc, list(id_numbers),
                            list(claim_types), list(OPEN))
    return [from_row(IntakeCase, r) for r in rows]


async def workers_among(conn: Executor, case_ids: Sequence[str], id_numbers: Sequence[str]) -> dict[str, list[str]]:
    """The names of the workers of ``case_ids`` who are among ``id_numbers``, by case."""
    names: dict[str, list[str]] = {}
    for r in await conn.fetch(WORKERS_AMONG, list(case_ids), list(id_numbers)):
        names.setdefault(r["case_id"], []).append(r["name"])
    return names


async def desk_cases(pool: Executor, *, registered_by: str | None, units: Sequence[str], me: str, status: str | None,
                     q: str | None, order: str, limit: int, offset: int) -> tuple[list[IntakeCase], int]:
    """The desk's list (``order``: a key of ``DESK_CASES``) and how many rows match in all."""
    rows = await pool.fetch(DESK_CASES[order], registered_by, list(units), me, status, q, limit, offset)
    return [from_row(IntakeCase, r) for r in rows], (rows[0]["total"] if rows else 0)


async def insert_case(conn: asyncpg.Connection, **values: Any) -> IntakeCase:
    """Write a new case: ``values`` names every column of ``NEW_CASE_COLUMNS``."""
    if set(values) != set(NEW_CASE_COLUMNS):
        raise ValueError(f"a new case needs exactly {NEW_CASE_COLUMNS}, got {sorted(values)}")
    case = _case(await conn.fetchrow(INSERT_CASE, *(values[c] for c in NEW_CASE_COLUMNS)))
    assert case is not None
    return case


async def set_statuses(conn: asyncpg.Connection, statuses: dict[str, str]) -> None:
    """Each case's new status (case_id -> status) in one statement; a case not held here is passed over."""
    ordered = sorted(statuses.items())
    await conn.execute(SET_STATUSES, [c for c, _ in ordered], [s for _, s in ordered])


async def update_case(conn: asyncpg.Connection, case_id: str, **values: Any) -> IntakeCase | None:
    """Update columns (names from code, never from input); returns the updated case in the same round trip."""
    statement = f"UPDATE cases SET {assignments(list(values))}, updated_at = now() WHERE case_id = $1 RETURNING *"
    return _case(await conn.fetchrow(statement, case_id, *values.values()))


async def add_refs(conn: asyncpg.Connection, case_id: str, *, court_case_no: str | None,
                   arbitration_case_no: str | None) -> list[str]:
    """Record the partner case numbers a case is known by; returns the new ones."""
    added = []
    for kind, ref in zip(REF_KINDS, (court_case_no, arbitration_case_no), strict=True):
        if ref and await conn.fetchval(INSERT_REF, kind, ref, case_id):
            added.append(ref)
    return added


async def add_workers(conn: asyncpg.Connection, case_id: str, workers: Sequence[Worker]) -> int:
    """Add workers not yet on the case; returns how many were new."""
    status = await conn.execute(INSERT_WORKERS, case_id, [w.id_number for w in workers], [w.name for w in workers],
                                [w.phone for w in workers])
    return int(status.split()[-1])


async def workers_of_case(conn: Executor, case_id: str) -> list[dict[str, str]]:
    return [dict(r) for r in await conn.fetch(CASE_WORKERS, case_id)]


async def workers_of(conn: Executor, case_id: str) -> int:
    return int(await conn.fetchval(COUNT_WORKERS, case_id))


async def find(pool: Executor, *, ref: str | None, status: str | None, limit: int) -> list[IntakeCase]:
    """Newest first: by case id or partner case number (``ref``), by status."""
    return [from_row(IntakeCase, r) for r in await pool.fetch(FIND_CASES, ref, status, limit)]


async def refs_of(conn: Executor, case_id: str) -> list[dict[str, str]]:
    return [dict(r) for r in await conn.fetch(REFS_OF_CASE, case_id)]


async def provisional_received(conn: asyncpg.Connection) -> list[IntakeCase]:
    """Cases whose tier clock intake still holds (not yet dispatched) on a provisional due time."""
    return [from_row(IntakeCase, r) for r in await conn.fetch(PROVISIONAL_RECEIVED)]


async def record_ingress(conn: asyncpg.Connection, *, event_id: uuid.UUID, event_type: str, key_id: str) -> bool:
    """Remember a partner event received over HTTP; False if it was received before (a replay)."""
    return bool(await conn.fetchval(INSERT_INGRESS, event_id, event_type, key_id))


async def prune_replay_caches(conn: Executor, *, days: float) -> int:
    """Forget what is kept only to recognise a request sent again, once older than the retention: partner ingress
    event ids (docs/domain/security.md) and registration keys; the rows deleted."""
    deleted = 0
    for statement in (PRUNE_INGRESS, PRUNE_REGISTRATION_KEYS):
        deleted += int((await conn.execute(statement, int(days))).split()[-1])
    return deleted


async def claim_registration_key(conn: asyncpg.Connection, caller: str, key: str, fingerprint: str) -> bool:
    """True: this request is the key's first; False: an earlier one committed it (read it with ``registration_key``)."""
    return bool(await conn.fetchval(CLAIM_REGISTRATION_KEY, caller, key, fingerprint))


async def registration_key(conn: asyncpg.Connection, caller: str, key: str) -> asyncpg.Record | None:
    return await conn.fetchrow(REGISTRATION_KEY, caller, key)


async def settle_registration_key(conn: asyncpg.Connection, caller: str, key: str, case_id: str,
                                  linked: bool) -> None:
    await conn.execute(SETTLE_REGISTRATION_KEY, caller, key, case_id, linked)


async def case_storage(conn: Executor, case_id: str) -> tuple[int, int]:
    """Files and bytes a case holds."""
    row = await conn.fetchrow(CASE_STORAGE, case_id)
    return int(row["files"]), int(row["bytes"])


async def insert_attachment(conn: asyncpg.Connection, attachment: Attachment) -> None:
    a = attachment
    await conn.execute(INSERT_ATTACHMENT, a.attachment_id, a.case_id, a.kind, a.filename, a.content_type, a.size_bytes,
                       a.sha256, a.note, a.uploaded_by, a.uploaded_by_name, a.uploaded_at, a.storage, a.object_key,
                       a.content)


async def attachments_of(conn: Executor, case_id: str) -> list[Attachment]:
    return [Attachment.model_validate({**dict(r), "content": None}) for r in await conn.fetch(ATTACHMENTS_OF_CASE, case_id)]


async def attachment(conn: Executor, case_id: str, attachment_id: uuid.UUID) -> Attachment | None:
    row = await conn.fetchrow(ATTACHMENT, case_id, attachment_id)
    return None if row is None else Attachment.model_validate(dict(row))


async def add_query_code(conn: asyncpg.Connection, case_id: str, *, code_hash: str, reason: str, issued_at: datetime,
                         issued_by: str | None, replaces: bool) -> None:
    """Keep a new code's hash; ``replaces``: every earlier code of the case stops working first."""
    if replaces:
        await conn.execute(REVOKE_QUERY_CODES, case_id, issued_at)
    await conn.execute(INSERT_QUERY_CODE, case_id, code_hash, reason, issued_at, issued_by)


async def live_query_codes(conn: Executor, case_id: str) -> list[str]:
    return [r["code_hash"] for r in await conn.fetch(LIVE_QUERY_CODES, case_id)]
