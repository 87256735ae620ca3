"""Mediation's HTTP API (JSON under /api/v1/mediation) and the mediator's console pages (/mediation)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import AwareDatetime, Field

from events.common import Agreement
from events.glossary import MEDIATION_STATE, TIER_SHORT
from services.backbone import usecase
from services.backbone.consumer import HandlerContext
from services.backbone.http import StrictModel
from services.backbone.runtime import Runtime, RuntimeDep
from services.calendar.model import SHANGHAI
from services.mediation import assignment, clocks, documents, outcomes, registry, sessions
from services.mediation import repository as repo
from services.mediation.deps import (
    ConfigDep,
    MediatorsCase,
    ReadableCase,
    RoomDep,
    SupervisedCase,
    WrittenCase,
    required_mediator,
)
from services.mediation.views import case_detail, summary
from services.mediation.waiting import RoomSignal
from services.printing.panel import UPLOADERS, documents_for
from services.security.guard import (
    acting,
    audit_cases,
    authorize,
    manage_registry,
    principal,
    scope_units,
    visible,
)
from services.security.pii import mask
from services.security.policy import Principal
from services.web.pages import Pages, who
from services.web.paging import Page, sort_key, window

T = TypeVar("T")
pages = Pages(Path(__file__).parent / "templates")
router = APIRouter()

ACTOR = Field(default=None, max_length=100, description="ignored when logged in: the log records who is logged in")


class MediatorAction(StrictModel):
    mediator_id: str | None = Field(default=None, min_length=1, max_length=64,
                                    description="ignored for a logged-in mediator, who acts as themselves")


class DeclineBody(MediatorAction):
    reason: str = Field(min_length=2, max_length=500)


class ReassignBody(StrictModel):
    reason: str = Field(min_length=2, max_length=500)
    actor: str | None = ACTOR
    mediator_id: str | None = None


class SessionBody(StrictModel):
    scheduled_at: AwareDatetime
    location: str = Field(min_length=1, max_length=200)
    actor: str | None = ACTOR


class SessionRecord(StrictModel):
    held_at: AwareDatetime
    parties_present: list[str] = Field(min_length=1, max_length=100)
    notes: str = Field(default="", max_length=8000)
    result: str = Field(default="continue", max_length=32,
                        description="continue (继续调解), agreed (达成一致), no_agreement (未能达成一致), absent (当事人未到场)")
    actor: str | None = ACTOR


class SettleBody(StrictModel):
    agreement: Agreement
    representatives: list[str] = Field(default_factory=list, max_length=50)
    request_confirmation: bool = True
    actor: str | None = ACTOR


class FailBody(StrictModel):
    disputed_points: list[str] = Field(min_length=1, max_length=50)
    summary: str = Field(default="", max_length=4000)
    to_legal_aid: bool = False
    actor: str | None = ACTOR


class WithdrawBody(StrictModel):
    reason: str = Field(min_length=2, max_length=500)
    actor: str | None = ACTOR


class ExtendBody(StrictModel):
    consent: str = Field(min_length=2, max_length=500, description="how both parties consented (书面同意)")
    actor: str | None = ACTOR


class PauseBody(StrictModel):
    reason: str = Field(pattern="^(party_unreachable|awaiting_materials)$")
    actor: str | None = ACTOR


class MediatorIn(StrictModel):
    mediator_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=50)
    org_unit: str = Field(min_length=1, max_length=64)
    capacity: int = Field(ge=0, le=200)
    specialties: list[str] = Field(default_factory=list)


class MediatorPatch(StrictModel):
    capacity: int | None = Field(default=None, ge=0, le=200)
    active: bool | None = None


async def run(runtime: Runtime, room: RoomSignal, case: WrittenCase | None,
              step: Callable[[HandlerContext], Awaitable[T]]) -> T:
    """One use case (on ``case``) in one unit of work — the case locked and the caller's right to write it checked
    first, on that row; the request's audit row in its transaction —; then the waiting queue looks again (room
    may have freed)."""
    async def checked_step(ctx: HandlerContext) -> T:
        if case is not None:
            await repo.checked(ctx, case.case_id, case.check)
        return await step(ctx)

    result = await usecase.run(runtime, checked_step, audited=True)
    room.may_have_freed()
    return result


async def detail(runtime: Runtime, case_id: str) -> dict[str, Any]:
    return await case_detail(runtime.pool, case_id, now=runtime.clock.now())


async def changed(runtime: Runtime, room: RoomSignal, case: WrittenCase,
                  step: Callable[[HandlerContext], Awaitable[Any]]) -> dict[str, Any]:
    """One use case, answered with the case's file as that use case leaves it: read in its own transaction, under
    the case row's lock the step took (no second transaction). Every writer of the case takes that lock, but the
    deadline ticker does not: a clock it breaches in the same instant may show in the answer or not — the next
    read of the case (one snapshot) shows it."""
    async def then_read(ctx: HandlerContext) -> dict[str, Any]:
        await step(ctx)
        await ctx.write_out()  # what the step left for the end of the unit of work (its log) is part of the answer
        return await case_detail(ctx.conn, case.case_id, now=ctx.now)

    return await run(runtime, room, case, then_read)


# --- cases -----------------------------------------------------------------------------------------------


@router.get("/api/v1/mediation/worklist")
async def worklist(request: Request, runtime: RuntimeDep, config: ConfigDep, org_unit: str | None = None,
                   mediator_id: str | None = None, all: bool = False, limit: int = 200) -> dict[str, Any]:
    org_unit = scope_units(request, org_unit, config.hierarchy)
    authorize(request, "read", roles=("mediator", "supervisor"), unit=org_unit, hierarchy=config.hierarchy)
    rows = await repo.worklist(runtime.pool, org_unit=org_unit, mediator_id=mediator_id, include_resolved=all,
                               limit=max(1, min(limit, 1000)), also_assigned_to=principal(request).mediator_id)
    audit_cases(request, [r["case_id"] for r in rows])
    return {"cases": [summary(r, now=runtime.clock.now()) for r in rows]}


@router.get("/api/v1/mediation/cases/{case_id}")
async def get_case(request: Request, case_id: ReadableCase, runtime: RuntimeDep) -> dict[str, Any]:
    return mask(request, await detail(runtime, case_id))


@router.post("/api/v1/mediation/cases/{case_id}/accept")
async def accept(request: Request, case: MediatorsCase, body: MediatorAction, runtime: RuntimeDep,
                 config: ConfigDep, room: RoomDep) -> dict[str, Any]:
    me = required_mediator(request, body.mediator_id)
    return await changed(runtime, room, case,
                         lambda ctx: assignment.accept(ctx, case.case_id, mediator_id=me, config=config))


@router.post("/api/v1/mediation/cases/{case_id}/decline")
async def decline(request: Request, case: MediatorsCase, body: DeclineBody, runtime: RuntimeDep,
                  config: ConfigDep, room: RoomDep) -> dict[str, Any]:
    me = required_mediator(request, body.mediator_id)
    return await changed(runtime, room, case, lambda ctx: assignment.decline(
        ctx, case.case_id, mediator_id=me, reason=body.reason, config=config))


@router.post("/api/v1/mediation/cases/{case_id}/reassign")
async def reassign(request: Request, case: SupervisedCase, body: ReassignBody, runtime: RuntimeDep,
                   config: ConfigDep, room: RoomDep) -> dict[str, Any]:
    actor = acting(request, body.actor)
    return await changed(runtime, room, case, lambda ctx: assignment.reassign(
        ctx, case.case_id, reason=body.reason, actor=actor, config=config, mediator_id=body.mediator_id))


@router.post("/api/v1/mediation/cases/{case_id}/sessions", status_code=201)
async def schedule(request: Request, case: MediatorsCase, body: SessionBody, runtime: RuntimeDep,
                   room: RoomDep) -> dict[str, Any]:
    actor = acting(request, body.actor)
    session_id = await run(runtime, room, case, lambda ctx: sessions.schedule_session(
        ctx, case.case_id, scheduled_at=body.scheduled_at, location=body.location, actor=actor))
    return {"session_id": session_id}


@router.post("/api/v1/mediation/cases/{case_id}/sessions/{session_id}/record")
async def record(request: Request, case: MediatorsCase, session_id: str, body: SessionRecord,
                 runtime: RuntimeDep, room: RoomDep) -> dict[str, Any]:
    actor = acting(request, body.actor)
    return await changed(runtime, room, case, lambda ctx: sessions.record_session(
        ctx, case.case_id, session_id, held_at=body.held_at, parties_present=body.parties_present, notes=body.notes,
        actor=actor, result=body.result))


@router.post("/api/v1/mediation/cases/{case_id}/settle")
async def settle(request: Request, case: MediatorsCase, body: SettleBody, runtime: RuntimeDep,
                 room: RoomDep) -> dict[str, Any]:
    actor = acting(request, body.actor)
    return await changed(runtime, room, case, lambda ctx: outcomes.settle(
        ctx, case.case_id, agreement=body.agreement, representatives=body.representatives, actor=actor,
        request_confirmation=body.request_confirmation))


@router.post("/api/v1/mediation/cases/{case_id}/fail")
async def fail(request: Request, case: MediatorsCase, body: FailBody, runtime: RuntimeDep,
               room: RoomDep) -> dict[str, Any]:
    actor = acting(request, body.actor)
    return await changed(runtime, room, case, lambda ctx: outcomes.fail(
        ctx, case.case_id, disputed_points=body.disputed_points, summary=body.summary, to_legal_aid=body.to_legal_aid,
        actor=actor))


@router.post("/api/v1/mediation/cases/{case_id}/withdraw")
async def withdraw(request: Request, case: MediatorsCase, body: WithdrawBody, runtime: RuntimeDep,
                   room: RoomDep) -> dict[str, Any]:
    actor = acting(request, body.actor)
    return await changed(runtime, room, case,
                         lambda ctx: outcomes.withdraw(ctx, case.case_id, reason=body.reason, actor=actor))


@router.post("/api/v1/mediation/cases/{case_id}/extend")
async def extend(request: Request, case: MediatorsCase, body: ExtendBody, runtime: RuntimeDep, config: ConfigDep,
                 room: RoomDep) -> dict[str, Any]:
    actor = acting(request, body.actor)
    return await changed(runtime, room, case, lambda ctx: clocks.extend_court_window(
        ctx, case.case_id, consent=body.consent, actor=actor, config=config))


@router.post("/api/v1/mediation/cases/{case_id}/pause")
async def pause(request: Request, case: MediatorsCase, body: PauseBody, runtime: RuntimeDep,
                room: RoomDep) -> dict[str, Any]:
    actor = acting(request, body.actor)
    return await changed(runtime, room, case,
                         lambda ctx: clocks.hold_clock(ctx, case.case_id, pause=True, reason=body.reason, actor=actor))


@router.post("/api/v1/mediation/cases/{case_id}/resume")
async def resume(request: Request, case: MediatorsCase, body: WithdrawBody, runtime: RuntimeDep,
                 room: RoomDep) -> dict[str, Any]:
    actor = acting(request, body.actor)
    return await changed(runtime, room, case,
                         lambda ctx: clocks.hold_clock(ctx, case.case_id, pause=False, reason=body.reason, actor=actor))


# --- the mediators' registry -----------------------------------------------------------------------------


@router.get("/api/v1/mediation/mediators")
async def mediators(request: Request, runtime: RuntimeDep, org_unit: str | None = None) -> dict[str, Any]:
    """The registry within the caller's scope (operators: all of it)."""
    p = principal(request)
    rows = await repo.mediators(runtime.pool, org_unit=org_unit)
    return {"mediators": [{k: r[k] for k in ("mediator_id", "name", "org_unit", "capacity", "active",
                                             "specialties", "open_cases")} for r in rows
                          if p.role == "operator" or visible(request, "read", r["org_unit"])]}


