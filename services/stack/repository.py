"""The operator tools' SQL (``laborcase bench``, ``laborcase chaos``, growing databases to N cases), in one place.

The tools read and write the services' own databases from outside, so each statement says in a comment which
database it runs against: a service's, every service's (the backbone's tables, which every service has), or a
scratch database the bench creates for itself.
"""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg

# --- bench: the floor -----------------------------------------------------------------------------------------

# the bench's scratch floor database
CREATE_FLOOR_STATE = "CREATE TABLE IF NOT EXISTS floor_state (event_id uuid PRIMARY KEY, body bytea)"
# the bench's scratch floor database (the table of CREATE_FLOOR_STATE)
INSERT_FLOOR_STATE = "INSERT INTO floor_state VALUES ($1, $2)"

# --- bench: the lifecycle, hops and alerts ----------------------------------------------------------------------

# supervision's database
CLOSED_COUNT = "SELECT count(*) FROM cases WHERE case_id = ANY($1) AND status = 'closed'"
# intake's database
DISPATCHES_SENT = ("SELECT event_id, created_at FROM outbox WHERE event_type = 'intake.case_dispatched' "
                   "AND convert_from(key, 'UTF8') = ANY($1::text[])")
# mediation's database
DISPATCHES_PROCESSED = "SELECT event_id, processed_at FROM inbox WHERE event_id = ANY($1::uuid[])"
# supervision's database
OVERDUE_ALERTS = "SELECT raised_at, due_at FROM alerts WHERE kind = 'overdue' AND case_id = ANY($1)"
# every service's database
OUTBOX_COUNT = "SELECT count(*) FROM outbox"
#: supervision: how many of these cases the worker's view already answers (a code's hash and a step)
PUBLIC_VIEWS_READY = ("SELECT count(*) FROM public_progress WHERE case_id = ANY($1::text[]) "
                      "AND cardinality(code_hashes) > 0 AND jsonb_array_length(steps) > 0")

# --- bench: the deadline scan -------------------------------------------------------------------------------------

# the bench's scratch scan database (the backbone's tables only)
SEED_OPEN_DEADLINES = (
    "INSERT INTO deadlines (id, case_id, kind, owner, state, started_at, due_at, warn_at, warn_ratio, warned, "
    "next_fire_at) SELECT gen_random_uuid(), 'C' || g, 'tier', 'bench', 'open', now(), now() + interval '30 days', "
    "now() + interval '24 days', 0.8, false, now() + interval '24 days' FROM generate_series(1, $1) g")
# the bench's scratch scan database (the backbone's tables only)
ANALYZE_DEADLINES = "ANALYZE deadlines"
# the bench's scratch scan database (the backbone's tables only)
SEED_DUE_DEADLINES = (
    "INSERT INTO deadlines (id, case_id, kind, owner, state, started_at, due_at, warn_at, warn_ratio, warned, "
    "next_fire_at) SELECT gen_random_uuid(), 'D' || $1 || '-' || g, 'tier', 'bench', 'open', "
    "now() - interval '2 days', now() - interval '1 second', now() - interval '1 day', 0.8, true, "
    "now() - interval '1 second' FROM generate_series(1, 100) g")

# --- chaos: the invariants ----------------------------------------------------------------------------------------

# intake's database
KNOWN_REFS = "SELECT ref FROM case_refs WHERE ref = ANY($1)"
# intake's database
CASES_PER_EMPLOYER = ("SELECT case_id, count(*) OVER (PARTITION BY employer_uscc) AS n FROM cases "
                      "WHERE case_id = ANY($1)")
# mediation's database
SETTLEMENTS_PER_CASE = ("SELECT convert_from(key, 'UTF8') AS case_id, count(*) AS n FROM outbox "
                        "WHERE event_type = 'mediation.settled' AND convert_from(key, 'UTF8') = ANY($1) "
                        "GROUP BY 1")
# followup's database
FIRST_CALLS_PER_CASE = ("SELECT case_id, count(*) FILTER (WHERE kind = 'first' AND state = 'done') AS n, "
                        "bool_and(state <> 'scheduled') AS all_done FROM followups WHERE case_id = ANY($1) "
                        "GROUP BY case_id")
# supervision's database
CLOSED_AND_SETTLED = ("SELECT count(*) AS n, coalesce(sum(settled_amount), 0) AS money FROM cases "
                      "WHERE case_id = ANY($1) AND status = 'closed'")
# supervision's database
RESOLUTIONS_PER_CASE = ("SELECT case_id, count(*) AS n FROM timeline WHERE case_id = ANY($1) "
                        "AND type = 'mediation.case_resolved' GROUP BY case_id")
# every service's database
DEADLINE_SIGNALS_TWICE = ("SELECT count(*) AS n FROM (SELECT 1 FROM outbox WHERE event_type IN "
                          "('deadline.warning', 'deadline.breached', 'deadline.met') GROUP BY event_type, "
                          "convert_from(value, 'UTF8')::jsonb -> 'data' ->> 'deadline_id' HAVING count(*) > 1) d")
# every service's database
DEADLINES_RUNNING = "SELECT count(*) AS n FROM deadlines WHERE case_id = ANY($1) AND state IN ('open', 'paused')"
# every service's database
DEADLINE_SIGNALS = ("SELECT count(*) AS n FROM outbox WHERE event_type LIKE 'deadline.%' "
                    "AND convert_from(key, 'UTF8') = ANY($1)")

