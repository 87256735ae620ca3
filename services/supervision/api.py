"""Supervision's API (docs/domain/routes.md: /api/v1/cases, /alerts, /stats, /stream) and the supervisor's dashboard."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from datetime import date
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from pydantic import Field

from events import glossary
from services.backbone.http import Problem, StrictModel
from services.backbone.logs import mask_id_number
from services.backbone.runtime import Runtime
from services.backbone.usecase import run
from services.calendar.model import shanghai_iso
from services.hierarchy.orgunits import Hierarchy, OrgUnit
from services.printing.panel import UPLOADERS, documents_for
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
from services.security.policy import Action, Role
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


class EscalateBody(StrictModel):
    actor: str | None = Field(default=None, max_length=100, description="ignored when logged in")
    note: str = Field(min_length=2, max_length=1000, description="why it goes to the unit above now")


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
    p = principal(request)
    if not (p.sees_pii or is_system(p)):  # ID numbers in full only for the roles that need them
        detail["worker_ids"] = [mask_id_number(i) for i in detail["worker_ids"]]
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


async def _supervised_alert(request: Request, runtime: Runtime, hierarchy: Hierarchy, alert_id: int) -> None:
    """A supervisor may act on this alert: it is escalated to a unit in their scope (else 404, as if absent)."""
    require_role(request, ("supervisor",))
    target = await repository.alert_scope(runtime.pool, alert_id)
    if target is None:
        raise not_found("督办提醒不存在")
    authorize(request, "write", roles=("supervisor",), unit=target["escalated_to"], case_id=target["case_id"],
              missing="督办提醒不存在", hierarchy=hierarchy)


@router.post("/api/v1/supervision/alerts/{alert_id}/ack")
async def ack(request: Request, body: AckBody, runtime: RuntimeDep, hierarchy: HierarchyDep,
              alert_id: int = FastPath(ge=1, le=2**63 - 1)) -> dict[str, Any]:
    await _supervised_alert(request, runtime, hierarchy, alert_id)
    actor = acting(request, body.actor)
    alert = await run(runtime, lambda ctx: alerts.acknowledge(ctx, alert_id=alert_id, actor=actor, note=body.note))
    return queries.alert_json(alert, hierarchy)


@router.post("/api/v1/supervision/alerts/{alert_id}/escalate")
async def escalate(request: Request, body: EscalateBody, runtime: RuntimeDep, hierarchy: HierarchyDep,
                   alert_id: int = FastPath(ge=1, le=2**63 - 1)) -> dict[str, Any]:
    """报上级督办: the alert goes to the unit above now, with the supervisor's reason."""
    await _supervised_alert(request, runtime, hierarchy, alert_id)
    actor = acting(request, body.actor)
    alert = await run(runtime, lambda ctx: alerts.escalate_now(ctx, alert_id=alert_id, actor=actor, note=body.note,
                                                               hierarchy=hierarchy))
    return queries.alert_json(alert, hierarchy)


def _stats_scope(request: Request, hierarchy: Hierarchy, *, region: str | None, org_unit: str | None,
                 start: date | None, end: date | None, tier: str | None, action: Action) -> stats.Scope:
    if start and end and start > end:
        raise Problem(422, "起始日期不能晚于截止日期", errors=[{"field": "from", "reason": "晚于截止日期"}])
    units = _scoped(request, hierarchy, org_unit or None, action)
    return stats.Scope(region or None, tuple(units) if units else None, start, end, tier or None)


@router.get("/api/v1/stats/mediators")
async def get_figures(request: Request, runtime: RuntimeDep, hierarchy: HierarchyDep,
                      region: str | None = Query(default=None, pattern=r"^\d{6}$"),
                      from_: date | None = Query(default=None, alias="from"), to: date | None = None,
                      org_unit: str | None = None,
                      tier: Literal["general", "difficult", "complex"] | None = None) -> dict[str, Any]:
    """The mediators' figures, per mediator and per unit, with names."""
    scope = _stats_scope(request, hierarchy, region=region, org_unit=org_unit, start=from_, end=to, tier=tier,
                         action="read")
    return await stats.figures(runtime.pool, scope, hierarchy)


@router.get("/api/v1/stats/export")
async def export_stats(request: Request, runtime: RuntimeDep, hierarchy: HierarchyDep,
                       rows: Literal["summary", "cases", "mediators"] = "summary",
                       region: str | None = Query(default=None, pattern=r"^\d{6}$"),
                       from_: date | None = Query(default=None, alias="from"), to: date | None = None,
                       org_unit: str | None = None,
                       tier: Literal["general", "difficult", "complex"] | None = None) -> Response:
    """The statistics as a spreadsheet (UTF-8 with BOM, Chinese headers): the aggregates, the case-level rows, or
    the mediators' figures; audited as an export (the case rows name their cases)."""
    scope = _stats_scope(request, hierarchy, region=region, org_unit=org_unit, start=from_, end=to, tier=tier,
                         action="export")
    if rows == "cases":
        found = await stats.case_rows(runtime.pool, scope)
        audit_cases(request, [r["case_id"] for r in found], action="export")
        body, name = stats.cases_csv(found, hierarchy), "cases"
    elif rows == "mediators":
        body, name = stats.figures_csv(await stats.figures(runtime.pool, scope, hierarchy)), "mediators"
    else:
        body, name = stats.to_csv(await stats.compute(runtime.pool, scope)), "summary"
    request.state.audit_action = "export"
    return Response(body, media_type="text/csv; charset=utf-8",
                    headers={"content-disposition": f'attachment; filename="laborcase-{name}.csv"'})


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
    _scoped(request, hierarchy, org_unit or None, "read")
    return pages.render(request, "supervision_dashboard.html", {
        "units": _units_in_scope(request, hierarchy), "org_unit": org_unit or "", "hierarchy": hierarchy})


