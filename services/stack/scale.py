"""Grow a service's database to a million cases, for the memory and query-cost figures of ``laborcase bench``.

The rows are copies of the cases a real run has just carried through the lifecycle (so every column holds
what the service itself wrote), each copy under a new case id (``<case id>~<n>``). Every table with a
``case_id`` column is copied, parents before children; other unique columns get fresh values (uuid → a new
uuid, text → the same suffix) and serial columns their defaults. Tables holding many rows per case are
capped (``max_rows``) so that a run stays in minutes.
"""

from __future__ import annotations

import math
import time

import asyncpg

_COLUMNS = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type,
       coalesce(pg_get_expr(d.adbin, d.adrelid), '') AS default_expr
FROM pg_attribute a LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''
ORDER BY a.attnum
"""

_UNIQUE = """
SELECT array_agg(a.attname::text) AS cols, bool_or(i.indisprimary) AS primary_key
FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey)
WHERE i.indrelid = $1::regclass AND i.indisunique
GROUP BY i.indexrelid
"""

_TABLES = """
SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'case_id' AND NOT a.attisdropped
WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> ALL($1)
"""

#: Append-only or transient tables a copy would not make more realistic.
SKIP = ["audit_log", "parked", "ingress"]


async def grow(dsn: str, *, cases: int, template: list[str], max_rows: int = 2_000_000) -> dict[str, int]:
    """Copy the rows of the ``template`` cases until the database holds ``cases`` cases; rows per table.

    The template should be closed cases: a million copies of open ones would be a million open cases
    on a handful of mediators, not a database that has run for years."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = [r["relname"] for r in await conn.fetch(_TABLES, SKIP)]
        plan = []
        for table in tables:
            uniques = await conn.fetch(_UNIQUE, table)
            parent = any(r["cols"] == ["case_id"] for r in uniques)
            plan.append((not parent, table, uniques))
        plan.sort()
        root = next((t for child, t, _ in plan if not child), None)
        if root is None:
            return {}
        have = await conn.fetchval(f'SELECT count(*) FROM "{root}" WHERE case_id = ANY($1)', template)
        copies = max(0, math.ceil(cases / max(have, 1)) - 1)
        sizes: dict[str, int] = {}
        for _child, table, uniques in plan:
            rows = await conn.fetchval(f'SELECT count(*) FROM "{table}" WHERE case_id = ANY($1)', template)
            n = min(copies, max_rows // max(rows, 1))
            if n:
                await _copy(conn, table, uniques, n, template)
            sizes[table] = await conn.fetchval(f'SELECT count(*) FROM "{table}"')
        # A database that has run for years has been vacuumed (visibility map, hint bits) and checkpointed;
        # freshly copied rows have not, and autovacuum/checkpoints would otherwise run during the measurement.
        await conn.execute("VACUUM (ANALYZE)")
        await conn.execute("CHECKPOINT")
        return sizes
    finally:
        await conn.close()


async def _copy(conn: asyncpg.Connection, table: str, uniques: list[asyncpg.Record], copies: int,
                template: list[str]) -> None:
    columns = await conn.fetch(_COLUMNS, table)
    types = {c["name"]: c["type"] for c in columns}
    # a unique key without case_id must change in every copy: its uuid column, else its last text column
    fresh = set()
    for key in uniques:
        if "case_id" not in key["cols"]:
            ranked = sorted(key["cols"], key=lambda c: (types[c] == "uuid", types[c] == "text", key["cols"].index(c)))
            fresh.add(ranked[-1])
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
        f'FROM "{table}" t CROSS JOIN generate_series(1, {copies}) g WHERE t.case_id = ANY($1)', template)


async def grow_all(dsns: dict[str, str], cases: int) -> dict[str, tuple[float, dict[str, int]]]:
    """Every service's database grown from the cases the supervision projection shows closed."""
    conn = await asyncpg.connect(dsns["supervision"])
    try:
        template = [r["case_id"] for r in await conn.fetch("SELECT case_id FROM cases WHERE status = 'closed'")]
    finally:
        await conn.close()
    out = {}
    for service, dsn in dsns.items():
        t = time.perf_counter()
        sizes = await grow(dsn, cases=cases, template=template)
        out[service] = (time.perf_counter() - t, sizes)
    return out
