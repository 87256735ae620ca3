"""Intake's HTTP API: cases from the hotline, window and online form; partner ingress; operator calendar."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from fastapi import APIRouter, Request
from fastapi import Path as FastPath
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from events import glossary
from events.catalog import spec_for
from events.common import Claim, Employer, RegionCode, Tier, Worker
from events.envelope import EventRejected, parse_envelope
from services.backbone import caselog, usecase
from services.backbone.consumer import HandlerContext
from services.backbone.db import snapshot
from services.backbone.http import Problem, StrictModel
from services.backbone.usecase import found
from services.calendar.model import shanghai_iso
from services.calendar.seed import parse_year_file, year_to_json
from services.intake import desk as desk_views
from services.intake import documents as intake_documents
from services.intake import ingress, query_codes, registration_keys, tiering
from services.intake import repository as repo
from services.intake.config import IntakeConfig
from services.intake.deps import ConfigDep, ReadableCase, RuntimeDep, WritableCase
from services.intake.dispatch import Outcome, decline
from services.intake.domain.duplicates import DuplicateChoice
from services.intake.models import IntakeCase
from services.intake.registration import Submission, preview, register
from services.intake.registration_keys import RegistrationKey
from services.printing.panel import UPLOADERS, documents_for
from services.security import partners
from services.security.accounts import accounts
from services.security.guard import acting, audit_cases, authorize, is_system, principal, visible
from services.security.pii import mask_workers
from services.security.query_codes import shown
from services.web.pages import Pages
from services.web.paging import Page, sort_key, window

INGRESS_MAX_BYTES = 256 * 1024
limiter = partners.RateLimiter()
PARTNER_TYPES = ("court.case_referred", "court.confirmation_decided", "court.case_filed", "bureau.case_referred",
                 "bureau.arbitration_accepted", "bureau.award_issued")


class Override(StrictModel):
    field: str = Field(min_length=1, max_length=100, description="e.g. workers[0].id_number")
    reason: str = Field(min_length=2, max_length=500, description="why the clerk accepts the value (核实情况)")


class DuplicateIn(StrictModel):
    """The clerk's answer to the possible duplicates the preview showed (疑似重复来件)."""

    action: Literal["link", "new"] = Field(description="link: join case_id (关联); new: register a new case (另立新案)")
    case_id: str | None = Field(default=None, max_length=40,
                                description="link: the open case to join, one the preview offered")
    reason: str | None = Field(default=None, max_length=500, description="new: why it is not the same dispute")


class CaseIn(BaseModel):
    """A case registered by the 12351 hotline, a service window or the online form."""

    model_config = ConfigDict(extra="forbid")
    channel: Literal["hotline", "window", "online"]
    received_at: AwareDatetime = Field(description="when the worker reached the union, RFC 3339 with offset")
    region_code: RegionCode
    workers: list[Worker] = Field(min_length=1, max_length=1000)
    employer: Employer
    claims: list[Claim] = Field(min_length=1, max_length=20)
    summary: str = Field(default="", max_length=4000)
    tier: Tier | None = Field(default=None, description="a clerk's override of the triage, with tier_reason")
    tier_reason: str | None = Field(default=None, max_length=500)
    route: Literal["mediation", "legal_aid", "answered", "referred_elsewhere"] | None = None
    answer: str | None = Field(default=None, max_length=4000, description="the answer given on the spot")
    overrides: list[Override] = Field(default_factory=list, max_length=100)
    duplicate: DuplicateIn | None = Field(
        default=None, description="the clerk's choice about possible duplicates; absent: join the oldest open case "
                                  "of the same dispute within the clerk's scope (200, linked: true)")
    actor: str | None = Field(default=None, max_length=100,
                              description="ignored when logged in: the case log records the authenticated clerk")


class DuplicateOut(BaseModel):
    case_id: str
    status: str
    received_at: datetime
    employer_name: str
    claim_types: list[str]
    worker_count: int
    workers: list[str] = Field(description="the submission's workers who are on that case, by name")
    tier: Tier
    due_at: datetime
    org_unit: str | None
    org_unit_name: str | None
    route: str | None


