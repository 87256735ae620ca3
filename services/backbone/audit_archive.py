"""Archiving the audit log by month (an operator's task; services only ever append).

The rows of a finished month (Asia/Shanghai) are written to a gzip'd JSON-lines file, the file is synced,
then the rows are deleted and the archive recorded — in one transaction, so a failure leaves the rows in
place. The trigger of the audit table lets a delete through only for the month being archived, and only
once that month is over.
"""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import json
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import asyncpg

MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")

ARCHIVED = "SELECT 1 FROM audit_archives WHERE month = $1"
#: The month's rows ($1: YYYY-MM, in Asia/Shanghai time), locked until they are deleted.
MONTH_ROWS = ("SELECT * FROM audit_log WHERE to_char((at AT TIME ZONE 'UTC') + interval '8 hours', 'YYYY-MM') = $1 "
              "ORDER BY id FOR UPDATE")
#: Tells the audit table's trigger, for this transaction only, which month's rows it may let a delete through for.
ALLOW_MONTH_DELETE = "SELECT set_config('laborcase.audit_archive_month', $1, true)"
DELETE_ROWS = "DELETE FROM audit_log WHERE id = ANY($1::bigint[])"
RECORD_ARCHIVE = ("INSERT INTO audit_archives (month, row_count, sha256, file, archived_by) "
                  "VALUES ($1, $2, $3, $4, $5)")


class ArchiveRefused(ValueError):
    """The month cannot be archived (not finished, already archived, malformed)."""


@dataclass(frozen=True)
class Archived:
    month: str
    rows: int
    file: Path
    sha256: str


async def archive_month(dsn: str, *, month: str, out_dir: Path, by: str, service: str, today: date) -> Archived:
    if not MONTH.match(month):
        raise ArchiveRefused(f"月份格式应为 YYYY-MM：{month!r}")
    if month >= f"{today:%Y-%m}":
        raise ArchiveRefused(f"{month} 尚未结束，只能归档已经结束的月份")
    target = out_dir / f"audit-{service}-{month}.jsonl.gz"
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            if await conn.fetchval(ARCHIVED, month):
                raise ArchiveRefused(f"{month} 已经归档过")
            rows = await conn.fetch(MONTH_ROWS, month)
            digest = await asyncio.to_thread(_write, [dict(r) for r in rows], target)
            await conn.execute(ALLOW_MONTH_DELETE, month)
            await conn.execute(DELETE_ROWS, [r["id"] for r in rows])
            await conn.execute(RECORD_ARCHIVE, month, len(rows), digest, str(target), by)
        return Archived(month, len(rows), target, digest)
    finally:
        await conn.close()


def _write(rows: list[dict], target: Path) -> str:
    """The rows as gzip'd JSON lines, synced to disk before anything is deleted; returns the file's sha256."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".partial")
    with gzip.open(partial, "wt", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, default=str) + "\n")
    with open(partial, "rb") as f:
        os.fsync(f.fileno())
        digest = hashlib.sha256(f.read()).hexdigest()
    partial.rename(target)
    return digest
