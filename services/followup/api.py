"""Follow-up's HTTP API (/api/v1/followup) and the call worklist page (/followup)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field

from services.backbone import caselog, usecase
from services.backbone.http import StrictModel
from services.calendar.model import shanghai_iso
from services.followup import calls, repository
from services.followup.deps import Config, HeldCall, HeldCase, RuntimeDep, WorklistUnits
from services.followup.models import Followup
from services.followup.repository import WorkItem
from services.security.guard import acting, audit_cases
from services.web.pages import Pages

router = APIRouter()
pages = Pages(Path(__file__).parent / "templates")


class CallBody(StrictModel):
    reached: bool
    satisfaction: int | None = Field(default=None, ge=1, le=5)
    comment: str = Field(default="", max_length=2000)
    paid: bool | None = Field(default=None, description="instalment checks: was it paid")
    actor: str | None = Field(default=None, max_length=100, description="ignored when logged in")


def _work_item(item: WorkItem) -> dict[str, Any]:
    c = item.call
    return {"followup_id": str(c.followup_id), "case_id": c.case_id, "kind": c.kind, "seq": c.seq,
            "due_date": c.due_date.isoformat(), "attempts": c.attempts, "org_unit": item.org_unit,
            "outcome": item.outcome, "amount_cny": c.amount,
            "instalment_due": c.instalment_due.isoformat() if c.instalment_due else None}


def _call(c: Followup) -> dict[str, Any]:
    return {"followup_id": str(c.followup_id), "cycle": c.cycle, "kind": c.kind, "seq": c.seq,
            "due_date": c.due_date.isoformat(), "state": c.state, "attempts": c.attempts, "paid": c.paid,
            "satisfaction": c.satisfaction}


async def _worklist(request: Request, runtime: RuntimeDep, units: list[str] | None, limit: int) -> list[dict[str, Any]]:
    items = [_work_item(i) for i in await repository.worklist(runtime.pool, units, limit)]
    audit_cases(request, {i["case_id"] for i in items})
    return items


@router.get("/api/v1/followup/worklist")
async def worklist(request: Request, runtime: RuntimeDep, units: WorklistUnits, limit: int = 200) -> dict[str, Any]:
    return {"calls": await _worklist(request, runtime, units, max(1, min(limit, 1000)))}


@router.post("/api/v1/followup/calls/{followup_id}")
async def record(request: Request, followup_id: str, body: CallBody, runtime: RuntimeDep, config: Config,
                 _: HeldCall) -> dict[str, Any]:
    return await usecase.run(runtime, lambda ctx: calls.record_call(
        ctx, followup_id, reached=body.reached, satisfaction=body.satisfaction, comment=body.comment, paid=body.paid,
        actor=acting(request, body.actor), config=config))


@router.get("/api/v1/followup/cases/{case_id}")
async def get_case(case_id: str, case: HeldCase, runtime: RuntimeDep) -> dict[str, Any]:
    return {"case_id": case_id, "state": case.state, "source": case.source, "outcome": case.outcome,
            "resolved_at": shanghai_iso(case.resolved_at), "satisfaction": case.satisfaction, "flagged": case.flagged,
            "cycle": case.cycle, "agreement": case.agreement,
            "calls": [_call(c) for c in await repository.case_calls(runtime.pool, case_id)],
            "log": await caselog.entries(runtime.pool, case_id)}


@router.get("/followup", response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request, runtime: RuntimeDep, units: WorklistUnits, org_unit: str | None = None) -> Response:
    items = await _worklist(request, runtime, units, 500)
    return pages.render(request, "followup_worklist.html", {"calls": items, "org_unit": org_unit})
