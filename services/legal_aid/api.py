"""Legal aid's HTTP API (/api/v1/legal-aid) and the officers' console pages (/legal-aid)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field

from events.glossary import LEGAL_AID_STATE, zh
from services.backbone import caselog, usecase
from services.backbone.db import snapshot
from services.backbone.deadline_store import case_clocks
from services.backbone.http import StrictModel
from services.backbone.runtime import Runtime
from services.backbone.usecase import found
from services.calendar.model import local_date, shanghai_iso
from services.legal_aid import applications as aid_applications
from services.legal_aid import decisions, documents, registry, repository, representation
from services.legal_aid.config import DECISION, LegalAidConfig, missing
from services.legal_aid.deps import OFFICERS, READERS, ConfigDep, ReadableCase, RuntimeDep, WritableCase
from services.legal_aid.domain.case import OPEN
from services.printing.panel import UPLOADERS, documents_for
from services.security.guard import acting, audit_cases, authorize, manage_registry, principal, scope_units, visible
from services.security.pii import mask
from services.web.pages import Pages, who
from services.web.paging import Page, sort_key, window
from services.web.words import money


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
    #: at least one, said by the use case in words ("至少填写一项理由")
    reasons: list[str] = Field(default_factory=list, max_length=20)


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


router = APIRouter()
pages = Pages(Path(__file__).parent / "templates")
BASE = "/api/v1/legal-aid/cases/{case_id}"


async def case_json(runtime: Runtime, config: LegalAidConfig, case_id: str) -> dict[str, Any]:
    """The case's page: the application, the assessment, the lawyer, the clocks and the case log."""
    async with snapshot(runtime.pool) as db:  # the case, its clocks and its log as of one commit
        held = found(await repository.view(db, case_id), missing(case_id))
        clocks = await case_clocks(db, case_id, owner="legal_aid")
        log = await caselog.entries(db, case_id)
    c = held.case
    return {
        "case_id": case_id, "org_unit": c.org_unit, "source": c.source, "state": c.state,
        "state_zh": zh("legal_aid_state", c.state), "applied_at": shanghai_iso(c.applied_at), "facts": c.facts,
        "claim_types": c.claim_types, "migrant_worker": c.migrant_worker,
        "monthly_income_per_capita": c.monthly_income, "limitation_date": c.limitation_date,
        "disputed_points": c.disputed_points, "decision": c.decision,
        "decision_reasons": c.decision_reasons, "urgent": c.urgent, "lawyer_id": c.lawyer_id,
        "lawyer_name": held.lawyer_name, "lawyer_firm": held.lawyer_firm, "stage": c.stage,
        "arbitration_case_no": c.arbitration_case_no, "amount_awarded_cny": c.amount_awarded,
        "outcome": c.outcome, "method": c.method, "amount_recovered_cny": c.amount_recovered,
        "assessment": aid_applications.assess(c, config, today=local_date(runtime.clock.now())),
        "deadlines": [{"kind": d.kind, "state": d.state, "due_at": shanghai_iso(d.due_at),
                       "paused": d.paused_at is not None} for d in clocks],
        "log": log,
    }


#: the worklist's state filter: the open queue by default, one state, or everything (finished work included)
QUEUE = tuple(OPEN)


def _states(state: str | None) -> list[str] | None:
    if state == "all":
        return None
    if state in LEGAL_AID_STATE:
        return [state]
    return list(QUEUE)


