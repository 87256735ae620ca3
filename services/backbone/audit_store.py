"""The audit log's rows (append-only; archived by month in audit_archive.py). Who may read which rows is the
security policy's decision (services/security/policy.py); this module only writes and reads them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:  # the console writes audit rows without loading SQLModel
    from services.backbone.models import AuditLog

WRITE = ("INSERT INTO audit_log (service, actor, role, org_unit, action, case_id, method, path, status, client, "
         "forwarded_for, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
ENTRIES = ("SELECT * FROM audit_log WHERE ($1::text IS NULL OR case_id = $1) AND ($2::text IS NULL OR actor = $2) "
           "AND ($3::text[] IS NULL OR org_unit = ANY($3)) ORDER BY id DESC LIMIT $4")


async def write(pool: asyncpg.Pool, service: str, entry: dict[str, Any]) -> None:
    await pool.execute(WRITE, service, entry["actor"], entry["role"], entry["org_unit"], entry["action"],
                       entry["case_id"], entry["method"], entry["path"], entry["status"], entry["client"],
                       entry["forwarded_for"], entry.get("detail"))


async def entries(pool: asyncpg.Pool, *, case_id: str | None, actor: str | None, units: Sequence[str] | None,
                  limit: int) -> list[AuditLog]:
    """Newest first; ``units`` None: every unit's."""
    from services.backbone.models import AuditLog, from_row

    rows = await pool.fetch(ENTRIES, case_id, actor, list(units) if units is not None else None, limit)
    return [from_row(AuditLog, r) for r in rows]
