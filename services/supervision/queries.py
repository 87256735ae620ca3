"""Reads of the projection for the API and the console: cases, a case's whole view, alerts, the breach forecast."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from events.glossary import zh
from services.backbone.db import snapshot
from services.backbone.errors import Invalid
from services.backbone.logs import mask_id_number
from services.backbone.usecase import found
from services.calendar.model import WorkCalendar, local_date, shanghai_iso
from services.hierarchy.orgunits import Hierarchy
from services.supervision import repository, stats
from services.supervision.domain.forecast import OpenCase, forecast
from services.supervision.models import Alert
from services.web.paging import Page, sort_key, window
from services.web.words import unit_name

CASE_FIELDS = ("case_id", "partner_code", "status", "stage", "org_unit", "tier", "due_at", "provisional", "channel",
               "region_code",
               "received_at", "worker_count", "claim_types", "group_dispute", "route", "mediator_id",
               "mediation_outcome", "returned_to", "legal_aid", "amount_recovered", "settled_amount", "satisfaction",
               "on_time", "resolved_at", "closed_at", "reopened")
NOT_FOUND = "案件 {} 不存在"
HANDLING_DAYS = float(os.environ.get("LABORCASE_FORECAST_HANDLING_DAYS", "8"))
#: The alerts each board filter shows.
KINDS = {"overdue": ["overdue"], "warning": ["warning"], "attention": ["low_satisfaction", "unreachable", "duplicate"],
         "operator": ["calendar"], "all": ["overdue", "warning", "low_satisfaction", "unreachable", "duplicate", "calendar"]}


def _json(value: Any) -> Any:
    if hasattr(value, "astimezone"):
        return shanghai_iso(value)
    if hasattr(value, "is_finite"):  # Decimal
        return float(value)
    return value


def units_under(hierarchy: Hierarchy, org_unit: str | None) -> list[str] | None:
    """A unit and every unit below it (None: no unit asked for, everywhere)."""
    if not org_unit:
        return None
    known(hierarchy, org_unit)
    return list(hierarchy.subtree(org_unit))


def known(hierarchy: Hierarchy, org_unit: str | None) -> None:
    """A unit asked for must be one of the union's."""
    if org_unit and hierarchy.get(org_unit) is None:
        raise Invalid(f"未知的工会单位：{org_unit}", errors=[("org_unit", "未知的工会单位")])


def case_row(row: Mapping[str, Any], hierarchy: Hierarchy) -> dict[str, Any]:
    """A projected case as the API shows it (times in Asia/Shanghai, amounts as numbers, the unit's name)."""
    out = {k: _json(row[k]) for k in CASE_FIELDS}
    unit = hierarchy.get(row["org_unit"]) if row["org_unit"] else None
    out["org_unit_name"] = unit.name if unit else None
    return out


async def find_cases(pool: asyncpg.Pool, *, ref: str | None, status: str | None, tier: str | None,
                     org_units: Sequence[str] | None, overdue: bool | None, limit: int) -> list[asyncpg.Record]:
    """Cases by id or partner case number, status, tier, units and whether overdue now; the nearest due first."""
    return await repository.find_cases(pool, ref=ref, status=status, tier=tier, org_units=org_units, overdue=overdue,
                                       limit=limit)


async def case_detail(pool: asyncpg.Pool | asyncpg.Connection, case_id: str, hierarchy: Hierarchy) -> dict[str, Any]:
    """A case's whole view: the case, its references, clocks, timeline (with its partner's events) and alerts."""
    async with snapshot(pool) as db:
        case = found(await repository.case_by_id(db, case_id), NOT_FOUND.format(case_id))
        deadlines = await repository.case_deadlines(db, case_id)
        timeline = await repository.case_timeline(db, case_id)
        alert_rows = await repository.case_alerts(db, case_id)
        refs = await repository.case_refs(db, case_id)
    return {
        **case_row(case.model_dump(), hierarchy), "refs": refs, "worker_names": case.worker_names,
        "worker_ids": case.worker_ids, "employer_name": case.employer_name, "mediator_name": case.mediator_name,
        "claim_amount": _json(case.claim_amount),
        "deadlines": [{"deadline_id": d["deadline_id"], "kind": d["kind"], "owner": d["owner"], "state": d["state"],
                       "due_at": shanghai_iso(d["due_at"]), "provisional": d["provisional"], "on_time": d["on_time"]}
                      for d in deadlines],
        "timeline": [{"type": t["type"], "source": t["source"], "at": shanghai_iso(t["at"]), "summary": t["summary"],
                      "trace_id": t["trace_id"]} for t in timeline],
        "alerts": [alert_json(a, hierarchy) for a in alert_rows],
    }


def alert_json(a: Alert, hierarchy: Hierarchy) -> dict[str, Any]:
    unit = hierarchy.get(a.escalated_to) if a.escalated_to else None
    return {"alert_id": a.alert_id, "case_id": a.case_id, "kind": a.kind, "state": a.state,
            "deadline_kind": a.deadline_kind, "org_unit": a.org_unit, "escalated_to": a.escalated_to,
            "escalated_to_name": unit.name if unit else None, "level": a.level,
            "due_at": shanghai_iso(a.due_at) if a.due_at else None,
            "raised_at": shanghai_iso(a.raised_at), "acknowledged_by": a.acknowledged_by,
            "ack_note": a.ack_note, "detail": a.detail,
            "label": zh("clock", a.deadline_kind) if a.deadline_kind and a.deadline_kind != "calendar" else
            zh("flag_reason", a.kind) if a.kind in ("low_satisfaction", "unreachable") else
            "疑似重复来件" if a.kind == "duplicate" else "",
            "org_unit_name": unit_name(a.org_unit, hierarchy) if a.org_unit else None,
            "can_escalate": bool(a.escalated_to and hierarchy.parent(a.escalated_to)) and a.state != "resolved"}