@router.get("/api/v1/legal-aid/applications")
async def applications(request: Request, runtime: RuntimeDep, config: ConfigDep, org_unit: str | None = None,
                       state: str | None = None, q: str | None = Query(default=None, max_length=100),
                       overdue: bool = False, sort: str | None = None, page: int = 1,
                       limit: int = 25) -> dict[str, Any]:
    """The officers' queue: open applications by default (``state=all``: finished ones too), searched by case
    number, 仲裁案号, worker or employer, soonest clock first."""
    org_unit = scope_units(request, org_unit, config.hierarchy)
    authorize(request, "read", roles=READERS, unit=org_unit, hierarchy=config.hierarchy)
    units = list(config.hierarchy.subtree(org_unit)) if org_unit else None
    key, order = sort_key(sort, repository.WORKLIST_SORT, "due")
    number, per_page, offset = window(page, max(1, min(limit, 1000)))
    rows, total = await repository.worklist(runtime.pool, units=units, states=_states(state), q=q, overdue=overdue,
                                            order=order, limit=per_page, offset=offset)
    audit_cases(request, [r["case_id"] for r in rows])
    return {"total": total, "page": number, "per_page": per_page, "sort": key, "applications": [{
        "case_id": r["case_id"], "org_unit": r["org_unit"], "state": r["state"], "state_zh": zh("legal_aid_state", r["state"]),
        "applied_at": shanghai_iso(r["applied_at"]), "claim_types": r["claim_types"], "urgent": r["urgent"],
        "workers": r["worker_names"], "employer": r["employer_name"], "arbitration_case_no": r["arbitration_case_no"],
        "lawyer_id": r["lawyer_id"], "lawyer_name": r["lawyer_name"],
        "clock": r["clock_kind"], "due_at": shanghai_iso(r["clock_due"]) if r["clock_due"] else None,
        "paused": r["clock_paused"],
        "decision_due": shanghai_iso(r["clock_due"]) if r["clock_kind"] == DECISION else None,
        "overdue": r["overdue"], "at_risk": bool(r["warned"]) and r["clock_state"] == "open",
    } for r in rows]}


@router.get(BASE)
async def get_case(request: Request, case_id: ReadableCase, runtime: RuntimeDep, config: ConfigDep) -> dict[str, Any]:
    return mask(request, await case_json(runtime, config, case_id))


@router.post(BASE + "/applicant")
async def applicant(request: Request, case_id: WritableCase, body: ApplicantBody, runtime: RuntimeDep,
                    config: ConfigDep) -> dict[str, Any]:
    return await usecase.run(runtime, lambda ctx: aid_applications.record_applicant(
        ctx, case_id, migrant_worker=body.migrant_worker, monthly_income=body.monthly_income_per_capita,
        limitation_date=body.limitation_date, actor=acting(request, body.actor), config=config))


@router.post(BASE + "/materials/request")
async def materials_request(request: Request, case_id: WritableCase, body: MaterialsBody, runtime: RuntimeDep,
                            config: ConfigDep) -> dict[str, Any]:
    await usecase.run(runtime, lambda ctx: aid_applications.request_materials(ctx, case_id, what=body.what,
                                                                               actor=acting(request, body.actor)))
    return await case_json(runtime, config, case_id)


@router.post(BASE + "/materials/received")
async def materials_received(request: Request, case_id: WritableCase, body: Actor, runtime: RuntimeDep,
                             config: ConfigDep) -> dict[str, Any]:
    await usecase.run(runtime, lambda ctx: aid_applications.materials_received(ctx, case_id,
                                                                                actor=acting(request, body.actor)))
    return await case_json(runtime, config, case_id)


@router.post(BASE + "/decision")
async def decision(request: Request, case_id: WritableCase, body: DecisionBody, runtime: RuntimeDep,
                   config: ConfigDep) -> dict[str, Any]:
    await usecase.run(runtime, lambda ctx: decisions.decide(ctx, case_id, decision=body.decision, reasons=body.reasons,
                                                            actor=acting(request, body.actor), config=config))
    return await case_json(runtime, config, case_id)


@router.post(BASE + "/objection")
async def objection(case_id: WritableCase, body: ObjectionBody, runtime: RuntimeDep,
                    config: ConfigDep) -> dict[str, Any]:
    await usecase.run(runtime, lambda ctx: decisions.object_to_denial(ctx, case_id, reason=body.reason))
    return await case_json(runtime, config, case_id)


@router.post(BASE + "/objection/review")
async def review(request: Request, case_id: WritableCase, body: ReviewBody, runtime: RuntimeDep,
                 config: ConfigDep) -> dict[str, Any]:
    await usecase.run(runtime, lambda ctx: decisions.review_objection(
        ctx, case_id, upheld=body.upheld, reason=body.reason, actor=acting(request, body.actor), config=config))
    return await case_json(runtime, config, case_id)