# --- chaos: where unfinished cases are stuck ----------------------------------------------------------------------

# mediation's database
MEDIATION_STATES = "SELECT case_id, state FROM mediation_cases WHERE case_id = ANY($1)"
# followup's database
FOLLOWUP_STATES = "SELECT case_id, state FROM followup_cases WHERE case_id = ANY($1)"
# every service's database (chaos reads mediation's and followup's)
PARKED_COUNT = "SELECT count(*) FROM parked"
# every service's database (chaos reads mediation's and followup's)
OUTBOX_BACKLOG = "SELECT count(*) FROM outbox WHERE published_at IS NULL"

# --- scale: growing a database to N cases -------------------------------------------------------------------------

# any service's database (the catalog: the columns of table $1)
TABLE_COLUMNS = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS default_expr
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum
"""

# any service's database (the catalog: the unique keys of table $1)
UNIQUE_KEYS = """
SELECT array_agg(a.attname::text) AS cols, bool_or(i.indisprimary) AS primary_key
FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = $1::regclass AND i.indisunique
GROUP BY i.indexrelid
"""

# any service's database (the catalog: its tables with a case_id column, except those of $1)
CASE_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'case_id' AND NOT a.attisdropped
WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> ALL($1)
"""

# any service's database
VACUUM_ANALYZE = "VACUUM (ANALYZE)"
# any service's database
CHECKPOINT = "CHECKPOINT"
# supervision's database
CLOSED_CASE_IDS = "SELECT case_id FROM cases WHERE status = 'closed'"


async def count_of_cases(conn: asyncpg.Connection, table: str, case_ids: list[str]) -> int:
    """Any service's database: rows of ``table`` (a name from CASE_TABLES) belonging to ``case_ids``."""
    return await conn.fetchval(f'SELECT count(*) FROM "{table}" WHERE case_id = ANY($1)', case_ids)


async def count_rows(conn: asyncpg.Connection, table: str) -> int:
    """Any service's database: every row of ``table`` (a name from CASE_TABLES)."""
    return await conn.fetchval(f'SELECT count(*) FROM "{table}"')


async def copy_case_rows(conn: asyncpg.Connection, table: str, columns: Sequence[asyncpg.Record], fresh: set[str],
                         copies: int, case_ids: list[str]) -> None:
    """Any service's database: the rows of ``table`` of ``case_ids``, inserted ``copies`` times, each copy under
    the case id ``<case id>~<n>``.

    ``columns`` are the table's TABLE_COLUMNS; ``fresh`` the columns that must change in every copy (a serial one
    takes its default, a text one the same ``~<n>`` suffix, a uuid one a new uuid)."""
    names, values = [], []
    for col in columns:
        name, type_, default = col["name"], col["type"], col["default_expr"]
        if name in fresh and default.startswith("nextval("):
            continue  # serial: its default
        names.append(f'"{name}"')
        if name == "case_id" or (name in fresh and type_ == "text"):
            values.append(f"""t."{name}" || '~' || g""")
        elif name in fresh and type_ == "uuid":
            values.append("gen_random_uuid()")
        else:
            values.append(f't."{name}"')
    await conn.execute(
        f'INSERT INTO "{table}" ({", ".join(names)}) SELECT {", ".join(values)} '
        f'FROM "{table}" t CROSS JOIN generate_series(1, {copies}) g WHERE t.case_id = ANY($1)', case_ids)


# --- notification (chaos invariants, bench latency) ---------------------------------------------------------

#: per case, step and phone: how many messages, whether all went out, and when they were due
NOTIFICATION_MESSAGES = (
    "SELECT case_id, kind, phone, count(*) AS n, bool_and(state IN ('sent', 'delivered')) AS sent, "
    "min(not_before) AS due FROM messages WHERE case_id = ANY($1) GROUP BY case_id, kind, phone")
#: a message the recording gateway recorded more than once (sent twice)
NOTIFICATION_RECORDED_TWICE = (
    "SELECT count(*) AS n FROM (SELECT message_id FROM recorded_sms GROUP BY message_id HAVING count(*) > 1) AS twice")
#: messages recorded in quiet hours (21:00–08:00 Asia/Shanghai)
NOTIFICATION_IN_QUIET_HOURS = (
    "SELECT count(*) AS n FROM recorded_sms WHERE (recorded_at AT TIME ZONE 'Asia/Shanghai')::time >= '21:00' "
    "OR (recorded_at AT TIME ZONE 'Asia/Shanghai')::time < '08:00'")
#: seconds from each event to its message going out (messages of ``$1``'s cases that went out)
NOTIFICATION_LATENCIES = (
    "SELECT extract(epoch FROM sent_at - event_at)::float8 AS s FROM messages "
    "WHERE case_id = ANY($1) AND sent_at IS NOT NULL")
NOTIFICATION_PENDING = "SELECT count(*) AS n FROM messages WHERE case_id = ANY($1) AND state IN ('queued', 'held')"
NOTIFICATION_HELD = "SELECT count(*) FROM messages WHERE case_id = ANY($1) AND state = 'held'"