@router.post("/api/v1/mediation/mediators", status_code=201)
async def add_mediator(request: Request, body: MediatorIn, runtime: RuntimeDep, config: ConfigDep) -> dict[str, Any]:
    registry.known_unit(config.hierarchy, body.org_unit)
    manage_registry(request, body.org_unit)
    await usecase.run(runtime, lambda ctx: registry.add_mediator(
        ctx, mediator_id=body.mediator_id, name=body.name, org_unit=body.org_unit, capacity=body.capacity,
        specialties=body.specialties, hierarchy=config.hierarchy))
    return body.model_dump()


@router.patch("/api/v1/mediation/mediators/{mediator_id}")
async def patch_mediator(request: Request, mediator_id: str, body: MediatorPatch, runtime: RuntimeDep,
                         room: RoomDep) -> dict[str, Any]:
    current = await repo.mediator(runtime.pool, mediator_id)
    manage_registry(request, current.org_unit if current else None)
    updated = await run(runtime, room, None, lambda ctx: registry.update_mediator(
        ctx, mediator_id, capacity=body.capacity, active=body.active))
    return {k: getattr(updated, k) for k in ("mediator_id", "name", "org_unit", "capacity", "active")}


# --- pages -----------------------------------------------------------------------------------------------

#: the worklist's due filter (the board's words: 已超期, 临期)
DUE_FILTERS = {"overdue": "已超期", "at_risk": "临期"}