@router.post(BASE + "/lawyer")
async def lawyer(request: Request, case_id: WritableCase, body: AssignBody, runtime: RuntimeDep,
                 config: ConfigDep) -> dict[str, Any]:
    await usecase.run(runtime, lambda ctx: representation.assign_lawyer(
        ctx, case_id, actor=acting(request, body.actor), config=config, lawyer_id=body.lawyer_id))
    return await case_json(runtime, config, case_id)


@router.post(BASE + "/progress")
async def progress(request: Request, case_id: WritableCase, body: ProgressBody, runtime: RuntimeDep,
                   config: ConfigDep) -> dict[str, Any]:
    await usecase.run(runtime, lambda ctx: representation.record_progress(
        ctx, case_id, stage=body.stage, note=body.note, actor=acting(request, body.actor),
        arbitration_case_no=body.arbitration_case_no))
    return await case_json(runtime, config, case_id)


@router.post(BASE + "/conclude")
async def conclude(request: Request, case_id: WritableCase, body: ConcludeBody, runtime: RuntimeDep,
                   config: ConfigDep) -> dict[str, Any]:
    await usecase.run(runtime, lambda ctx: representation.conclude(
        ctx, case_id, outcome=body.outcome, method=body.method, amount_recovered=body.amount_recovered_cny,
        actor=acting(request, body.actor)))
    return await case_json(runtime, config, case_id)


@router.get("/api/v1/legal-aid/lawyers")
async def lawyers(request: Request, runtime: RuntimeDep, org_unit: str | None = None) -> dict[str, Any]:
    """The registry within the caller's scope (operators: all of it)."""
    p = principal(request)
    return {"lawyers": [{**e.lawyer.model_dump(include={"lawyer_id", "name", "firm", "org_unit", "capacity", "active",
                                                        "specialties"}), "open_cases": e.open_cases}
                        for e in await repository.registry(runtime.pool, org_unit=org_unit)
                        if p.role == "operator" or visible(request, "read", e.lawyer.org_unit)]}


@router.post("/api/v1/legal-aid/lawyers", status_code=201)
async def add_lawyer(request: Request, body: LawyerIn, runtime: RuntimeDep, config: ConfigDep) -> dict[str, Any]:
    registry.known_unit(config.hierarchy, body.org_unit)
    manage_registry(request, body.org_unit)
    await usecase.run(runtime, lambda ctx: registry.add_lawyer(
        ctx, lawyer_id=body.lawyer_id, name=body.name, firm=body.firm, org_unit=body.org_unit, capacity=body.capacity,
        specialties=body.specialties))
    return body.model_dump()


@router.post("/api/v1/legal-aid/lawyers/{lawyer_id}/conflicts", status_code=201)
async def add_conflict(request: Request, lawyer_id: str, body: ConflictIn, runtime: RuntimeDep,
                       config: ConfigDep) -> dict[str, Any]:
    unit = found(await repository.lawyer_unit(runtime.pool, lawyer_id), f"律师 {lawyer_id} 不存在")
    if principal(request).role == "legal_aid_officer":
        authorize(request, "write", unit=unit, hierarchy=config.hierarchy)
    else:
        manage_registry(request, unit, config.hierarchy)
    await usecase.run(runtime, lambda ctx: registry.add_conflict(ctx, lawyer_id=lawyer_id, uscc=body.uscc,
                                                                 note=body.note))
    return {"lawyer_id": lawyer_id, "uscc": body.uscc}


