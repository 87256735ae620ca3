"""Supervision's API (docs/domain/routes.md: /api/v1/cases, /alerts, /stats, /stream) and the supervisor's dashboard."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import Field

from services.backbone.http import Problem, StrictModel
from services.backbone.runtime import Runtime
from services.backbone.usecase import run
from services.calendar.model import shanghai_iso
from services.hierarchy.orgunits import Hierarchy
from services.security.guard import (
    acting,
    audit_cases,
    authorize,
    is_system,
    not_found,
    principal,
    require_role,
    scope_units,
    visible,
)
from services.security.policy import Action
from services.supervision import alerts, queries, repository, stats
from services.supervision.deps import BoardDep, GuardedCase, HierarchyDep, RuntimeDep
from services.supervision.domain import timeline
from services.supervision.queries import KINDS
from services.web.pages import Pages

router = APIRouter()
pages = Pages(Path(__file__).parent / "templates")


class AckBody(StrictModel):
    actor: str | None = Field(default=None, max_length=100, description="ignored when logged in")
    note: str = Field(min_length=2, max_length=1000)


def _scoped(request: Request, hierarchy: Hierarchy, org_unit: str | None, action: Action) -> list[str] | None:
    """Supervisors see their unit and below; the unit asked for must lie there."""
    queries.known(hierarchy, org_unit)
    unit = scope_units(request, org_unit, hierarchy)
    authorize(request, action, roles=("supervisor",), unit=unit, hierarchy=hierarchy)
    return queries.units_under(hierarchy, unit)


@router.get("/api/v1/cases")
async def find_cases(request: Request, runtime: RuntimeDep, hierarchy: HierarchyDep, ref: str | None = None,
                     status: str | None = None, tier: str | None = None, org_unit: str | None = None,
                     overdue: bool | None = None, limit: int = 100) -> dict[str, Any]:
    p = principal(request)
    if p.role == "operator":
        raise Problem(403, "运维人员无权查看案件")
    if org_unit:
        authorize(request, "read", unit=org_unit, hierarchy=hierarchy)
    rows = await queries.find_cases(runtime.pool, ref=ref, status=status, tier=tier,
                                    org_units=queries.units_under(hierarchy, org_unit), overdue=overdue,
                                    limit=max(1, min(limit, 1000)))
    shown = [queries.case_row(r, hierarchy) for r in rows
             if visible(request, "read", r["org_unit"], r["partner_code"], hierarchy)]
    if p.role == "partner":
        shown = [timeline.for_partner_case(c) for c in shown]
    audit_cases(request, [c["case_id"] for c in shown])
    return {"cases": shown}


async def _case_view(request: Request, case_id: str, runtime: Runtime, hierarchy: Hierarchy) -> dict[str, Any]:
    detail = await queries.case_detail(runtime.pool, case_id, hierarchy)
    # a court or bureau sees what it needs of the case it referred, not the union's internal record (§6)
    return timeline.for_partner(detail) if principal(request).role == "partner" else detail


@router.get("/api/v1/cases/{case_id}")
async def get_case(request: Request, case_id: GuardedCase, runtime: RuntimeDep, hierarchy: HierarchyDep
                   ) -> dict[str, Any]:
    return await _case_view(request, case_id, runtime, hierarchy)


@router.get("/api/v1/alerts")
async def list_alerts(request: Request, runtime: RuntimeDep, hierarchy: HierarchyDep,
                      state: Literal["overdue", "warning", "attention", "operator", "all"] = "overdue",
                      org_unit: str | None = None, limit: int = 500) -> dict[str, Any]:
    rows = await queries.open_alerts(runtime.pool, kinds=KINDS[state],
                                     units=_scoped(request, hierarchy, org_unit, "read"),
                                     limit=max(1, min(limit, 2000)))
    audit_cases(request, [a.case_id for a in rows])
    return {"alerts": [queries.alert_json(a, hierarchy) for a in rows]}


@router.post("/api/v1/supervision/alerts/{alert_id}/ack")
async def ack(request: Request, body: AckBody, runtime: RuntimeDep, hierarchy: HierarchyDep,
              alert_id: int = FastPath(ge=1, le=2**63 - 1)) -> dict[str, Any]:
    require_role(request, ("supervisor",))
    target = await repository.alert_scope(runtime.pool, alert_id)
    if target is None:
        raise not_found("督办提醒不存在")
    authorize(request, "write", roles=("supervisor",), unit=target["escalated_to"], case_id=target["case_id"],
              missing="督办提醒不存在", hierarchy=hierarchy)
    actor = acting(request, body.actor)
    alert = await run(runtime, lambda ctx: alerts.acknowledge(ctx, alert_id=alert_id, actor=actor, note=body.note))
    return queries.alert_json(alert, hierarchy)


@router.get("/api/v1/stats")
async def get_stats(request: Request, runtime: RuntimeDep, hierarchy: HierarchyDep,
                    region: str | None = Query(default=None, pattern=r"^\d{6}$"),
                    from_: date | None = Query(default=None, alias="from"), to: date | None = None,
                    org_unit: str | None = None, tier: Literal["general", "difficult", "complex"] | None = None,
                    format: Literal["json", "csv"] = "json") -> Any:
    if from_ and to and from_ > to:
        raise Problem(422, "起始日期不能晚于截止日期", errors=[{"field": "from", "reason": "晚于截止日期"}])
    units = _scoped(request, hierarchy, org_unit, "export" if format == "csv" else "read")
    scope = stats.Scope(region, tuple(units) if units else None, from_, to, tier)
    result = await stats.compute(runtime.pool, scope)
    request.state.audit_action = "export" if format == "csv" else "read"
    if format == "csv":
        return Response(stats.to_csv(result), media_type="text/csv; charset=utf-8",
                        headers={"content-disposition": 'attachment; filename="laborcase-stats.csv"'})
    return result


@router.get("/api/v1/forecast")
async def get_forecast(request: Request, runtime: RuntimeDep, hierarchy: HierarchyDep, org_unit: str | None = None,
                       horizon: int = Query(default=5, ge=1, le=15)) -> dict[str, Any]:
    units = _scoped(request, hierarchy, org_unit, "read")
    body, read = await queries.breach_forecast(runtime.pool, units=units, org_unit=org_unit, horizon=horizon,
                                               now=runtime.clock.now(), calendar=runtime.calendar, hierarchy=hierarchy)
    audit_cases(request, read)
    return body


@router.get("/api/v1/stream")
async def stream(request: Request, runtime: RuntimeDep, hierarchy: HierarchyDep, board: BoardDep,
                 org_unit: str | None = None) -> StreamingResponse:
    """Server-sent events: the open overdue and warning alerts, pushed on every change."""
    units = _scoped(request, hierarchy, org_unit, "stream")
    viewer = principal(request)
    request.state.audit_action = "stream"

    async def events() -> AsyncIterator[str]:
        seen = -1
        yield "retry: 2000\n\n"
        while not runtime.stopping.is_set():
            if await request.is_disconnected():
                return
            ended = None if is_system(viewer) else await runtime.sessions.refused(viewer)
            if ended:  # logged out, expired, or the account changed: the board stops at once
                yield f"event: end\ndata: {json.dumps({'reason': ended}, ensure_ascii=False)}\n\n"
                return
            if board.version != seen:
                seen = board.version
                payload = {"version": seen, "at": shanghai_iso(runtime.clock.now()),
                           **await queries.board(runtime.pool, units=units, hierarchy=hierarchy)}
                yield f"event: board\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"
            elif not await board.wait(seen, 10):
                yield ": keepalive\n\n"
            await asyncio.sleep(0)

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


@router.get("/supervision", response_class=HTMLResponse, include_in_schema=False)
async def dashboard(request: Request, hierarchy: HierarchyDep, org_unit: str | None = None) -> Response:
    _scoped(request, hierarchy, org_unit, "read")
    units = sorted(hierarchy.units.values(), key=lambda u: u.code)
    return pages.render(request, "supervision_dashboard.html", {"units": units, "org_unit": org_unit or ""})


@router.get("/supervision/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
async def case_page(request: Request, case_id: GuardedCase, runtime: RuntimeDep, hierarchy: HierarchyDep) -> Response:
    detail = await _case_view(request, case_id, runtime, hierarchy)
    return pages.render(request, "supervision_case.html", {
        "case": detail, "status_zh": timeline.STATUS_ZH, "stage_zh": timeline.STAGE_ZH, "clock": timeline.clock,
        "deadline_zh": timeline.DEADLINE_STATE_ZH, "service_zh": timeline.SERVICE_ZH})
