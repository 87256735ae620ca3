"""Supervision's API (DESIGN §4.2: /api/v1/cases, /alerts, /stats, /stream) and the supervisor's dashboard."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.templating import Jinja2Templates
from pydantic import Field

from services.backbone.http import Problem, StrictModel
from services.backbone.outbox import enqueue
from services.backbone.runtime import Runtime
from services.calendar.model import local_date, shanghai_iso
from services.hierarchy.orgunits import Hierarchy
from services.security.guard import (
    acting,
    audit_cases,
    authorize,
    authorize_held,
    is_system,
    not_found,
    principal,
    require_role,
    scope_units,
    visible,
)
from services.security.policy import Action
from services.supervision import alerts, queries, stats
from services.supervision.board import Board
from services.supervision.domain import timeline
from services.supervision.domain.forecast import OpenCase, forecast

TEMPLATES = [str(Path(__file__).parent / "templates"), str(Path(__file__).parents[1] / "console" / "templates")]
HANDLING_DAYS = float(os.environ.get("LABORCASE_FORECAST_HANDLING_DAYS", "8"))
NOT_FOUND = "案件 {} 不存在"
KINDS = {"overdue": ["overdue"], "warning": ["warning"], "attention": ["low_satisfaction", "unreachable", "duplicate"],
         "operator": ["calendar"], "all": ["overdue", "warning", "low_satisfaction", "unreachable", "duplicate", "calendar"]}


class AckBody(StrictModel):
    actor: str | None = Field(default=None, max_length=100, description="ignored when logged in")
    note: str = Field(min_length=2, max_length=1000)


def _units(hierarchy: Hierarchy, org_unit: str | None) -> list[str] | None:
    if not org_unit:
        return None
    if hierarchy.get(org_unit) is None:
        raise Problem(422, f"未知的工会单位：{org_unit}", errors=[{"field": "org_unit", "reason": "未知的工会单位"}])
    return list(hierarchy.subtree(org_unit))


def _scoped(request: Request, hierarchy: Hierarchy, org_unit: str | None, action: Action) -> list[str] | None:
    """Supervisors see their unit and below; the unit asked for must lie there."""
    if org_unit and hierarchy.get(org_unit) is None:
        raise Problem(422, f"未知的工会单位：{org_unit}", errors=[{"field": "org_unit", "reason": "未知的工会单位"}])
    unit = scope_units(request, org_unit, hierarchy)
    authorize(request, action, roles=("supervisor",), unit=unit, hierarchy=hierarchy)
    return _units(hierarchy, unit)


def capacity(hierarchy: Hierarchy) -> dict[str, float]:
    """Cases a unit finishes per working day: its mediators' and lawyers' concurrent capacity / handling days."""
    out: dict[str, float] = {}
    for unit in hierarchy.units.values():
        people = unit.attributes.get("mediators", []) + unit.attributes.get("lawyers", [])
        target = unit.parent if unit.level == "station" and unit.serves_home_province is None else unit.code
        out[target or unit.code] = out.get(target or unit.code, 0.0) + sum(p.get("capacity", 0) for p in people) / HANDLING_DAYS
    return out


def build_router(runtime: Runtime, hierarchy: Hierarchy, board: Board) -> APIRouter:
    router = APIRouter()
    templates = Jinja2Templates(directory=TEMPLATES)

    @router.get("/api/v1/cases")
    async def find_cases(request: Request, ref: str | None = None, status: str | None = None, tier: str | None = None,
                         org_unit: str | None = None, overdue: bool | None = None, limit: int = 100) -> dict[str, Any]:
        p = principal(request)
        if p.role == "operator":
            raise Problem(403, "运维人员无权查看案件")
        if org_unit:
            authorize(request, "read", unit=org_unit, hierarchy=hierarchy)
        rows = await queries.find_cases(runtime.pool, ref=ref, status=status, tier=tier,
                                        org_units=_units(hierarchy, org_unit), overdue=overdue,
                                        limit=max(1, min(limit, 1000)))
        shown = [queries.case_row(r, hierarchy) for r in rows
                 if visible(request, "read", r["org_unit"], r["partner_code"], hierarchy)]
        if p.role == "partner":
            shown = [timeline.for_partner_case(c) for c in shown]
        audit_cases(request, [c["case_id"] for c in shown])
        return {"cases": shown}

    async def guard_case(request: Request, case_id: str) -> None:
        """The role first; a case out of scope answers exactly like one that is not there."""
        require_role(request, ("clerk", "mediator", "legal_aid_officer", "supervisor", "partner"))
        row = await runtime.pool.fetchrow("SELECT org_unit, partner_code FROM cases WHERE case_id = $1", case_id)
        authorize_held(request, "read", unit=row["org_unit"] if row else None,
                       partner_code=row["partner_code"] if row else None, case_id=case_id, missing=NOT_FOUND.format(case_id),
                       roles=("clerk", "mediator", "legal_aid_officer", "supervisor", "partner"), hierarchy=hierarchy)

    async def case_view(request: Request, case_id: str) -> dict[str, Any]:
        await guard_case(request, case_id)
        detail = await queries.case_detail(runtime.pool, case_id, hierarchy)
        if detail is None:
            raise not_found(NOT_FOUND.format(case_id))
        # a court or bureau sees what it needs of the case it referred, not the union's internal record (§6)
        return timeline.for_partner(detail) if principal(request).role == "partner" else detail

    @router.get("/api/v1/cases/{case_id}")
    async def get_case(request: Request, case_id: str) -> dict[str, Any]:
        return await case_view(request, case_id)

    @router.get("/api/v1/alerts")
    async def list_alerts(request: Request,
                          state: Literal["overdue", "warning", "attention", "operator", "all"] = "overdue",
                          org_unit: str | None = None, limit: int = 500) -> dict[str, Any]:
        rows = await queries.open_alerts(runtime.pool, kinds=KINDS[state],
                                         units=_scoped(request, hierarchy, org_unit, "read"),
                                         limit=max(1, min(limit, 2000)))
        audit_cases(request, [a["case_id"] for a in rows])
        return {"alerts": [queries.alert_json(a, hierarchy) for a in rows]}

    @router.post("/api/v1/supervision/alerts/{alert_id}/ack")
    async def ack(request: Request, body: AckBody,
                  alert_id: int = FastPath(ge=1, le=2**63 - 1)) -> dict[str, Any]:
        require_role(request, ("supervisor",))
        target = await runtime.pool.fetchrow("SELECT case_id, escalated_to FROM alerts WHERE alert_id = $1", alert_id)
        if target is None:
            raise not_found("督办提醒不存在")
        authorize(request, "write", roles=("supervisor",), unit=target["escalated_to"], case_id=target["case_id"],
                  missing="督办提醒不存在", hierarchy=hierarchy)
        actor = acting(request, body.actor)
        async with runtime.pool.acquire() as conn, conn.transaction():
            records: list[Any] = []
            row = await alerts.acknowledge(conn, records, alert_id=alert_id, actor=actor, note=body.note,
                                           at=runtime.clock.now())
            if row is None:
                raise Problem(409, "该督办提醒不存在或已确认、已解除")
            await enqueue(conn, records, service="supervision")
        runtime.relay.wake()
        return queries.alert_json(row, hierarchy)

    @router.get("/api/v1/stats")
    async def get_stats(request: Request, region: str | None = Query(default=None, pattern=r"^\d{6}$"),
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
    async def get_forecast(request: Request, org_unit: str | None = None,
                           horizon: int = Query(default=5, ge=1, le=15)) -> dict[str, Any]:
        units = _scoped(request, hierarchy, org_unit, "read")
        now = runtime.clock.now()
        rows = await runtime.pool.fetch(
            "SELECT case_id, org_unit, due_at FROM cases WHERE status NOT IN ('resolved', 'closed') "
            "AND due_at IS NOT NULL "
            "AND org_unit IS NOT NULL AND ($1::text[] IS NULL OR org_unit = ANY($1))", units)
        since = datetime.combine(runtime.calendar.add_working_days(local_date(now), 0).day - timedelta(days=14),
                                 datetime.min.time(), UTC)
        inflow = {r["org_unit"]: r["n"] / 10.0 for r in await runtime.pool.fetch(
            "SELECT org_unit, count(*) AS n FROM cases WHERE tier = 'general' AND received_at >= $1 "
            "AND org_unit IS NOT NULL GROUP BY org_unit", since)}
        audit_cases(request, [r["case_id"] for r in rows])
        result = forecast([OpenCase(r["case_id"], r["org_unit"], r["due_at"]) for r in rows],
                          capacity=capacity(hierarchy), same_day_inflow=inflow, calendar=runtime.calendar, now=now,
                          horizon_working_days=horizon)
        return {"horizon_working_days": horizon, "handling_days": HANDLING_DAYS, "units": [
            {"org_unit": u.org_unit, "org_unit_name": (hierarchy.get(u.org_unit).name if hierarchy.get(u.org_unit)
                                                       else u.org_unit),
             "open_cases": u.open_cases, "capacity_per_day": round(u.capacity_per_day, 2),
             "effective_per_day": round(u.effective_per_day, 2),
             "likely_to_breach": [{"case_id": c, "due_at": shanghai_iso(d),
                                   "expected_finish": shanghai_iso(f) if f.year < 9999 else None} for c, d, f in u.at_risk]}
            for u in result if u.at_risk or not org_unit]}

    @router.get("/api/v1/stream")
    async def stream(request: Request, org_unit: str | None = None) -> StreamingResponse:
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
                    rows = await queries.open_alerts(runtime.pool, kinds=KINDS["all"], units=units)
                    payload = {"version": seen, "at": shanghai_iso(runtime.clock.now()),
                               "alerts": [queries.alert_json(a, hierarchy) for a in rows]}
                    yield f"event: board\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"
                elif not await board.wait(seen, 10):
                    yield ": keepalive\n\n"
                await asyncio.sleep(0)

        return StreamingResponse(events(), media_type="text/event-stream",
                                 headers={"cache-control": "no-cache", "x-accel-buffering": "no"})

    @router.get("/supervision", response_class=HTMLResponse, include_in_schema=False)
    async def dashboard(request: Request, org_unit: str | None = None) -> Response:
        _scoped(request, hierarchy, org_unit, "read")
        units = sorted(hierarchy.units.values(), key=lambda u: u.code)
        return templates.TemplateResponse(request, "supervision_dashboard.html",
                                          {"units": units, "org_unit": org_unit or ""})

    @router.get("/supervision/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
    async def case_page(request: Request, case_id: str) -> Response:
        detail = await case_view(request, case_id)
        return templates.TemplateResponse(request, "supervision_case.html", {
            "case": detail, "status_zh": timeline.STATUS_ZH, "stage_zh": timeline.STAGE_ZH, "clock": timeline.clock,
            "deadline_zh": timeline.DEADLINE_STATE_ZH, "service_zh": timeline.SERVICE_ZH})

    return router