class CasePreview(BaseModel):
    """What registering the same body would do (nothing is written)."""

    tier: Tier
    tier_rule: str
    tier_reason: str
    due_at: datetime
    provisional: bool
    route: str
    org_unit: str | None
    org_unit_name: str | None
    group_dispute: bool
    answer: str | None
    warnings: list[dict[str, Any]]
    duplicates: list[DuplicateOut]


class CaseAccepted(BaseModel):
    case_id: str
    status: str
    tier: Tier
    due_at: datetime
    provisional: bool
    org_unit: str | None
    org_unit_name: str | None
    route: str | None
    linked: bool
    warnings: list[dict[str, Any]]
    replayed: bool = Field(default=False, description="the answer of an earlier request with the same Idempotency-Key")


ACTOR = Field(default=None, max_length=100, description="ignored when logged in: the log records who is logged in")


class TierChange(StrictModel):
    tier: Tier
    reason: str = Field(min_length=2, max_length=500)
    actor: str | None = ACTOR


class Decline(StrictModel):
    org_unit: str = Field(min_length=1, max_length=64)
    reason: str = Field(min_length=2, max_length=500)
    actor: str | None = ACTOR


router = APIRouter()


@router.post("/api/v1/cases", status_code=201, response_model=CaseAccepted,
             responses={200: {"description": "linked to an open case of the same worker and employer"}})
async def create_case(request: Request, body: CaseIn, runtime: RuntimeDep, config: ConfigDep) -> JSONResponse:
    """受理登记. With an ``Idempotency-Key`` header (any token of 8–200 visible characters, new for each
    submission), sending the same body again answers the case the first request registered or joined
    (``replayed: true``, the same status code, no query code: it was shown the first time and sent by SMS)."""
    sub = _submission(request, body, config)
    key = RegistrationKey.sent(request.headers, principal(request).subject, body.model_dump_json().encode())
    def sees(held: str | None) -> bool:
        return visible(request, "read", held, hierarchy=config.hierarchy)

    async def registered(ctx: HandlerContext) -> Outcome:
        outcome = await registration_keys.once(ctx, key, lambda: register(ctx, sub, config=config, visible=sees),
                                               visible=sees)
        # the audit row, written in this transaction, names the case and the answer's status
        request.state.audit_case = outcome.case_id
        request.state.audit_status = 200 if outcome.linked else 201
        return outcome

    try:
        outcome = await usecase.run(runtime, registered, audited=True)
    except BaseException:
        request.state.audit_case = None  # rolled back: the case named inside the transaction was never made
        raise
    return JSONResponse(outcome.as_json(config.hierarchy), status_code=request.state.audit_status)


@router.post("/api/v1/intake/preview", response_model=CasePreview)
async def preview_case(request: Request, body: CaseIn, runtime: RuntimeDep, config: ConfigDep) -> dict[str, Any]:
    """登记预览: the body of ``POST /api/v1/cases``, checked the same way; answers the tier, due time, route, the
    unit it will go to and the possible duplicates within the clerk's scope. Writes nothing."""
    sub = _submission(request, body, config)
    shown = await usecase.run(runtime, lambda ctx: preview(
        ctx, sub, config=config, visible=lambda held: visible(request, "read", held, hierarchy=config.hierarchy)))
    audit_cases(request, [c.case_id for c in shown.duplicates])
    return shown.as_json(config)


def _submission(request: Request, body: CaseIn, config: IntakeConfig) -> Submission:
    """A clerk's submission, once the clerk may register for the unit that will serve it."""
    caller = principal(request)
    unit = config.serving(body.region_code, body.workers[0].id_number) or caller.org_unit
    authorize(request, "write", roles=("clerk",), unit=unit, hierarchy=config.hierarchy)
    choice = body.duplicate
    return Submission(channel=body.channel, received_at=body.received_at, region_code=body.region_code,  # type: ignore[arg-type]
                      workers=body.workers, employer=body.employer, claims=body.claims, summary=body.summary,
                      tier=body.tier, tier_reason=body.tier_reason, route=body.route, answer=body.answer,
                      overrides={o.field: o.reason for o in body.overrides}, actor=acting(request, body.actor),
                      duplicate=DuplicateChoice(choice.action, choice.case_id, choice.reason) if choice else None,
                      registered_by=None if is_system(caller) else caller.subject)


