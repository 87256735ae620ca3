"""After a chaos run: supervision's projection rebuilt from the topics into an empty database equals the live one,
table by table (``laborcase chaos``; issue: a rebuilt projection equals the live one after kills and restarts).

Each table is compared as the set of its rows, without the columns that record when the projection itself wrote
(``updated_at``) or that a sequence numbers (``timeline.seq``, ``alerts.alert_id``). Arrays that collect parties
are compared as sets. A difference is reported with its count and a few rows of each side.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import asyncpg

#: table -> columns left out
TABLES: dict[str, set[str]] = {
    "cases": {"updated_at"},
    "case_refs": set(),
    "timeline": {"seq"},
    "partner_events": set(),
    "case_deadlines": set(),
    "alerts": {"alert_id", "updated_at"},
    "public_progress": {"updated_at"},
}
#: columns compared as sets (the order in which a case's parties were added follows the order events arrived)
AS_SETS = {"worker_names", "worker_ids", "claim_types", "code_hashes"}


@dataclass
class Comparison:
    equal: list[str] = field(default_factory=list)
    different: dict[str, str] = field(default_factory=dict)


async def _rows(conn: asyncpg.Connection, table: str, left_out: set[str]) -> tuple[list[str], set[tuple]]:
    columns = [r["column_name"] for r in await conn.fetch(
        "SELECT column_name FROM information_schema.columns WHERE table_name = $1 AND table_schema = 'public' "
        "ORDER BY ordinal_position", table) if r["column_name"] not in left_out]
    shown = ", ".join(f"(SELECT array_agg(x ORDER BY x) FROM unnest({c}) x)::text" if c in AS_SETS else f"{c}::text"
                      for c in columns)
    return columns, {tuple(r) for r in await conn.fetch(f"SELECT {shown} FROM {table}")}


async def compare(live_dsn: str, rebuilt_dsn: str) -> Comparison:
    out = Comparison()
    live, rebuilt = await asyncpg.connect(live_dsn), await asyncpg.connect(rebuilt_dsn)
    try:
        for table, left_out in TABLES.items():
            columns, a = await _rows(live, table, left_out)
            _, b = await _rows(rebuilt, table, left_out)
            if a == b:
                out.equal.append(f"{table} ({len(a):,} rows)")
                continue
            only_live, only_rebuilt = sorted(a - b)[:2], sorted(b - a)[:2]
            out.different[table] = (f"{len(a):,} rows live, {len(b):,} rebuilt, {len(a - b):,} only live, "
                                    f"{len(b - a):,} only rebuilt; columns {columns}; live e.g. {only_live}; "
                                    f"rebuilt e.g. {only_rebuilt}")
    finally:
        await live.close()
        await rebuilt.close()
    return out
