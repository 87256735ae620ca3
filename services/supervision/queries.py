"""Reads of the projection for the API and the console."""

from __future__ import annotations

from typing import Any

import asyncpg

from services.calendar.model import shanghai_iso
from services.hierarchy.orgunits import Hierarchy

CASE_FIELDS = ("case_id", "partner_code", "status", "stage", "org_unit", "tier", "due_at", "provisional", "channel",
               "region_code",
               "received_at", "worker_count", "claim_types", "group_dispute", "route", "mediator_id",
               "mediation_outcome", "returned_to", "legal_aid", "amount_recovered", "settled_amount", "satisfaction",
               "on_time", "resolved_at", "closed_at", "reopened")


def _json(value: Any) -> Any:
    if hasattr(value, "astimezone"):
        return shanghai_iso(value)
    if hasattr(value, "is_finite"):  # Decimal
        return float(value)
    return value


def case_row(row: asyncpg.Record, hierarchy: Hierarchy) -> dict[str, Any]:
    out = {k: _json(row[k]) for k in CASE_FIELDS}
    unit = hierarchy.get(row["org_unit"]) if row["org_unit"] else None
    out["org_unit_name"] = unit.name if unit else None
    return out


async def find_cases(pool: asyncpg.Pool, *, ref: str | None, status: str | None, tier: str | None,
                     org_units: list[str] | None, overdue: bool | None, limit: int) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT c.* FROM cases c WHERE ($1::text IS NULL OR c.case_id = $1 OR EXISTS "
        "(SELECT 1 FROM case_refs r WHERE r.case_id = c.case_id AND r.ref = $1)) "
        "AND ($2::text IS NULL OR c.status = $2) AND ($3::text IS NULL OR c.tier = $3) "
        "AND ($4::text[] IS NULL OR c.org_unit = ANY($4)) "
        "AND ($5::bool IS NULL OR $5 = EXISTS (SELECT 1 FROM alerts a WHERE a.case_id = c.case_id "
        "AND a.kind = 'overdue' AND a.state <> 'resolved')) AND c.received_at IS NOT NULL "
        "ORDER BY c.due_at NULLS LAST LIMIT $6", ref, status, tier, org_units, overdue, limit)


async def case_detail(pool: asyncpg.Pool, case_id: str, hierarchy: Hierarchy) -> dict[str, Any] | None:
    row = await pool.fetchrow("SELECT * FROM cases WHERE case_id = $1", case_id)
    if row is None:
        return None
    deadlines = await pool.fetch("SELECT * FROM case_deadlines WHERE case_id = $1 AND owner <> 'supervision' "
                                 "ORDER BY changed_at", case_id)
    timeline = await pool.fetch(
        "SELECT type, source, at, summary, data, trace_id, seq FROM timeline WHERE case_id = $1 UNION ALL "
        "SELECT p.type, p.source, p.at, p.summary, p.data, NULL, NULL FROM partner_events p "
        "JOIN case_refs r ON r.ref = p.ref JOIN cases c ON c.case_id = r.case_id WHERE r.case_id = $1 "
        "AND (p.sender IS NULL OR c.partner_code IS NULL OR p.sender = c.partner_code) "  # only the case's own partner
        "ORDER BY at, seq NULLS FIRST", case_id)
    alert_rows = await pool.fetch("SELECT * FROM alerts WHERE case_id = $1 ORDER BY alert_id", case_id)
    refs = [r["ref"] for r in await pool.fetch("SELECT ref FROM case_refs WHERE case_id = $1 ORDER BY ref", case_id)]
    return {
        **case_row(row, hierarchy), "refs": refs,
        "deadlines": [{"deadline_id": d["deadline_id"], "kind": d["kind"], "owner": d["owner"], "state": d["state"],
                       "due_at": shanghai_iso(d["due_at"]), "provisional": d["provisional"], "on_time": d["on_time"]}
                      for d in deadlines],
        "timeline": [{"type": t["type"], "source": t["source"], "at": shanghai_iso(t["at"]), "summary": t["summary"],
                      "trace_id": t["trace_id"]} for t in timeline],
        "alerts": [alert_json(a, hierarchy) for a in alert_rows],
    }


def alert_json(a: asyncpg.Record, hierarchy: Hierarchy) -> dict[str, Any]:
    unit = hierarchy.get(a["escalated_to"]) if a["escalated_to"] else None
    return {"alert_id": a["alert_id"], "case_id": a["case_id"], "kind": a["kind"], "state": a["state"],
            "deadline_kind": a["deadline_kind"], "org_unit": a["org_unit"], "escalated_to": a["escalated_to"],
            "escalated_to_name": unit.name if unit else None, "level": a["level"],
            "due_at": shanghai_iso(a["due_at"]) if a["due_at"] else None,
            "raised_at": shanghai_iso(a["raised_at"]), "acknowledged_by": a["acknowledged_by"],
            "ack_note": a["ack_note"], "detail": a["detail"]}


async def open_alerts(pool: asyncpg.Pool, *, kinds: list[str], units: list[str] | None, limit: int = 500
                      ) -> list[asyncpg.Record]:
    return await pool.fetch(
        "SELECT * FROM alerts WHERE state <> 'resolved' AND kind = ANY($1::text[]) "
        "AND ($2::text[] IS NULL OR escalated_to = ANY($2) OR org_unit = ANY($2)) "
        "ORDER BY (kind = 'overdue') DESC, due_at NULLS LAST, alert_id LIMIT $3", kinds, units, limit)
