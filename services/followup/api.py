"""Follow-up's HTTP API (/api/v1/followup) and the call worklist page (/followup)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import Field

from services.backbone import caselog, usecase
from services.backbone.http import StrictModel
from services.backbone.runtime import Runtime
from services.calendar.model import shanghai_iso
from services.followup import cases
from services.followup.cases import FollowupConfig
from services.hierarchy.orgunits import default_hierarchy
from services.security.guard import acting, audit_cases, authorize, authorize_held, not_found, require_role, scope_units

HIERARCHY = default_hierarchy()
TEMPLATES = [str(Path(__file__).parent / "templates"), str(Path(__file__).parents[1] / "console" / "templates")]


class CallBody(StrictModel):
    reached: bool
    satisfaction: int | None = Field(default=None, ge=1, le=5)
    comment: str = Field(default="", max_length=2000)
    paid: bool | None = Field(default=None, description="instalment checks: was it paid")
    actor: str | None = Field(default=None, max_length=100, description="ignored when logged in")


def build_router(runtime: Runtime, config: FollowupConfig) -> APIRouter:
    router = APIRouter()
    templates = Jinja2Templates(directory=TEMPLATES)

    async def worklist_rows(units: list[str] | None, limit: int) -> list[dict[str, Any]]:
        rows = await runtime.pool.fetch(
            "SELECT f.*, c.org_unit, c.outcome, c.agreement IS NOT NULL AS has_agreement FROM followups f "
            "JOIN followup_cases c USING (case_id) WHERE f.state = 'scheduled' "
            "AND ($1::text[] IS NULL OR c.org_unit = ANY($1)) ORDER BY f.due_date, f.case_id LIMIT $2", units, limit)
        return [{"followup_id": str(r["followup_id"]), "case_id": r["case_id"], "kind": r["kind"], "seq": r["seq"],
                 "due_date": r["due_date"].isoformat(), "attempts": r["attempts"], "org_unit": r["org_unit"],
                 "outcome": r["outcome"], "amount_cny": r["amount"],
                 "instalment_due": r["instalment_due"].isoformat() if r["instalment_due"] else None} for r in rows]

    def scoped(request: Request, org_unit: str | None) -> list[str] | None:
        unit = scope_units(request, org_unit, HIERARCHY)
        authorize(request, "read", roles=("clerk", "supervisor"), unit=unit, hierarchy=HIERARCHY)
        return list(HIERARCHY.subtree(unit)) if unit else None

    @router.get("/api/v1/followup/worklist")
    async def worklist(request: Request, org_unit: str | None = None, limit: int = 200) -> dict[str, Any]:
        calls = await worklist_rows(scoped(request, org_unit), max(1, min(limit, 1000)))
        audit_cases(request, {c["case_id"] for c in calls})
        return {"calls": calls}

    @router.post("/api/v1/followup/calls/{followup_id}")
    async def record(request: Request, followup_id: str, body: CallBody) -> dict[str, Any]:
        require_role(request, ("clerk", "mediator"))
        try:
            row = await runtime.pool.fetchrow("SELECT c.case_id, c.org_unit FROM followups f JOIN followup_cases c "
                                              "USING (case_id) WHERE f.followup_id = $1", uuid.UUID(followup_id))
        except ValueError as exc:
            raise not_found("回访任务不存在") from exc
        authorize_held(request, "write", roles=("clerk", "mediator"), unit=row["org_unit"] if row else None,
                       case_id=row["case_id"] if row else followup_id, missing="回访任务不存在", hierarchy=HIERARCHY)
        return await usecase.run(runtime, lambda ctx: cases.record_call(
            ctx, followup_id, reached=body.reached, satisfaction=body.satisfaction, comment=body.comment,
            paid=body.paid, actor=acting(request, body.actor), config=config))

    @router.get("/api/v1/followup/cases/{case_id}")
    async def get_case(request: Request, case_id: str) -> dict[str, Any]:
        require_role(request, ("clerk", "mediator", "supervisor"))
        row = await runtime.pool.fetchrow("SELECT * FROM followup_cases WHERE case_id = $1", case_id)
        authorize_held(request, "read", roles=("clerk", "mediator", "supervisor"), unit=row["org_unit"] if row else None,
                       case_id=case_id, missing=f"回访案件 {case_id} 不存在", hierarchy=HIERARCHY)
        calls = await runtime.pool.fetch("SELECT * FROM followups WHERE case_id = $1 ORDER BY cycle, due_date, seq",
                                         case_id)
        return {"case_id": case_id, "state": row["state"], "source": row["source"], "outcome": row["outcome"],
                "resolved_at": shanghai_iso(row["resolved_at"]), "satisfaction": row["satisfaction"],
                "flagged": row["flagged"], "cycle": row["cycle"], "agreement": row["agreement"],
                "calls": [{"followup_id": str(c["followup_id"]), "cycle": c["cycle"], "kind": c["kind"], "seq": c["seq"],
                           "due_date": c["due_date"].isoformat(), "state": c["state"], "attempts": c["attempts"],
                           "paid": c["paid"], "satisfaction": c["satisfaction"]} for c in calls],
                "log": await caselog.entries(runtime.pool, case_id)}

    @router.get("/followup", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request, org_unit: str | None = None) -> Response:
        calls = await worklist_rows(scoped(request, org_unit), 500)
        audit_cases(request, {c["case_id"] for c in calls})
        return templates.TemplateResponse(request, "followup_worklist.html", {"calls": calls, "org_unit": org_unit})

    return router
