"""What the API and the pages show of a case: its summary line (worklist) and its whole file (case page), with
its log (办理记录) written out in words."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

import asyncpg

from events.glossary import MEDIATION_DETAIL, zh
from services.backbone import caselog
from services.backbone.deadline_store import clocks_of
from services.backbone.models import from_row
from services.backbone.usecase import found
from services.calendar.model import shanghai_iso
from services.hierarchy.orgunits import Hierarchy, default_hierarchy
from services.mediation import repository as repo
from services.mediation.models import MediationSession
from services.web import words


def summary(row: Mapping[str, Any], *, now: datetime) -> dict[str, Any]:
    """A case's line in a worklist (``row``: a case, with its clocks' columns when the worklist query joined them:
    ``overdue`` and ``at_risk`` are the supervisors' board's definitions, see repository._CASES)."""
    due = row.get("tier_due_at") or row["due_at"]
    return {
        "case_id": row["case_id"], "org_unit": row["org_unit"], "kind": row["kind"], "state": row["state"],
        "state_zh": zh("mediation_state", row["state"]), "tier": row["tier"], "due_at": shanghai_iso(due),
        "overdue": bool(row.get("overdue")), "at_risk": bool(row.get("at_risk")),
        "mediator_id": row["mediator_id"],
        "mediator_name": row.get("mediator_name"),
        "court_case_no": row["court_case_no"], "arbitration_case_no": row["arbitration_case_no"],
        "outcome": row["outcome"], "group_dispute": row["group_dispute"],
        "employer": row["facts"]["employer"]["name"], "workers": len(row["facts"]["workers"]),
        "worker_names": [w["name"] for w in row["facts"]["workers"]],
        "received_at": shanghai_iso(row["received_at"]) if row.get("received_at") else None,
        "summary": row["facts"].get("summary", ""),
    }


async def case_detail(db: asyncpg.Pool | asyncpg.Connection, case_id: str, *, now: datetime,
                      hierarchy: Hierarchy | None = None) -> dict[str, Any]:
    """The case's file: its summary, facts, agreement, clocks, sessions, the court's confirmation and its log — read
    in one statement (``repository.CASE_FILE``), so as of one commit, never the halves of a write between them."""
    line = found(await repo.case_file(db, case_id), repo.missing(case_id))
    record = repo.record_of(line)  # the line holds the whole row (c.*): no second read of it
    clocks = clocks_of(line["file_clocks"])
    log = caselog.entries_of(line["file_log"])
    names: dict[str, str] = line["file_names"]
    sessions = [from_row(MediationSession, r) for r in line["file_sessions"]]
    return {
        **summary(line, now=now), "facts": record.facts, "agreement": record.agreement,
        "representatives": record.representatives, "disputed_points": record.disputed_points,
        "referral_kind": record.referral_kind, "procedure": record.procedure,
        "mediator_name": names.get(record.mediator_id or "", None),
        "deadlines": [{"kind": d.kind, "state": d.state, "due_at": shanghai_iso(d.due_at), "warned": d.warned,
                       "paused": d.paused_at is not None, "pause_reason": d.pause_reason,
                       "extended": bool(d.attributes.get("extended")), "provisional": d.provisional}
                      for d in clocks],
        "sessions": [{"session_id": str(s.session_id), "scheduled_at": shanghai_iso(s.scheduled_at),
                      "location": s.location, "held_at": shanghai_iso(s.held_at) if s.held_at else None,
                      "parties_present": s.parties_present, "notes": s.notes, "result": s.result}
                     for s in sessions],
        "confirmation": confirmation(record.state, log),
        "log": log,
        "log_lines": [entry_in_words(e, names, hierarchy or default_hierarchy()) for e in log],
    }


def confirmation(state: str, log: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The judicial confirmation (司法确认) as it stands: requested (the case waits for the court), or the court's
    latest decision (confirmed / rejected, with its reason); None when it was never asked for."""
    latest: dict[str, Any] | None = None
    for e in log:
        if e["action"] == "settled" and e["detail"].get("confirmation_requested"):
            latest = {"state": "requested", "requested_at": e["at"], "decided_at": None, "reason": ""}
        elif e["action"] in ("confirmation_confirmed", "confirmation_rejected"):
            latest = {"state": e["action"].removeprefix("confirmation_"),
                      "requested_at": latest["requested_at"] if latest else None, "decided_at": e["at"],
                      "reason": e["detail"].get("reason") or ""}
    if state == "awaiting_confirmation" and (latest is None or latest["state"] != "requested"):
        latest = {"state": "requested", "requested_at": None, "decided_at": None, "reason": ""}
    return latest


def actor_name(actor: str | None, names: Mapping[str, str]) -> str:
    """Who acted, as people read it: a mediator by name, a partner or the system in words, a person as logged."""
    if not actor:
        return zh("system_actor", "system")
    if actor in names:
        return names[actor]
    head = actor.split(":", 1)[0]
    if head in ("court", "bureau", "followup", "system", "intake"):
        return zh("system_actor", head)
    return actor


def _count(n: Any) -> str:
    return "一次性履行" if not n else f"{n}期"


def entry_in_words(entry: Mapping[str, Any], names: Mapping[str, str], hierarchy: Hierarchy) -> dict[str, str]:
    """One log entry as a line people read: when, what (the glossary's words), who, and its details."""
    action = entry["action"]
    detail: Mapping[str, Any] = entry["detail"] or {}
    mediator: Callable[[Any], str] = lambda v: names.get(str(v), "另一位调解员")  # noqa: E731
    render: dict[str, Callable[[Any], str]] = {
        "amount_cny": words.money, "amount_awarded_cny": words.money, "instalments": _count,
        "confirmation_requested": words.plain, "to_legal_aid": words.plain, "parties_present": words.plain,
        "disputed_points": words.plain, "at": words.when, "due_at": words.when, "previous": mediator,
        "mediator_id": mediator, "org_unit": lambda v: words.unit_name(v, hierarchy),
        "kind": lambda v: zh("case_kind", v), "tier": lambda v: zh("tier_short", v),
        "result": lambda v: zh("session_result", v),
    }
    if action == "clock_paused":
        render["reason"] = lambda v: zh("pause_reason", v)
    parts = []
    for key, value in detail.items():
        if value is None or value == "" or value == [] or key == "attempt":
            continue
        if key == "mediator_id" and detail.get("mediator_name"):
            continue
        text = render.get(key, words.plain)(value)
        label = MEDIATION_DETAIL.get(key, "")
        parts.append(f"{label}：{text}" if label else text)
    return {"at": entry["at"], "action": zh("mediation_action", action), "actor": actor_name(entry["actor"], names),
            "detail": "；".join(parts)}