@router.post("/api/v1/cases/{case_id}/tier", response_model=CaseAccepted)
async def change_tier(request: Request, case_id: WritableCase, body: TierChange, runtime: RuntimeDep,
                      config: ConfigDep) -> dict[str, Any]:
    outcome = await usecase.run(runtime, lambda ctx: tiering.reclassify(
        ctx, case_id, tier=body.tier, reason=body.reason, actor=acting(request, body.actor), config=config))
    return outcome.as_json(config.hierarchy)


class QueryCodeOut(BaseModel):
    case_id: str
    query_code: str = Field(description="the new code, shown once; the earlier ones no longer work")
    issued_at: datetime


@router.post("/api/v1/intake/cases/{case_id}/query-code", status_code=201, response_model=QueryCodeOut)
async def rotate_query_code(request: Request, case_id: WritableCase, runtime: RuntimeDep) -> dict[str, Any]:
    """重新生成查询码: the worker lost their code; a clerk or supervisor in scope issues a new one (shown once, sent
    by SMS); every earlier code stops working."""
    actor = acting(request)
    code = await usecase.run(runtime, lambda ctx: query_codes.rotate(ctx, case_id, actor=actor))
    return {"case_id": case_id, "query_code": shown(code), "issued_at": shanghai_iso(runtime.clock.now())}


@router.post("/api/v1/cases/{case_id}/decline", response_model=CaseAccepted)
async def decline_case(request: Request, case_id: str, body: Decline, runtime: RuntimeDep,
                       config: ConfigDep) -> dict[str, Any]:
    authorize(request, "write", roles=("mediator", "legal_aid_officer", "supervisor"), unit=body.org_unit,
              case_id=case_id, hierarchy=config.hierarchy)
    outcome = await usecase.run(runtime, lambda ctx: decline(
        ctx, case_id, org_unit=body.org_unit, reason=body.reason, actor=acting(request, body.actor), config=config))
    return outcome.as_json(config.hierarchy)


@router.post("/api/v1/events", status_code=202)
async def partner_event(request: Request, runtime: RuntimeDep) -> JSONResponse:
    """Partner ingress: the same CloudEvents courts and bureaus may publish to Kafka (structured JSON)."""
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith(("application/cloudevents+json", "application/json")):
        raise Problem(415, "请以 application/cloudevents+json 提交 CloudEvent")
    body_bytes = await request.body()
    if len(body_bytes) > INGRESS_MAX_BYTES:
        raise Problem(413, f"事件大小超过 {INGRESS_MAX_BYTES // 1024} KiB 上限")
    # Partners prove themselves whatever the people's login settings: this signature travels on with the event
    partner = partners.verify(request.headers, body_bytes, accounts())
    if not limiter.allow(partner.key_id):
        raise Problem(429, "请求过于频繁，请稍后重试", retry_after=1)
    try:
        raw = json.loads(body_bytes)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise Problem(400, f"请求体不是有效的 JSON：{exc}") from exc
    if not isinstance(raw, dict):
        raise Problem(400, "CloudEvent 必须是 JSON 对象")
    try:
        event = parse_envelope(raw)
    except EventRejected as exc:
        raise Problem(422, exc.detail, type_=f"urn:laborcase:problem:{exc.code.replace('_', '-')}") from exc
    if event.type not in PARTNER_TYPES:
        raise Problem(422, f"不支持的事件类型：{event.type}", type_="urn:laborcase:problem:unknown-type")
    spec = spec_for(event.type)
    assert spec is not None and event.data is not None
    data = event.data
    key = data.get("court_case_no") or data.get("arbitration_case_no")
    try:
        partners.check_scope(partner, event.type, data,
                             case_partner=await ingress.case_partner(runtime.pool, partner, data))
    except partners.PartnerRefused as exc:
        raise exc.problem() from exc
    # the partner's own bytes and signature: every consumer verifies the sender, as on Kafka
    signature = [(k, request.headers[k].encode()) for k in (partners.KEY_ID, partners.TIMESTAMP, partners.SIGNATURE)]
    fresh = await usecase.run(runtime, lambda ctx: ingress.forward(
        ctx, event, partner=partner, topic=spec.topics[0], key=key, value=body_bytes, signature=signature))
    if not fresh:
        raise Problem(409, f"事件 {event.id} 已经收到过（重放）", type_="urn:laborcase:problem:replayed")
    body = {"id": str(event.id), "type": event.type, "topic": spec.topics[0], "lookup": f"/api/v1/cases?ref={key}"}
    return JSONResponse(body, status_code=202)


