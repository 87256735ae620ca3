"""Legal aid's HTTP API (/api/v1/legal-aid) and the officers' console pages (/legal-aid)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import Field

from services.backbone import caselog, usecase
from services.backbone.http import Problem, StrictModel
from services.backbone.runtime import Runtime
from services.calendar.model import local_date, shanghai_iso
from services.legal_aid import cases
from services.legal_aid.cases import LegalAidConfig
from services.legal_aid.domain.case import STATE_ZH
from services.security.guard import (
    acting,
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

TEMPLATES = [str(Path(__file__).parent / "templates"), str(Path(__file__).parents[1] / "console" / "templates")]


class Actor(StrictModel):
    actor: str | None = Field(default=None, max_length=100, description="ignored when logged in")


class ApplicantBody(Actor):
    migrant_worker: bool
    monthly_income_per_capita: Decimal | None = Field(default=None, ge=0, decimal_places=2)
    limitation_date: date | None = Field(default=None, description="arbitration limitation or filing date")


class MaterialsBody(Actor):
    what: str = Field(min_length=2, max_length=500)


class DecisionBody(Actor):
    decision: Literal["approved", "denied"]
    reasons: list[str] = Field(min_length=1, max_length=20)


class ObjectionBody(StrictModel):
    reason: str = Field(min_length=2, max_length=2000)


class ReviewBody(Actor):
    upheld: bool
    reason: str = Field(min_length=2, max_length=2000)


class AssignBody(Actor):
    lawyer_id: str | None = None


class ProgressBody(Actor):
    stage: Literal["consultation", "drafting", "arbitration", "litigation", "enforcement"]
    note: str = Field(default="", max_length=4000)
    arbitration_case_no: str | None = Field(default=None, max_length=64)


class ConcludeBody(Actor):
    outcome: Literal["won", "partly_won", "settled", "lost", "withdrawn"]
    method: Literal["settlement", "award", "judgment", "enforcement", "none"]
    amount_recovered_cny: Decimal = Field(ge=0, decimal_places=2)


class LawyerIn(StrictModel):
    lawyer_id: str = Field(min_length=1, max_length=64)
    name: str = Field(min_length=1, max_length=50)
    firm: str = Field(min_length=1, max_length=100)
    org_unit: str
    capacity: int = Field(ge=0, le=200)
    specialties: list[str] = Field(default_factory=list)


class ConflictIn(StrictModel):
    uscc: str = Field(pattern=r"^[0-9A-HJ-NPQRTUWXY]{2}\d{6}[0-9A-HJ-NPQRTUWXY]{10}$")
    note: str = Field(default="", max_length=500)


def build_router(runtime: Runtime, config: LegalAidConfig) -> APIRouter:
    router = APIRouter()
    templates = Jinja2Templates(directory=TEMPLATES)
    base = "/api/v1/legal-aid/cases/{case_id}"

    async def guard_case(request: Request, case_id: str, action: Action, roles: tuple[Role, ...]) -> None:
        require_role(request, roles)
        unit = await runtime.pool.fetchval("SELECT org_unit FROM aid_cases WHERE case_id = $1", case_id)
        authorize_held(request, action, unit=unit, case_id=case_id, roles=roles, missing=f"法律援助案件 {case_id} 不存在",
                       hierarchy=config.hierarchy)

    async def case_json(case_id: str) -> dict[str, Any]:
        row = await runtime.pool.fetchrow(
            "SELECT c.*, l.name AS lawyer_name, l.firm AS lawyer_firm FROM aid_cases c "
            "LEFT JOIN lawyers l ON l.lawyer_id = c.lawyer_id WHERE c.case_id = $1", case_id)
        if row is None:
            raise Problem(404, f"法律援助案件 {case_id} 不存在")
        deadlines = await runtime.pool.fetch(
            "SELECT kind, state, due_at, paused_at FROM deadlines WHERE case_id = $1 AND owner = 'legal_aid' "
            "ORDER BY started_at", case_id)
        return {
            "case_id": case_id, "org_unit": row["org_unit"], "source": row["source"], "state": row["state"],
            "state_zh": STATE_ZH[row["state"]], "applied_at": shanghai_iso(row["applied_at"]), "facts": row["facts"],
            "claim_types": row["claim_types"], "migrant_worker": row["migrant_worker"],
            "monthly_income_per_capita": row["monthly_income"], "limitation_date": row["limitation_date"],
            "disputed_points": row["disputed_points"], "decision": row["decision"],
            "decision_reasons": row["decision_reasons"], "urgent": row["urgent"], "lawyer_id": row["lawyer_id"],
            "lawyer_name": row["lawyer_name"], "lawyer_firm": row["lawyer_firm"], "stage": row["stage"],
            "arbitration_case_no": row["arbitration_case_no"], "amount_awarded_cny": row["amount_awarded"],
            "outcome": row["outcome"], "method": row["method"], "amount_recovered_cny": row["amount_recovered"],
            "assessment": cases.assess(row, config, today=local_date(runtime.clock.now())),
            "deadlines": [{"kind": d["kind"], "state": d["state"], "due_at": shanghai_iso(d["due_at"]),
                           "paused": d["paused_at"] is not None} for d in deadlines],
            "log": await caselog.entries(runtime.pool, case_id),
        }

    @router.get("/api/v1/legal-aid/applications")
    async def applications(request: Request, org_unit: str | None = None, state: str | None = None,
                           limit: int = 200) -> dict[str, Any]:
        org_unit = scope_units(request, org_unit, config.hierarchy)
        authorize(request, "read", roles=("legal_aid_officer", "supervisor"), unit=org_unit,
                  hierarchy=config.hierarchy)
        units = list(config.hierarchy.subtree(org_unit)) if org_unit else None
        rows = await runtime.pool.fetch(
            "SELECT c.case_id, c.org_unit, c.state, c.applied_at, c.claim_types, c.urgent, c.lawyer_id, "
            "d.due_at AS decision_due, d.state AS decision_state, d.warned FROM aid_cases c "
            "LEFT JOIN deadlines d ON d.case_id = c.case_id AND d.kind = 'legal_aid_decision' "
            "WHERE ($1::text[] IS NULL OR c.org_unit = ANY($1)) AND ($2::text IS NULL OR c.state = $2) "
            "ORDER BY d.due_at NULLS LAST, c.applied_at LIMIT $3", units, state, max(1, min(limit, 1000)))
        audit_cases(request, [r["case_id"] for r in rows])
        return {"applications": [{
            "case_id": r["case_id"], "org_unit": r["org_unit"], "state": r["state"], "state_zh": STATE_ZH[r["state"]],
            "applied_at": shanghai_iso(r["applied_at"]), "claim_types": r["claim_types"], "urgent": r["urgent"],
            "lawyer_id": r["lawyer_id"],
            "decision_due": shanghai_iso(r["decision_due"]) if r["decision_due"] else None,
            "overdue": r["decision_state"] == "breached", "at_risk": bool(r["warned"]) and r["decision_state"] == "open",
        } for r in rows]}

    @router.get(base)
    async def get_case(request: Request, case_id: str) -> dict[str, Any]:
        await guard_case(request, case_id, "read", ("legal_aid_officer", "supervisor"))
        return mask(request, await case_json(case_id))

    @router.post(base + "/applicant")
    async def applicant(request: Request, case_id: str, body: ApplicantBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("legal_aid_officer",))
        return await usecase.run(runtime, lambda ctx: cases.record_applicant(
            ctx, case_id, migrant_worker=body.migrant_worker, monthly_income=body.monthly_income_per_capita,
            limitation_date=body.limitation_date, actor=acting(request, body.actor), config=config))

    @router.post(base + "/materials/request")
    async def materials_request(request: Request, case_id: str, body: MaterialsBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("legal_aid_officer",))
        await usecase.run(runtime, lambda ctx: cases.request_materials(ctx, case_id, what=body.what,
                                                                       actor=acting(request, body.actor)))
        return await case_json(case_id)

    @router.post(base + "/materials/received")
    async def materials_received(request: Request, case_id: str, body: Actor) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("legal_aid_officer",))
        await usecase.run(runtime, lambda ctx: cases.materials_received(ctx, case_id, actor=acting(request, body.actor)))
        return await case_json(case_id)

    @router.post(base + "/decision")
    async def decision(request: Request, case_id: str, body: DecisionBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("legal_aid_officer",))
        await usecase.run(runtime, lambda ctx: cases.decide(ctx, case_id, decision=body.decision, reasons=body.reasons,
                                                            actor=acting(request, body.actor), config=config))
        return await case_json(case_id)

    @router.post(base + "/objection")
    async def objection(request: Request, case_id: str, body: ObjectionBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("legal_aid_officer",))
        await usecase.run(runtime, lambda ctx: cases.object_to_denial(ctx, case_id, reason=body.reason))
        return await case_json(case_id)

    @router.post(base + "/objection/review")
    async def review(request: Request, case_id: str, body: ReviewBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("legal_aid_officer",))
        await usecase.run(runtime, lambda ctx: cases.review_objection(ctx, case_id, upheld=body.upheld,
                                                                      reason=body.reason, actor=acting(request, body.actor),
                                                                      config=config))
        return await case_json(case_id)

    @router.post(base + "/lawyer")
    async def lawyer(request: Request, case_id: str, body: AssignBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("legal_aid_officer",))
        await usecase.run(runtime, lambda ctx: cases.assign_lawyer(ctx, case_id, actor=acting(request, body.actor), config=config,
                                                                   lawyer_id=body.lawyer_id))
        return await case_json(case_id)

    @router.post(base + "/progress")
    async def progress(request: Request, case_id: str, body: ProgressBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("legal_aid_officer",))
        await usecase.run(runtime, lambda ctx: cases.record_progress(
            ctx, case_id, stage=body.stage, note=body.note, actor=acting(request, body.actor),
            arbitration_case_no=body.arbitration_case_no))
        return await case_json(case_id)

    @router.post(base + "/conclude")
    async def conclude(request: Request, case_id: str, body: ConcludeBody) -> dict[str, Any]:
        await guard_case(request, case_id, "write", ("legal_aid_officer",))
        await usecase.run(runtime, lambda ctx: cases.conclude(ctx, case_id, outcome=body.outcome, method=body.method,
                                                              amount_recovered=body.amount_recovered_cny,
                                                              actor=acting(request, body.actor)))
        return await case_json(case_id)

    @router.get("/api/v1/legal-aid/lawyers")
    async def lawyers(request: Request, org_unit: str | None = None) -> dict[str, Any]:
        """The registry within the caller's scope (operators: all of it)."""
        p = principal(request)
        rows = await runtime.pool.fetch(
            "SELECT l.*, (SELECT count(*) FROM aid_cases c WHERE c.lawyer_id = l.lawyer_id AND c.state = 'represented') "
            "AS open_cases FROM lawyers l WHERE $1::text IS NULL OR l.org_unit = $1 ORDER BY l.org_unit, l.lawyer_id",
            org_unit)
        return {"lawyers": [{k: r[k] for k in ("lawyer_id", "name", "firm", "org_unit", "capacity", "active",
                                               "specialties", "open_cases")} for r in rows
                                    if p.role == "operator" or visible(request, "read", r["org_unit"])]}

    @router.post("/api/v1/legal-aid/lawyers", status_code=201)
    async def add_lawyer(request: Request, body: LawyerIn) -> dict[str, Any]:
        if config.hierarchy.get(body.org_unit) is None:
            raise Problem(422, "未知的工会单位", errors=[{"field": "org_unit", "reason": "未知的工会单位"}])
        manage_registry(request, body.org_unit)
        if not await runtime.pool.fetchval(
                "INSERT INTO lawyers (lawyer_id, name, firm, org_unit, capacity, specialties) VALUES ($1,$2,$3,$4,$5,$6) "
                "ON CONFLICT DO NOTHING RETURNING 1", body.lawyer_id, body.name, body.firm, body.org_unit,
                body.capacity, body.specialties):
            raise Problem(409, f"律师编号 {body.lawyer_id} 已存在")
        return body.model_dump()

    @router.post("/api/v1/legal-aid/lawyers/{lawyer_id}/conflicts", status_code=201)
    async def add_conflict(request: Request, lawyer_id: str, body: ConflictIn) -> dict[str, Any]:
        unit = await runtime.pool.fetchval("SELECT org_unit FROM lawyers WHERE lawyer_id = $1", lawyer_id)
        if unit is None:
            raise Problem(404, f"律师 {lawyer_id} 不存在")
        p = principal(request)
        if p.role == "legal_aid_officer":
            authorize(request, "write", unit=unit, hierarchy=config.hierarchy)
        else:
            manage_registry(request, unit, config.hierarchy)
        await runtime.pool.execute("INSERT INTO lawyer_conflicts (lawyer_id, uscc, note) VALUES ($1, $2, $3) "
                                   "ON CONFLICT DO NOTHING", lawyer_id, body.uscc, body.note)
        return {"lawyer_id": lawyer_id, "uscc": body.uscc}

    @router.get("/legal-aid", response_class=HTMLResponse, include_in_schema=False)
    async def page(request: Request, org_unit: str | None = None) -> Response:
        data = await applications(request, org_unit=org_unit)
        return templates.TemplateResponse(request, "legal_aid_worklist.html", {"applications": data["applications"],
                                                                              "org_unit": org_unit})

    @router.get("/legal-aid/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
    async def case_page(request: Request, case_id: str) -> Response:
        await guard_case(request, case_id, "read", ("legal_aid_officer", "supervisor"))
        return templates.TemplateResponse(request, "legal_aid_case.html", {"case": mask(request, await case_json(case_id))})

    return router
