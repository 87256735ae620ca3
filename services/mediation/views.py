"""What the API and the pages show of a case: its summary line (worklist) and its whole file (case page)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import asyncpg

from services.backbone import caselog
from services.backbone.deadline_store import case_clocks
from services.backbone.usecase import found
from services.calendar.model import shanghai_iso
from services.mediation import repository as repo
from services.mediation.domain.case import STATE_ZH

#: the case log's actions as the timeline names them (办理记录)
ACTION_ZH = {"opened": "调解立案", "assigned": "分派调解员", "accepted": "签收", "declined": "拒绝接收",
             "reassigning": "改派", "session_scheduled": "安排调解会", "session_held": "召开调解会", "settled": "调解成功",
             "failed": "调解不成", "withdrawn": "撤回", "confirmation_confirmed": "法院确认",
             "confirmation_rejected": "法院不予确认",
             "court_filed": "法院立案", "window_extended": "延长委托调解期限", "reopened": "重新调解", "moved": "转交上级单位",
             "assignment_pending": "待分派（无可用调解员）", "arbitration_accepted": "仲裁受理", "award_issued": "仲裁裁决",
             "reclassified": "调整分级", "enforcement_requested": "申请强制执行"}


def summary(row: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """A case's line in a worklist (``row``: a case, with its tier clock's columns when the query joined them)."""
    due = row.get("tier_due_at") or row["due_at"]
    tier_state = row.get("tier_state")
    return {
        "case_id": row["case_id"], "org_unit": row["org_unit"], "kind": row["kind"], "state": row["state"],
        "state_zh": STATE_ZH.get(row["state"], row["state"]), "tier": row["tier"], "due_at": shanghai_iso(due),
        "overdue": tier_state == "breached" or (row["state"] != "resolved" and due < now),
        "at_risk": bool(row.get("tier_warned")) and tier_state != "breached",
        "mediator_id": row["mediator_id"],
        "mediator_name": row.get("mediator_name"),
        "court_case_no": row["court_case_no"], "arbitration_case_no": row["arbitration_case_no"],
        "outcome": row["outcome"], "group_dispute": row["group_dispute"],
        "employer": row["facts"]["employer"]["name"], "workers": len(row["facts"]["workers"]),
        "summary": row["facts"].get("summary", ""),
    }


async def case_detail(pool: asyncpg.Pool, case_id: str, *, now: datetime) -> dict[str, Any]:
    """The case's file: its summary, facts, agreement, clocks, sessions and log."""
    record = found(await repo.get(pool, case_id), repo.missing(case_id))
    clocks = await case_clocks(pool, case_id, owner="mediation")
    return {
        **summary(record.model_dump(), now=now), "facts": record.facts, "agreement": record.agreement,
        "representatives": record.representatives, "disputed_points": record.disputed_points,
        "deadlines": [{"kind": d.kind, "state": d.state, "due_at": shanghai_iso(d.due_at), "warned": d.warned,
                       "paused": d.paused_at is not None, "provisional": d.provisional} for d in clocks],
        "sessions": [{"session_id": str(s.session_id), "scheduled_at": shanghai_iso(s.scheduled_at),
                      "location": s.location, "held_at": shanghai_iso(s.held_at) if s.held_at else None,
                      "parties_present": s.parties_present, "notes": s.notes}
                     for s in await repo.sessions_of(pool, case_id)],
        "log": await caselog.entries(pool, case_id),
    }