def _units_in_scope(request: Request, hierarchy: Hierarchy) -> list[OrgUnit]:
    """The units a person may choose in a filter: their own and those below it, by name."""
    p = principal(request)
    codes = hierarchy.subtree(p.org_unit) if p.org_unit and not is_system(p) else tuple(hierarchy.units)
    return sorted((u for c in codes if (u := hierarchy.get(c))), key=lambda u: u.code)


def _day(value: str | None, field: str, errors: dict[str, str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[field] = "日期格式应为 年-月-日"
        return None


def _choice(value: str | None, kind: str) -> str | None:
    """A filter's code when the glossary knows it (anything else: no filter)."""
    return value if value and value in glossary.TABLES[kind] else None


#: Who may search cases: the clerks (their unit and below) and the supervisors (theirs and below).
SEARCHERS: tuple[Role, ...] = ("clerk", "supervisor")


@router.get("/supervision/cases", response_class=HTMLResponse, include_in_schema=False)
async def search_page(request: Request, runtime: RuntimeDep, hierarchy: HierarchyDep, q: str | None = None,
                      status: str | None = None, stage: str | None = None, tier: str | None = None,
                      org_unit: str | None = None, overdue: str | None = None,
                      from_: str | None = Query(default=None, alias="from"), to: str | None = None,
                      state: str | None = None, sort: str | None = None, page: str | None = None) -> Response:
    """案件查询: by case number, 法院案号 / 仲裁案号, worker, ID number, employer; filtered, sorted, paged."""
    require_role(request, SEARCHERS)
    queries.known(hierarchy, org_unit or None)
    unit = scope_units(request, org_unit or None, hierarchy)
    me = authorize(request, "read", roles=SEARCHERS, unit=unit, hierarchy=hierarchy)
    errors: dict[str, str] = {}
    start, end = _day(from_, "from", errors), _day(to, "to", errors)
    if start and end and start > end:
        errors["from"] = "起始日期不能晚于截止日期"
        start = end = None
    q = (q or "").strip()[:100]
    # finished cases leave the list unless asked for; a search by words looks through them all
    state = state if state in ("open", "done", "all") else ("all" if q else "open")
    filters = {"q": q or None, "units": queries.units_under(hierarchy, unit), "status": _choice(status, "status"),
               "stage": _choice(stage, "stage"), "tier": _choice(tier, "tier"),
               "overdue": {"yes": True, "no": False}.get(overdue or ""),
               "start": stats.Scope(start=start).params()[2] if start else None,
               "end": stats.Scope(end=end).params()[3] if end else None,
               "finished": {"open": False, "done": True}.get(state)}
    found, key = await queries.search(runtime.pool, filters, sort=sort, page=page, sees_pii=me.sees_pii or is_system(me))
    audit_cases(request, [c["case_id"] for c in found.items])
    return pages.render(request, "supervision_search.html", {
        "page": found, "sort": key, "hierarchy": hierarchy, "units": _units_in_scope(request, hierarchy),
        "errors": errors, "f": {"q": q, "status": status or "", "stage": stage or "", "tier": tier or "",
                                "org_unit": org_unit or "", "overdue": overdue or "", "from": from_ or "",
                                "to": to or "", "state": state},
        "statuses": glossary.STATUS, "stages": glossary.STAGE, "tiers": glossary.TIER_SHORT})


@router.get("/supervision/stats", response_class=HTMLResponse, include_in_schema=False)
async def stats_page(request: Request, runtime: RuntimeDep, hierarchy: HierarchyDep, region: str | None = None,
                     org_unit: str | None = None, from_: str | None = Query(default=None, alias="from"),
                     to: str | None = None, tier: str | None = None) -> Response:
    """统计与调解员指标: filtered by region or unit, period and tier; CSV downloads of the same scope."""
    require_role(request, ("supervisor",))
    errors: dict[str, str] = {}
    start, end = _day(from_, "from", errors), _day(to, "to", errors)
    if start and end and start > end:
        errors["from"] = "起始日期不能晚于截止日期"
        start = end = None
    units = _units_in_scope(request, hierarchy)
    regions = {r: u.name for u in units for r in u.regions}
    region = region if region in regions else None
    scope = _stats_scope(request, hierarchy, region=region, org_unit=org_unit or None, start=start, end=end,
                         tier=_choice(tier, "tier"), action="read")
    figures = await stats.figures(runtime.pool, scope, hierarchy)
    query = {k: v for k, v in (("region", region), ("org_unit", org_unit), ("from", start and start.isoformat()),
                               ("to", end and end.isoformat()), ("tier", scope.tier)) if v}
    return pages.render(request, "supervision_stats.html", {
        "s": await stats.compute(runtime.pool, scope), "figures": figures, "hierarchy": hierarchy, "units": units,
        "regions": sorted(regions.items()), "errors": errors, "query": urlencode(query),
        "f": {"region": region or "", "org_unit": org_unit or "", "from": from_ or "", "to": to or "",
              "tier": scope.tier or ""}, "tiers": glossary.TIER_SHORT})


@router.get("/supervision/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
async def case_page(request: Request, case_id: GuardedCase, runtime: RuntimeDep, hierarchy: HierarchyDep) -> Response:
    detail = await _case_view(request, case_id, runtime, hierarchy)
    me = principal(request)
    return pages.render(request, "supervision_case.html", {
        "documents": documents_for(case_id, timeline.documents_of(detail)),
        "can_upload": me.role in UPLOADERS,
        "case": detail, "clock": timeline.clock, "hierarchy": hierarchy,
        "can_act": me.role == "supervisor" or is_system(me)})