async def open_alerts(pool: asyncpg.Pool, *, kinds: list[str], units: list[str] | None, limit: int = 500
                      ) -> list[Alert]:
    return await repository.open_alerts(pool, kinds=kinds, units=units, limit=limit)


async def board(db: asyncpg.Connection | asyncpg.Pool, *, units: list[str] | None, hierarchy: Hierarchy
                ) -> dict[str, Any]:
    """What the live board shows (pushed over SSE): the cases overdue now (已超期) — the very cases the heading
    counts and the statistics' 当前超期 counts (``repository.OVERDUE``), one row each with its tier alert — then the
    warnings, the stage clocks overdue (a case whose tier clock still runs), and what else needs attention."""
    overdue = await repository.board_overdue(db, units, BOARD_ROWS)
    count = await stats.count_overdue_now(db, stats.Scope(org_units=tuple(units) if units else None))
    listed = {a.alert_id for a in overdue}
    rest = [a for a in await open_alerts(db, kinds=KINDS["all"], units=units) if a.alert_id not in listed]
    parties = await repository.case_parties(db, [a.case_id for a in [*overdue, *rest] if a.case_id])

    def named(a: Alert) -> dict[str, Any]:
        who = parties.get(a.case_id or "")
        return {**alert_json(a, hierarchy), "worker_names": list(who["worker_names"]) if who else [],
                "employer_name": who["employer_name"] if who else None}

    return {"overdue": [named(a) for a in overdue], "overdue_now": count,
            "warning": [named(a) for a in rest if a.kind == "warning"],
            # a tier alert left over by a case finished meanwhile is no longer anyone's work (its clock will end)
            "stage_overdue": [named(a) for a in rest if a.kind == "overdue" and a.deadline_kind != "tier"],
            "attention": [named(a) for a in rest if a.kind not in ("overdue", "warning")]}


#: The most overdue cases the board lists (the heading counts them all; the search lists every one).
BOARD_ROWS = 200


def search_row(r: Mapping[str, Any], *, sees_pii: bool) -> dict[str, Any]:
    """A row of the case search; the workers' ID numbers masked unless the reader's role needs them."""
    ids = list(r["worker_ids"] or [])
    return {**dict(r), "refs": list(r["refs"] or []), "worker_names": list(r["worker_names"] or []),
            "worker_ids": ids if sees_pii else [mask_id_number(i) for i in ids]}


async def search(db: asyncpg.Connection | asyncpg.Pool, filters: dict[str, Any], *, sort: str | None, page: Any,
                 sees_pii: bool) -> tuple[Page[dict[str, Any]], str]:
    """One page of the case search and the sort key in force (newest received first by default)."""
    key, order = sort_key(sort, repository.SEARCH_SORTS, "-received")
    number, limit, offset = window(page)
    rows, total = await repository.search_cases(db, filters, order=order, limit=limit, offset=offset)
    return Page([search_row(r, sees_pii=sees_pii) for r in rows], total, number), key


def capacity(hierarchy: Hierarchy) -> dict[str, float]:
    """Cases a unit finishes per working day: its mediators' and lawyers' concurrent capacity / handling days."""
    out: dict[str, float] = {}
    for unit in hierarchy.units.values():
        people = unit.attributes.get("mediators", []) + unit.attributes.get("lawyers", [])
        target = unit.parent if unit.level == "station" and unit.serves_home_province is None else unit.code
        out[target or unit.code] = out.get(target or unit.code, 0.0) + sum(p.get("capacity", 0) for p in people) / HANDLING_DAYS
    return out


async def breach_forecast(pool: asyncpg.Pool, *, units: list[str] | None, org_unit: str | None, horizon: int,
                          now: datetime, calendar: WorkCalendar, hierarchy: Hierarchy) -> tuple[dict[str, Any], list[str]]:
    """Which open cases are likely to breach within ``horizon`` working days, by unit (every unit when no
    ``org_unit`` was asked for, else only those at risk); with the ids of the cases it read."""
    rows = await repository.open_cases_due(pool, units)
    since = datetime.combine(calendar.add_working_days(local_date(now), 0).day - timedelta(days=14),
                             datetime.min.time(), UTC)
    inflow = {unit: n / 10.0 for unit, n in (await repository.general_inflow(pool, since)).items()}
    result = forecast([OpenCase(r["case_id"], r["org_unit"], r["due_at"]) for r in rows],
                      capacity=capacity(hierarchy), same_day_inflow=inflow, calendar=calendar, now=now,
                      horizon_working_days=horizon)
    body = {"horizon_working_days": horizon, "handling_days": HANDLING_DAYS, "units": [
        {"org_unit": u.org_unit, "org_unit_name": (hierarchy.get(u.org_unit).name if hierarchy.get(u.org_unit)
                                                   else u.org_unit),
         "open_cases": u.open_cases, "capacity_per_day": round(u.capacity_per_day, 2),
         "effective_per_day": round(u.effective_per_day, 2),
         "likely_to_breach": [{"case_id": c, "due_at": shanghai_iso(d),
                               "expected_finish": shanghai_iso(f) if f.year < 9999 else None} for c, d, f in u.at_risk]}
        for u in result if u.at_risk or not org_unit]}
    return body, [r["case_id"] for r in rows]