@router.get("/api/v1/intake/cases")
async def list_cases(request: Request, runtime: RuntimeDep, config: ConfigDep, ref: str | None = None,
                     status: str | None = None, limit: int = 50) -> dict[str, Any]:
    authorize(request, "read", roles=("clerk", "supervisor"), unit=principal(request).org_unit,
              hierarchy=config.hierarchy)
    cases = await repo.find(runtime.pool, ref=ref, status=status, limit=max(1, min(limit, 500)))
    shown = [_case_json(c, config) for c in cases
             if visible(request, "read", c.org_unit or config.serving(c.region_code))]
    audit_cases(request, [c["case_id"] for c in shown])
    return {"cases": shown}


@router.get("/api/v1/intake/cases/{case_id}")
async def get_case(case_id: ReadableCase, runtime: RuntimeDep, config: ConfigDep) -> dict[str, Any]:
    async with snapshot(runtime.pool) as db:  # the case, its numbers and its log as of one commit
        case = found(await repo.get(db, case_id), f"案件 {case_id} 不存在")
        refs = await repo.refs_of(db, case_id)
        audit = await caselog.entries(db, case_id)
    return _case_json(case, config) | {"refs": refs, "audit": audit}


@router.get("/api/v1/intake/org-units")
async def org_units(request: Request, config: ConfigDep) -> dict[str, Any]:
    principal(request)
    return {"units": [{"code": u.code, "name": u.name, "level": u.level, "parent": u.parent,
                       "regions": list(u.regions), "serves_home_province": u.serves_home_province}
                      for u in config.hierarchy.units.values()]}


@router.get("/api/v1/intake/calendar/{year}")
async def calendar_year(runtime: RuntimeDep, year: int = FastPath(ge=1900, le=2200)) -> dict[str, Any]:
    data = runtime.calendar.years.get(year)
    if data is None:
        return {"year": year, "loaded": False, "fallback": "Monday–Friday, deadlines provisional"}
    return {"loaded": True, **year_to_json(data)}


@router.put("/api/v1/intake/calendar/{year}")
async def load_calendar_year(request: Request, runtime: RuntimeDep,
                             year: int = FastPath(ge=1900, le=2200)) -> dict[str, Any]:
    """Operator: load a year of the State Council's notice (``laborcase calendar load FILE``)."""
    authorize(request, "operate", roles=("operator",))
    try:
        raw = json.loads(await request.body())
        data = parse_year_file(raw)
    except (json.JSONDecodeError, ValueError, ValidationError) as exc:
        raise Problem(422, f"工作日历文件不合法：{exc}") from exc
    if data.year != year:
        raise Problem(422, f"文件中的年份 {data.year} 与地址中的 {year} 不一致")
    saved = await usecase.run(runtime, lambda ctx: tiering.load_calendar_year(ctx, runtime, data))
    return {"year": saved.year, "version": saved.version, "source": saved.source}


# --- the clerk's desk (受理登记台): console pages -------------------------------------------------------------

pages = Pages(Path(__file__).parent / "templates")
DESK_STATUSES = ("dispatched", "answered", "referred_elsewhere", "closed")


@router.get("/intake", response_class=HTMLResponse, include_in_schema=False)
async def desk(request: Request, runtime: RuntimeDep, config: ConfigDep) -> Response:
    """The registration page, with the clerk's latest registrations."""
    me = authorize(request, "write", roles=("clerk",), unit=principal(request).org_unit, hierarchy=config.hierarchy)
    latest, total = await repo.desk_cases(runtime.pool, registered_by=me.subject, units=[], me=me.subject,
                                          status=None, q=None, order="received_at DESC", limit=5, offset=0)
    audit_cases(request, [c.case_id for c in latest])
    return pages.render(request, "intake_desk.html", {
        "hierarchy": config.hierarchy, "groups": desk_views.region_groups(config, me.org_unit),
        "claims": glossary.CLAIM, "channels": {k: glossary.CHANNEL[k] for k in ("hotline", "window")},
        "tiers": glossary.TIER, "now": desk_views.now_local(runtime.clock.now()), "words": desk_views.words(config),
        "latest": latest, "total": total})