def _choice(value: str | None, allowed: Any) -> str | None:
    return value if value and value in allowed else None


@router.get("/mediation", response_class=HTMLResponse, include_in_schema=False)
async def worklist_page(request: Request, runtime: RuntimeDep, config: ConfigDep, q: str | None = None,
                        state: str | None = None, tier: str | None = None, due: str | None = None,
                        unit: str | None = None, mine: str | None = None, sort: str | None = None,
                        page: str | None = None) -> Response:
    """调解工作台: a mediator's unit (and the cases they carry), a supervisor's units; search, filters, sort, pages."""
    me = authorize(request, "read", roles=("mediator", "supervisor"), unit=principal(request).org_unit,
                   hierarchy=config.hierarchy)
    hierarchy = config.hierarchy
    home = me.org_unit
    if me.role != "supervisor":
        units_in_scope = []
    else:  # a supervisor's unit and those below it (the functional tests' system caller: all of them)
        units_in_scope = [hierarchy.units[c] for c in (hierarchy.subtree(home) if home else hierarchy.units)]
    unit = _choice(unit, {u.code for u in units_in_scope})
    mediator_id = me.mediator_id if me.role == "mediator" else None
    if me.role == "supervisor":
        scope = list(hierarchy.subtree(unit)) if unit else list(hierarchy.subtree(home)) if home else None
    else:
        scope = [home or ""]
    where = repo.WorklistFilter(
        org_units=scope,
        also_assigned_to=mediator_id, mediator_id=mediator_id if mine and mediator_id else None,
        text=(q or "").strip()[:100] or None, state=_choice(state, MEDIATION_STATE), tier=_choice(tier, TIER_SHORT),
        due=_choice(due, DUE_FILTERS))
    number, limit, offset = window(page)
    key, order = sort_key(sort, repo.WORKLIST_SORT, "due")
    rows = await repo.worklist(runtime.pool, where=where, order=order, limit=limit, offset=offset)
    total = await repo.worklist_count(runtime.pool, where)
    audit_cases(request, [r["case_id"] for r in rows])
    now = runtime.clock.now()
    return pages.render(request, "mediation_worklist.html", {
        "page": Page([summary(r, now=now) for r in rows], total, number), "sort": key, "q": q or "",
        "state": where.state, "tier": where.tier, "due": where.due, "unit": unit, "mine": bool(where.mediator_id),
        "units": sorted(units_in_scope, key=lambda u: u.code), "states": MEDIATION_STATE, "tiers": TIER_SHORT,
        "dues": DUE_FILTERS, "hierarchy": hierarchy})