def _log_view(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The case log as people read it: what happened in words, who did it, and the particulars that matter."""
    out = []
    for e in entries:
        d, action = e.get("detail") or {}, e["action"]
        what = zh("legal_aid_log", action.split("_")[0] if action.startswith("progress_") else action)
        if action.startswith("progress_"):
            what = f"{what}：{zh('legal_aid_stage', action.removeprefix('progress_'))}"
        facts: list[str] = []
        if d.get("what"):
            facts.append(f"需补充：{d['what']}")
        if d.get("reasons"):
            facts.append("理由：" + "；".join(d["reasons"]))
        if action == "objection_reviewed":
            facts.append("维持不予援助" if d.get("upheld") else "撤销原决定，给予援助")
        if d.get("reason"):
            facts.append(f"理由：{d['reason']}")
        if d.get("lawyer"):
            facts.append(f"律师：{d['lawyer']}" + ("（先行援助）" if d.get("urgent") else ""))
        if d.get("note"):
            facts.append(d["note"])
        if d.get("arbitration_case_no"):
            facts.append(f"仲裁案号：{d['arbitration_case_no']}")
        if d.get("amount_awarded") not in (None, ""):
            facts.append(f"裁决金额：{money(d['amount_awarded'])}")
        if action == "concluded":
            facts.append(f"{zh('legal_aid_outcome', d.get('outcome'))}，{zh('legal_aid_method', d.get('method'))}，"
                         f"追回 {money(d.get('amount_recovered'))}")
        if action == "applicant_recorded":
            facts.append("进城务工人员" if d.get("migrant_worker") else "非进城务工人员")
        out.append({"at": e["at"], "actor": _actor(e.get("actor")), "what": what, "facts": facts})
    return out


def _actor(actor: str | None) -> str:
    if not actor:
        return "系统"
    if actor.startswith("bureau:"):
        return "劳动人事争议仲裁委员会"
    return {"applicant": "申请人", "followup": "回访"}.get(actor, actor)


def _steps(case: dict[str, Any], me: Any) -> dict[str, bool]:
    """Which forms the person sees: an officer acts, and only the steps the case's state allows now."""
    if me is None or me.role not in OFFICERS:
        return {}
    state = case["state"]
    decision_clock = next((d for d in case["deadlines"] if d["kind"] == DECISION and d["state"] in
                           ("open", "paused", "breached")), None)
    paused = bool(decision_clock and decision_clock["paused"])
    urgent_open = state == "represented" and case["urgent"] and case["decision"] is None
    return {
        "applicant": state == "under_review",
        "materials_request": state == "under_review" and decision_clock is not None and not paused,
        "materials_received": state == "under_review" and paused,
        "decision": (state == "under_review" and not paused) or urgent_open,
        "objection": state == "denied",
        "review": state == "objected",
        "lawyer": state == "approved" or (state == "under_review" and case["assessment"]["urgent"] and not paused),
        "progress": state == "represented",
        "conclude": state == "represented",
    }


@router.get("/legal-aid", response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request, runtime: RuntimeDep, config: ConfigDep, org_unit: str | None = None,
               state: str | None = None, q: str | None = Query(default=None, max_length=100), overdue: bool = False,
               sort: str | None = None, page: int = 1) -> Response:
    data = await applications(request, runtime, config, org_unit=org_unit, state=state, q=q, overdue=overdue,
                              sort=sort, page=page, limit=25)
    return pages.render(request, "legal_aid_worklist.html", {
        "page": Page(data["applications"], data["total"], data["page"]), "sort": data["sort"],
        "filters": {"state": state or "", "q": q or "", "overdue": overdue}, "states": LEGAL_AID_STATE,
        "hierarchy": config.hierarchy})


@router.get("/legal-aid/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
async def case_page(request: Request, case_id: ReadableCase, runtime: RuntimeDep, config: ConfigDep) -> Response:
    case = mask(request, await case_json(runtime, config, case_id))
    steps = _steps(case, who(request))
    lawyers = await representation.choices(runtime.pool, case_id, config) if steps.get("lawyer") else []
    me = who(request)
    return pages.render(request, "legal_aid_case.html", {
        "documents": documents_for(case_id, documents.kinds_of(await repository.get(runtime.pool, case_id))),
        "can_upload": bool(me and me.role in UPLOADERS),
        "case": case, "steps": steps, "lawyers": lawyers, "log": _log_view(case["log"]),
        "hierarchy": config.hierarchy})