@router.get("/intake/cases", response_class=HTMLResponse, include_in_schema=False)
async def desk_cases(request: Request, runtime: RuntimeDep, config: ConfigDep, whose: str = "mine",
                     status: str | None = None, q: str | None = None, sort: str | None = None,
                     page: str | None = None) -> Response:
    """登记记录: the clerk's own registrations (or every case of their units), newest first, paginated."""
    me = authorize(request, "read", roles=("clerk",), unit=principal(request).org_unit, hierarchy=config.hierarchy)
    number, limit, offset = window(page)
    key, _ = sort_key(sort, repo.DESK_ORDER, "-received_at")
    order = f"{key.lstrip('-')}{' DESC' if key.startswith('-') else ''}"
    units = config.hierarchy.subtree(me.org_unit) if me.org_unit else ()
    status = status if status in DESK_STATUSES else None
    q = (q or "").strip()[:100] or None
    rows, total = await repo.desk_cases(runtime.pool, registered_by=me.subject if whose != "unit" else None,
                                        units=units, me=me.subject, status=status, q=q, order=order, limit=limit,
                                        offset=offset)
    audit_cases(request, [c.case_id for c in rows])
    return pages.render(request, "intake_cases.html", {
        "hierarchy": config.hierarchy, "page": Page(rows, total, number), "sort": key, "whose": whose,
        "status": status or "", "q": q or "", "statuses": {s: glossary.STATUS[s]
                                                            for s in DESK_STATUSES}})


@router.get("/intake/cases/{case_id}", response_class=HTMLResponse, include_in_schema=False)
async def desk_case(request: Request, case_id: ReadableCase, runtime: RuntimeDep, config: ConfigDep,
                    done: str | None = None) -> Response:
    """登记结果: the case number, tier, due time and unit — where the printable receipt will be."""
    async with snapshot(runtime.pool) as db:  # the case, its workers and its documents as of one commit
        case = found(await repo.get(db, case_id), f"案件 {case_id} 不存在")
        workers = await repo.workers_of_case(db, case_id)
        documents = await intake_documents.available(db, case_id)
    if not principal(request).sees_pii:
        workers = mask_workers(workers)
    me = principal(request)
    return pages.render(request, "intake_case.html", {
        "documents": documents_for(case_id, documents),
        "can_upload": me.role in UPLOADERS, "can_rotate": me.role in ("clerk", "supervisor"),
        "hierarchy": config.hierarchy, "case": case, "workers": workers, "done": done,
        "region": config.regions.name(case.region_code), "claims": case.facts.get("claims", []),
        "employer": case.facts.get("employer", {}), "overrides": desk_views.overrides(case)})


def _case_json(case: IntakeCase, config: IntakeConfig) -> dict[str, Any]:
    unit = config.hierarchy.get(case.org_unit) if case.org_unit else None
    return {
        "case_id": case.case_id, "status": case.status, "channel": case.channel,
        "received_at": shanghai_iso(case.received_at), "region_code": case.region_code,
        "region_name": config.regions.name(case.region_code), "employer_name": case.employer_name,
        "claim_types": case.claim_types, "worker_count": case.worker_count, "group_dispute": case.group_dispute,
        "tier": case.tier, "tier_rule": case.tier_rule, "tier_reason": case.tier_reason,
        "due_at": shanghai_iso(case.due_at), "provisional": case.provisional, "org_unit": case.org_unit,
        "org_unit_name": unit.name if unit else None, "route": case.route,
        "dispatch_attempt": case.dispatch_attempt, "court_case_no": case.court_case_no,
        "arbitration_case_no": case.arbitration_case_no, "warnings": case.warnings, "answer": case.answer,
    }
