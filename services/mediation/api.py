"""Mediation's HTTP API (JSON under /api/v1/mediation) and the mediator's console pages (/mediation)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import AwareDatetime, Field

from events.common import CLAIM_ZH, Agreement
from services.backbone import caselog, usecase
from services.backbone.consumer import HandlerContext
from services.backbone.http import Problem, StrictModel
from services.backbone.runtime import Runtime
from services.calendar.model import shanghai_iso
from services.mediation import cases
from services.mediation import repository as repo
from services.mediation.cases import MediationConfig, room_may_have_freed
from services.mediation.domain.case import STATE_ZH
from services.security.guard import (
    acting,
    acting_mediator,
    audit_cases,
    authorize,
    authorize_held,
    manage_registry,
    principal,
    require_role,
    scope_units,
    visible,
)
from services.security.pii import mask
from services.security.policy import Action, Role

T = TypeVar("T")
ACTION_ZH = {"opened": "调解立案", "assigned": "分派调解员", "accepted": "签收", "declined": "拒绝接收",
             "reassigning": "改派", "session_scheduled": "安排调解会", "session_held": "召开调解会", "settled": "调解成功",
             "failed": "调解不成", "withdrawn": "撤回", "confirmation_confirmed": "法院确认",
             "confirmation_rejected": "法院不予确认",
             "court_filed": "法院立案", "window_extended": "延长委托调解期限", "reopened": "重新调解", "moved": "转交上级单位",
             "assignment_pending": "待分派（无可用调解员）", "arbitration_accepted": "仲裁受理", "award_issued": "仲裁裁决",
             "reclassified": "调整分级", "enforcement_requested": "申请强制执行"}
TEMPLATES = [str(Path(__file__).parent / "templates"), str(Path(__file__).parents[1] / "console" / "templates")]


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


def build_router(runtime: Runtime, config: MediationConfig) -> APIRouter:
    router = APIRouter()
    templates = Jinja2Templates(directory=TEMPLATES)

    async def run(step: Callable[[HandlerContext], Awaitable[T]]) -> T:
        result = await usecase.run(runtime, step)
        room_may_have_freed()  # a settlement, failure, decline or capacity change: offer waiting cases now
        return result

    async def guard_case(request: Request, case_id: str, action: Action, roles: tuple[Role, ...]) -> None:
        require_role(request, roles)
        row = await runtime.pool.fetchrow("SELECT org_unit, mediator_id, state FROM mediation_cases WHERE case_id = $1",
                                          case_id)
        me = principal(request)
        unit = row["org_unit"] if row else None
        if row and me.role == "mediator" and me.mediator_id and row["mediator_id"] == me.mediator_id:
            unit = me.org_unit  # the mediator carrying the case (a station's, for a case its parent unit holds)
        p = authorize_held(request, action, unit=unit, case_id=case_id, roles=roles,
                           missing=f"调解案件 {case_id} 不存在", hierarchy=config.hierarchy)
        if action == "write" and p.role == "mediator" and row and row["mediator_id"] and row["state"] != "offered" \
                and row["mediator_id"] != p.mediator_id:
            raise Problem(403, "该案件由其他调解员承办，只有承办调解员或督办人员可以办理")

    def required_mediator(request: Request, claimed: str | None) -> str:
        me = acting_mediator(request, claimed)
        if me is None:
            raise Problem(422, "请指明调解员", errors=[{"field": "mediator_id", "reason": "缺少调解员"}])
        return me

    async def case_json(case_id: str) -> dict[str, Any]:
        row = await repo.get(runtime.pool, case_id)
        if row is None:
            raise Problem(404, f"调解案件 {case_id} 不存在")
        deadlines = await runtime.pool.fetch(
            "SELECT kind, state, due_at, warned, paused_at, provisional FROM deadlines WHERE case_id = $1 "
            "AND owner = 'mediation' ORDER BY started_at", case_id)
        return {
            **_summary(row, now=runtime.clock.now()), "facts": row["facts"], "agreement": row["agreement"],
            "representatives": row["representatives"], "disputed_points": row["disputed_points"],
            "deadlines": [{"kind": d["kind"], "state": d["state"], "due_at": shanghai_iso(d["due_at"]),
                           "warned": d["warned"], "paused": d["paused_at"] is not None,
                           "provisional": d["provisional"]} for d in deadlines],
            "sessions": [{"session_id": str(s["session_id"]), "scheduled_at": shanghai_iso(s["scheduled_at"]),
                          "location": s["location"], "held_at": shanghai_iso(s["held_at"]) if s["held_at"] else None,
                          "parties_present": s["parties_present"], "notes": s["notes"]}
                         for s in await repo.sessions_of(runtime.pool, case_id)],
            "log": await caselog.entries(runtime.pool, case_id),
        }

    @router.get("/api/v1/mediation/worklist")
    async def worklist(request: Request, org_unit: str | None = None, mediator_id: str | None = None,
                       all: bool = False, limit: int = 200) -> dict[str, Any]:
        org_unit = scope_units(request, org_unit, config.hierarchy)
        authorize(request, "read", roles=("mediator", "supervisor"), unit=org_unit, hierarchy=config.hierarchy)
        rows = await repo.worklist(runtime.pool, org_unit=org_unit, mediator_id=mediator_id, include_resolved=all,
                                   limit=max(1, min(limit, 1000)), also_assigned_to=principal(request).mediator_id)
        audit_cases(request, [r["case_id"] for r in rows])
        return {"cases": [_summary(r, now=runtime.clock.now()) for r in rows]}

    @router.get("/api/v1/mediation/cases/{case_id}")
    async def get_case(request: Request, case_id: str) -> dict[str, Any]:
        await guard_case(request, case_id, "read", ("mediator", "supervisor"))
        return mask(request, await case_json(case_id))

    @router.post("/api/v1/mediation/cases/{case_id}/accept")
    async def accept(request: Request, case_id: str, body: MediatorAction) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("mediator",))
        me = required_mediator(request, body.mediator_id)
        await run(lambda ctx: cases.accept(ctx, case_id, mediator_id=me, config=config))
        return await case_json(case_id)

    @router.post("/api/v1/mediation/cases/{case_id}/decline")
    async def decline(request: Request, case_id: str, body: DeclineBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("mediator",))
        me = required_mediator(request, body.mediator_id)
        await run(lambda ctx: cases.decline(ctx, case_id, mediator_id=me, reason=body.reason,
                                            config=config))
        return await case_json(case_id)

    @router.post("/api/v1/mediation/cases/{case_id}/reassign")
    async def reassign(request: Request, case_id: str, body: ReassignBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("mediator", "supervisor"))
        await run(lambda ctx: cases.reassign(ctx, case_id, reason=body.reason, actor=acting(request, body.actor), config=config,
                                             mediator_id=body.mediator_id))
        return await case_json(case_id)

    @router.post("/api/v1/mediation/cases/{case_id}/sessions", status_code=201)
    async def schedule(request: Request, case_id: str, body: SessionBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("mediator",))
        session_id = await run(lambda ctx: cases.schedule_session(
            ctx, case_id, scheduled_at=body.scheduled_at, location=body.location, actor=acting(request, body.actor)))
        return {"session_id": session_id}

    @router.post("/api/v1/mediation/cases/{case_id}/sessions/{session_id}/record")
    async def record(request: Request, case_id: str, session_id: str, body: SessionRecord) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("mediator",))
        await run(lambda ctx: cases.record_session(ctx, case_id, session_id, held_at=body.held_at,
                                                   parties_present=body.parties_present, notes=body.notes,
                                                   actor=acting(request, body.actor)))
        return await case_json(case_id)

    @router.post("/api/v1/mediation/cases/{case_id}/settle")
    async def settle(request: Request, case_id: str, body: SettleBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("mediator",))
        await run(lambda ctx: cases.settle(ctx, case_id, agreement=body.agreement,
                                           representatives=body.representatives, actor=acting(request, body.actor),
                                           request_confirmation=body.request_confirmation))
        return await case_json(case_id)

    @router.post("/api/v1/mediation/cases/{case_id}/fail")
    async def fail(request: Request, case_id: str, body: FailBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("mediator",))
        await run(lambda ctx: cases.fail(ctx, case_id, disputed_points=body.disputed_points, summary=body.summary,
                                         to_legal_aid=body.to_legal_aid, actor=acting(request, body.actor)))
        return await case_json(case_id)

    @router.post("/api/v1/mediation/cases/{case_id}/withdraw")
    async def withdraw(request: Request, case_id: str, body: WithdrawBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("mediator",))
        await run(lambda ctx: cases.withdraw(ctx, case_id, reason=body.reason, actor=acting(request, body.actor)))
        return await case_json(case_id)

    @router.post("/api/v1/mediation/cases/{case_id}/extend")
    async def extend(request: Request, case_id: str, body: ExtendBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("mediator",))
        await run(lambda ctx: cases.extend_court_window(ctx, case_id, consent=body.consent, actor=acting(request, body.actor),
                                                        config=config))
        return await case_json(case_id)

    @router.post("/api/v1/mediation/cases/{case_id}/pause")
    async def pause(request: Request, case_id: str, body: PauseBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("mediator",))
        await run(lambda ctx: cases.hold_clock(ctx, case_id, pause=True, reason=body.reason, actor=acting(request, body.actor)))
        return await case_json(case_id)

    @router.post("/api/v1/mediation/cases/{case_id}/resume")
    async def resume(request: Request, case_id: str, body: WithdrawBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("mediator",))
        await run(lambda ctx: cases.hold_clock(ctx, case_id, pause=False, reason=body.reason, actor=acting(request, body.actor)))
        return await case_json(case_id)

    @router.get("/api/v1/mediation/mediators")
    async def mediators(request: Request, org_unit: str | None = None) -> dict[str, Any]:
        """The registry within the caller's scope (operators: all of it)."""
        p = principal(request)
        rows = await runtime.pool.fetch(
            "SELECT m.*, (SELECT count(*) FROM mediation_cases c WHERE c.mediator_id = m.mediator_id "
            "AND c.state IN ('offered', 'in_mediation', 'awaiting_confirmation')) AS open_cases FROM mediators m "
            "WHERE $1::text IS NULL OR m.org_unit = $1 ORDER BY m.org_unit, m.mediator_id", org_unit)
        return {"mediators": [{k: r[k] for k in ("mediator_id", "name", "org_unit", "capacity", "active",
                                                 "specialties", "open_cases")} for r in rows
                                    if p.role == "operator" or visible(request, "read", r["org_unit"])]}

    @router.post("/api/v1/mediation/mediators", status_code=201)
    async def add_mediator(request: Request, body: MediatorIn) -> dict[str, Any]:
        if config.hierarchy.get(body.org_unit) is None:
            raise Problem(422, "未知的工会单位", errors=[{"field": "org_unit", "reason": "未知的工会单位"}])
        manage_registry(request, body.org_unit)
        inserted = await runtime.pool.fetchval(
            "INSERT INTO mediators (mediator_id, name, org_unit, capacity, specialties) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT DO NOTHING RETURNING 1", body.mediator_id, body.name, body.org_unit, body.capacity,
            body.specialties)
        if not inserted:
            raise Problem(409, f"调解员编号 {body.mediator_id} 已存在")
        return body.model_dump()

    @router.patch("/api/v1/mediation/mediators/{mediator_id}")
    async def patch_mediator(request: Request, mediator_id: str, body: MediatorPatch) -> dict[str, Any]:
        manage_registry(request, await runtime.pool.fetchval("SELECT org_unit FROM mediators WHERE mediator_id = $1",
                                                    mediator_id))
        row = await runtime.pool.fetchrow(
            "UPDATE mediators SET capacity = COALESCE($2, capacity), active = COALESCE($3, active), "
            "updated_at = now() WHERE mediator_id = $1 RETURNING *", mediator_id, body.capacity, body.active)
        if row is None:
            raise Problem(404, f"调解员 {mediator_id} 不存在")
        room_may_have_freed()
        return {k: row[k] for k in ("mediator_id", "name", "org_unit", "capacity", "active")}

    # --- pages -------------------------------------------------------------------------------------

    @router.get("/mediation", response_class=HTMLResponse, include_in_schema=False)
    async def worklist_page(request: Request, org_unit: str | None = None, mediator_id: str | None = None) -> Response:
        org_unit = scope_units(request, org_unit, config.hierarchy) or "QH-XN-CD"
        authorize(request, "read", roles=("mediator", "supervisor"), unit=org_unit, hierarchy=config.hierarchy)
        rows = await repo.worklist(runtime.pool, org_unit=org_unit or None, mediator_id=mediator_id or None,
                                   include_resolved=False, limit=500, also_assigned_to=principal(request).mediator_id)
        audit_cases(request, [r["case_id"] for r in rows])
        units = sorted(config.hierarchy.units.values(), key=lambda u: u.code)
        return templates.TemplateResponse(request, "mediation_worklist.html", {
            "cases": [_summary(r, now=runtime.clock.now()) for r in rows], "units": units, "org_unit": org_unit,
            "mediator_id": mediator_id, "states": STATE_ZH})

    @router.get("/mediation/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
    async def case_page(request: Request, case_id: str) -> Response:
        await guard_case(request, case_id, "read", ("mediator", "supervisor"))
        case = mask(request, await case_json(case_id))
        return templates.TemplateResponse(request, "mediation_case.html", {
            "case": case, "states": STATE_ZH, "claim_zh": CLAIM_ZH, "action_zh": ACTION_ZH})

    return router


def _summary(row: Any, *, now: datetime) -> dict[str, Any]:
    keys = row.keys()
    due = row["tier_due_at"] if "tier_due_at" in keys and row["tier_due_at"] else row["due_at"]
    tier_state = row["tier_state"] if "tier_state" in keys else None
    return {
        "case_id": row["case_id"], "org_unit": row["org_unit"], "kind": row["kind"], "state": row["state"],
        "state_zh": STATE_ZH.get(row["state"], row["state"]), "tier": row["tier"], "due_at": shanghai_iso(due),
        "overdue": tier_state == "breached" or (row["state"] != "resolved" and due < now),
        "at_risk": bool("tier_warned" in keys and row["tier_warned"]) and tier_state != "breached",
        "mediator_id": row["mediator_id"],
        "mediator_name": row["mediator_name"] if "mediator_name" in keys else None,
        "court_case_no": row["court_case_no"], "arbitration_case_no": row["arbitration_case_no"],
        "outcome": row["outcome"], "group_dispute": row["group_dispute"],
        "employer": row["facts"]["employer"]["name"], "workers": len(row["facts"]["workers"]),
        "summary": row["facts"].get("summary", ""),
    }
