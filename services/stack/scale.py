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

from services.stack import repository

#: Append-only or transient tables a copy would not make more realistic.
SKIP = ["audit_log", "parked", "ingress"]


async def grow(dsn: str, *, cases: int, template: list[str], max_rows: int = 2_000_000) -> dict[str, int]:
    """Copy the rows of the ``template`` cases until the database holds ``cases`` cases; rows per table.

    The template should be closed cases: a million copies of open ones would be a million open cases
    on a handful of mediators, not a database that has run for years."""
    conn = await asyncpg.connect(dsn)
    try:
        tables = [r["relname"] for r in await conn.fetch(repository.CASE_TABLES, SKIP)]
        plan = []
        for table in tables:
            uniques = await conn.fetch(repository.UNIQUE_KEYS, table)
            parent = any(r["cols"] == ["case_id"] for r in uniques)
            plan.append((not parent, table, uniques))
        plan.sort()
        root = next((t for child, t, _ in plan if not child), None)
        if root is None:
            return {}
        have = await repository.count_of_cases(conn, root, template)
        copies = max(0, math.ceil(cases / max(have, 1)) - 1)
        sizes: dict[str, int] = {}
        for _child, table, uniques in plan:
            rows = await repository.count_of_cases(conn, table, template)
            n = min(copies, max_rows // max(rows, 1))
            if n:
                await _copy(conn, table, uniques, n, template)
            sizes[table] = await repository.count_rows(conn, table)
        # A database that has run for years has been vacuumed (visibility map, hint bits) and checkpointed;
        # freshly copied rows have not, and autovacuum/checkpoints would otherwise run during the measurement.
        await conn.execute(repository.VACUUM_ANALYZE)
        await conn.execute(repository.CHECKPOINT)
        return sizes
    finally:
        await conn.close()


async def _copy(conn: asyncpg.Connection, table: str, uniques: list[asyncpg.Record], copies: int,
                template: list[str]) -> None:
    columns = await conn.fetch(repository.TABLE_COLUMNS, table)
    types = {c["name"]: c["type"] for c in columns}
    # a unique key without case_id must change in every copy: its uuid column, else its last text column
    fresh = set()
    for key in uniques:
        if "case_id" not in key["cols"]:
            ranked = sorted(key["cols"], key=lambda c: (types[c] == "uuid", types[c] == "text", key["cols"].index(c)))
            fresh.add(ranked[-1])
    await repository.copy_case_rows(conn, table, columns, fresh, copies, template)


async def grow_all(dsns: dict[str, str], cases: int) -> dict[str, tuple[float, dict[str, int]]]:
    """Every service's database grown from the cases the supervision projection shows closed."""
    conn = await asyncpg.connect(dsns["supervision"])
    try:
        template = [r["case_id"] for r in await conn.fetch(repository.CLOSED_CASE_IDS)]
    finally:
        await conn.close()
    out = {}
    for service, dsn in dsns.items():
        t = time.perf_counter()
        sizes = await grow(dsn, cases=cases, template=template)
        out[service] = (time.perf_counter() - t, sizes)
    return out
