"""A rebuild loads the projection as a bulk load: the indexes that only pages (and the inbox's pruning) read are set
aside while the replay writes, and made again, each in one pass, when it is done (PostgreSQL's own advice for
populating a database).

A projected case is rewritten once for every batch that touches it, and its status, stage, unit, due time and
mediator are all indexed: every such rewrite adds an entry to each of the case's nine indexes, the trigram index of
its parties' names among them, and each timeline row one to the timeline's, each event's inbox row one to the
inbox's index by time (which only the retention's pruning reads, every few seconds in the running service). The
replay itself never reads through those indexes (it finds a case by its number, a deadline by its id, a timeline or
an inbox row by its event's), so they are dropped in the transaction that empties the projection and made again
before the rebuild says it is done.
Unique indexes stay: ``ON CONFLICT`` and the one-open-alert rule stand on them.

Their definitions are kept in a table (``rebuild_set_aside_indexes``) in that same transaction: a rebuild interrupted
and resumed, or run again, puts back what the first attempt set aside; and the service, started on a projection
an unfinished rebuild left, puts them back itself before it consumes (``put_back``), so pages never run without them.
"""

from __future__ import annotations

import logging

import asyncpg

log = logging.getLogger(__name__)

#: The tables the replay writes most, whose read-only indexes it sets aside (the inbox's: a fifth of its claim's
#: time in a rebuild of 100,000 events).
TABLES = ("cases", "timeline", "inbox")
KEEP_TABLE = "CREATE TABLE IF NOT EXISTS rebuild_set_aside_indexes (name text PRIMARY KEY, definition text NOT NULL)"
#: The indexes of ``TABLES`` that enforce nothing (not unique, not a primary key, not behind a constraint).
READ_ONLY_INDEXES = (
    "SELECT i.relname AS name, pg_get_indexdef(i.oid) AS definition FROM pg_index x "
    "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = ANY($1::regclass[]) AND NOT x.indisunique "
    "AND NOT x.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.oid) "
    "ORDER BY i.relname")
KEEP_DEFINITION = "INSERT INTO rebuild_set_aside_indexes (name, definition) VALUES ($1, $2) ON CONFLICT DO NOTHING"
SET_ASIDE = "SELECT name, definition FROM rebuild_set_aside_indexes ORDER BY name"
#: read from the catalog's rows (a fresh snapshot each statement), not its cache: after waiting for the lock, this
#: sees the table another replica dropped meanwhile
ANY_SET_ASIDE = ("SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_tables WHERE schemaname = current_schema() "
                 "AND tablename = 'rebuild_set_aside_indexes')")
EXISTS = "SELECT to_regclass(quote_ident($1)) IS NOT NULL"
FORGET = "DROP TABLE IF EXISTS rebuild_set_aside_indexes"


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


async def set_aside(conn: asyncpg.Connection) -> list[str]:
    """Drop the read-only indexes of the projection's busiest tables, their definitions kept (in the caller's
    transaction, the one that empties the projection). Returns the indexes dropped now."""
    await conn.execute(KEEP_TABLE)
    dropped = []
    for row in await conn.fetch(READ_ONLY_INDEXES, list(TABLES)):
        await conn.execute(KEEP_DEFINITION, row["name"], row["definition"])
        await conn.execute(f"DROP INDEX {_quoted(row['name'])}")
        dropped.append(row["name"])
    return dropped


#: Replicas starting together make the indexes once: the first to take this lock (for its transaction) makes them.
LOCK = "SELECT pg_advisory_xact_lock(hashtext('laborcase.rebuild_set_aside_indexes'))"
#: An index over a province's history takes minutes, not the pool's minute per statement.
INDEX_SECONDS = 6 * 3600.0


async def put_back(pool: asyncpg.Pool) -> list[str]:
    """Make again every index set aside (each in one pass over its table) and forget them, in one transaction
    under a lock (one replica makes them; the others find them made). Returns the indexes made; none when nothing
    was set aside."""
    async with pool.acquire() as conn, conn.transaction():
        if not await conn.fetchval(ANY_SET_ASIDE):
            return []
        await conn.execute(LOCK)
        if not await conn.fetchval(ANY_SET_ASIDE):  # made while this one waited for the lock
            return []
        made = []
        for row in await conn.fetch(SET_ASIDE):
            if not await conn.fetchval(EXISTS, row["name"]):
                await conn.execute(row["definition"], timeout=INDEX_SECONDS)
                made.append(row["name"])
        await conn.execute(FORGET)
        return made


async def put_back_on_start(pool: asyncpg.Pool) -> None:
    """At the service's start: an unfinished rebuild's indexes put back (pages, and the inbox's pruning, would scan
    without them)."""
    try:
        made = await put_back(pool)
    except asyncpg.InsufficientPrivilegeError:  # the service's own role does not own the tables
        log.error("indexes an unfinished rebuild set aside are missing and this role cannot make them (pages and the "
                  "inbox's pruning scan whole tables meanwhile): finish the rebuild (laborcase supervision rebuild "
                  "--resume) as the tables' owner")
        return
    if made:
        log.warning("indexes an unfinished rebuild had set aside were made again", extra={"indexes": made})