def allowed_steps(me: Principal | None, case: dict[str, Any]) -> dict[str, bool]:
    """Which steps the person looking at the case may take now (the API's guards and the case's state): a
    form is shown only for these."""
    if me is None:
        return {}
    mine = me.role == "mediator" and me.mediator_id is not None and case["mediator_id"] == me.mediator_id
    state = case["state"]
    running = {d["kind"]: d for d in case["deadlines"] if d["state"] in ("open", "paused", "breached")}
    tier, court = running.get(clocks.TIER), running.get(clocks.COURT)
    working = mine and state == "in_mediation"
    return {
        "answer": mine and state == "offered",
        "session": working, "settle": working, "fail": working,
        "reassign": state in ("offered", "in_mediation") and (mine or me.role == "supervisor"),
        "withdraw": mine and state in ("in_mediation", "awaiting_confirmation"),
        "pause": working and tier is not None and tier["state"] == "open",
        "resume": mine and tier is not None and tier["state"] == "paused"
        and tier["pause_reason"] in PAUSE_REASONS,
        "extend": working and court is not None and court["state"] in ("open", "paused") and not court["extended"],
    }


#: the reasons a mediator pauses the case's clock for (the court's decision pauses it by itself)
PAUSE_REASONS = ("party_unreachable", "awaiting_materials")


@router.get("/mediation/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
async def case_page(request: Request, case_id: ReadableCase, runtime: RuntimeDep, config: ConfigDep) -> Response:
    case = mask(request, await case_detail(runtime.pool, case_id, now=runtime.clock.now(),
                                           hierarchy=config.hierarchy))
    me = who(request)
    steps = allowed_steps(me, case)
    others: list[dict[str, Any]] = []
    if steps.get("reassign"):
        units = set(assignment.units_for(config, case["org_unit"]))
        others = [r for r in await repo.mediators(runtime.pool, org_unit=None)
                  if r["org_unit"] in units and r["active"] and r["mediator_id"] != case["mediator_id"]]
    now = runtime.clock.now().astimezone(SHANGHAI)
    papers = documents_for(case_id, documents.kinds_of(await repo.get(runtime.pool, case_id)))
    return pages.render(request, "mediation_case.html", {
        "case": case, "steps": steps, "others": others, "pause_reasons": PAUSE_REASONS, "hierarchy": config.hierarchy,
        "documents": papers, "can_upload": bool(me and me.role in UPLOADERS),
        "session_results": sessions.RESULTS, "now_local": now.strftime("%Y-%m-%dT%H:%M"), "today": now.date().isoformat()})
