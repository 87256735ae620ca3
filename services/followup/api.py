"""Follow-up's HTTP API (/api/v1/followup) and the call worklist page (/followup)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field

from services.backbone import caselog, usecase
from services.backbone.db import snapshot
from services.backbone.http import StrictModel
from services.backbone.usecase import found
from services.calendar.model import local_date, shanghai_iso
from services.followup import calls, repository
from services.followup.calls import MISSING
from services.followup.deps import CALLERS, Config, HeldCall, HeldCase, ReadableCall, RuntimeDep, WorklistUnits
from services.followup.models import Followup
from services.followup.repository import WorkItem
from services.security.guard import acting, audit_cases, is_system, principal
from services.security.pii import mask_workers
from services.web.pages import Pages, who
from services.web.paging import Page, sort_key, window

router = APIRouter()
pages = Pages(Path(__file__).parent / "templates")


class CallBody(StrictModel):
    reached: bool
    satisfaction: int | None = Field(default=None, ge=1, le=5)
    comment: str = Field(default="", max_length=2000)
    paid: bool | None = Field(default=None, description="instalment checks: was it paid")
    actor: str | None = Field(default=None, max_length=100, description="ignored when logged in")


#: which calls a list shows, by due date relative to today (Shanghai): today's and the overdue, only the overdue,
#: the later ones, all
PERIODS = ("today", "overdue", "later", "all")


def period_bounds(period: str, today: date) -> tuple[date | None, date | None]:
    """The first and last due date a period shows (None: open)."""
    return {"today": (None, today), "overdue": (None, today - timedelta(days=1)),
            "later": (today + timedelta(days=1), None)}.get(period, (None, None))


def _workers(request: Request, workers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The caller rings the worker and sees the phone in full; others (supervisors) see it masked."""
    p = principal(request)
    return workers if p.sees_pii or is_system(p) else mask_workers(workers)


def _work_item(request: Request, item: WorkItem, today: date) -> dict[str, Any]:
    c = item.call
    return {"followup_id": str(c.followup_id), "case_id": c.case_id, "kind": c.kind, "seq": c.seq,
            "due_date": c.due_date.isoformat(), "attempts": c.attempts, "org_unit": item.org_unit,
            "outcome": item.outcome, "source": item.source, "amount_cny": c.amount,
            "instalment_due": c.instalment_due.isoformat() if c.instalment_due else None,
            "overdue_days": max(0, (today - c.due_date).days), "workers": _workers(request, item.workers),
            "employer": item.employer, "summary": item.summary}


def _call(c: Followup) -> dict[str, Any]:
    return {"followup_id": str(c.followup_id), "cycle": c.cycle, "kind": c.kind, "seq": c.seq,
            "due_date": c.due_date.isoformat(), "state": c.state, "attempts": c.attempts, "paid": c.paid,
            "satisfaction": c.satisfaction, "reached": c.reached, "comment": c.comment,
            "instalment_due": c.instalment_due.isoformat() if c.instalment_due else None, "amount_cny": c.amount,
            "done_at": shanghai_iso(c.done_at) if c.done_at else None}


@router.get("/api/v1/followup/worklist")
async def worklist(request: Request, runtime: RuntimeDep, units: WorklistUnits, period: str = "all",
                   q: str | None = Query(default=None, max_length=100), sort: str | None = None, page: int = 1,
                   limit: int = 200) -> dict[str, Any]:
    """The calls to make: ``period`` today (with the overdue), overdue, later or all; searched by case number,
    worker or employer; the earliest due first."""
    today = local_date(runtime.clock.now())
    first, last = period_bounds(period, today)
    key, order = sort_key(sort, repository.WORKLIST_SORT, "due")
    number, per_page, offset = window(page, max(1, min(limit, 1000)))
    items, total = await repository.worklist(runtime.pool, units, per_page, offset=offset, first=first, last=last,
                                             q=q, order=order)
    audit_cases(request, {i.call.case_id for i in items})
    return {"total": total, "page": number, "per_page": per_page, "sort": key, "today": today.isoformat(),
            "period": period if period in PERIODS else "all",
            "calls": [_work_item(request, i, today) for i in items]}


@router.post("/api/v1/followup/calls/{followup_id}")
async def record(request: Request, followup_id: str, body: CallBody, runtime: RuntimeDep, config: Config,
                 call: HeldCall) -> dict[str, Any]:
    return await usecase.run(runtime, lambda ctx: calls.record_call(
        ctx, followup_id, reached=body.reached, satisfaction=body.satisfaction, comment=body.comment, paid=body.paid,
        actor=acting(request, body.actor), config=config, check=call.check), audited=True)


@router.get("/api/v1/followup/cases/{case_id}")
async def get_case(case_id: str, case: HeldCase, runtime: RuntimeDep) -> dict[str, Any]:
    return {"case_id": case_id, "state": case.state, "source": case.source, "outcome": case.outcome,
            "resolved_at": shanghai_iso(case.resolved_at), "satisfaction": case.satisfaction, "flagged": case.flagged,
            "cycle": case.cycle, "agreement": case.agreement,
            "calls": [_call(c) for c in await repository.case_calls(runtime.pool, case_id)],
            "log": await caselog.entries(runtime.pool, case_id)}


def _callers(request: Request) -> bool:
    """Whether this person records calls (clerks, and mediators of the case's unit); supervisors read only."""
    p = who(request)
    return p is not None and p.role in CALLERS


@router.get("/followup", response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request, runtime: RuntimeDep, units: WorklistUnits, period: str = "today",
               q: str | None = Query(default=None, max_length=100), sort: str | None = None,
               page: int = 1) -> Response:
    period = period if period in PERIODS else "today"
    data = await worklist(request, runtime, units, period=period, q=q, sort=sort, page=page, limit=25)
    return pages.render(request, "followup_worklist.html", {
        "page": Page(data["calls"], data["total"], data["page"]), "sort": data["sort"], "period": period,
        "periods": PERIODS, "q": q or "", "today": data["today"], "may_call": _callers(request)})


@router.get("/followup/calls/{followup_id}", response_class=HTMLResponse, include_in_schema=False)
async def call_page(request: Request, followup_id: str, runtime: RuntimeDep, held: ReadableCall) -> Response:
    """One call: who to ring, what was agreed, the calls so far, and — for the caller — the form to record it."""
    key = repository.call_id(followup_id)
    async with snapshot(runtime.pool) as db:  # the call, its case, the other calls and the log as of one commit
        call = found(await repository.call(db, key) if key else None, MISSING)
        case = found(await repository.case(db, held.case_id), MISSING)
        facts = await repository.facts(db, held.case_id)
        calls = await repository.case_calls(db, held.case_id)
        log = await caselog.entries(db, held.case_id)
    today = local_date(runtime.clock.now())
    return pages.render(request, "followup_call.html", {
        "call": _call(call), "case": case, "today": today.isoformat(),
        "overdue_days": max(0, (today - call.due_date).days),
        "workers": _workers(request, list(facts.workers)) if facts else [],
        "employer": facts.employer if facts else None, "summary": facts.summary if facts else "",
        "calls": [_call(c) for c in calls],
        "log": [{"at": e["at"], "actor": e["actor"] or "系统", "action": e["action"]} for e in log],
        "may_call": _callers(request) and call.state == "scheduled"})
