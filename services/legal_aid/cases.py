"""Legal aid's use cases, each inside the caller's unit of work."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import asyncpg

from events.deadlines import DeadlineHandover
from events.intake import CaseFacts
from events.legalaid import (
    ApplicationReceived,
    CaseConcluded,
    EligibilityDecided,
    LawyerAssigned,
    ObjectionFiled,
    ObjectionReviewed,
    ProgressRecorded,
)
from services.backbone import caselog
from services.backbone.consumer import HandlerContext, Reject
from services.backbone.deadline import DeadlineError
from services.backbone.usecase import Refused
from services.calendar.model import local_date
from services.hierarchy.orgunits import Hierarchy, default_hierarchy
from services.legal_aid.domain.case import LegalAidCase, LegalAidError
from services.legal_aid.domain.eligibility import Applicant, Policy, default_policy, lawyer_fits
from services.staffing import assignment
from services.staffing.assignment import Load

TIER, DECISION, ASSIGNMENT = "tier", "legal_aid_decision", "lawyer_assignment"


@dataclass(frozen=True)
class LegalAidConfig:
    hierarchy: Hierarchy
    policy: Policy

    @classmethod
    def default(cls) -> LegalAidConfig:
        return cls(default_hierarchy(), default_policy())


def _domain(row: asyncpg.Record) -> LegalAidCase:
    return LegalAidCase(row["case_id"], row["state"], row["decision"], row["urgent"], row["lawyer_id"])


async def _require(ctx: HandlerContext, case_id: str) -> tuple[asyncpg.Record, LegalAidCase]:
    row = await ctx.conn.fetchrow("SELECT * FROM aid_cases WHERE case_id = $1 FOR UPDATE", case_id)
    if row is None:
        raise Refused(404, f"法律援助案件 {case_id} 不存在")
    return row, _domain(row)


def _step(fn: Any, *args: Any, **kw: Any) -> LegalAidCase:
    try:
        return fn(*args, **kw)
    except LegalAidError as exc:
        raise Refused(409, str(exc)) from exc


async def _save(ctx: HandlerContext, case: LegalAidCase, **extra: Any) -> None:
    values = {"state": case.state, "decision": case.decision, "urgent": case.urgent, "lawyer_id": case.lawyer_id,
              **extra}
    assignments = ", ".join(f"{c} = ${i + 2}" for i, c in enumerate(values))
    await ctx.conn.execute(f"UPDATE aid_cases SET {assignments}, updated_at = now() WHERE case_id = $1",
                           case.case_id, *values.values())


async def _quietly(step: Any) -> Any:
    try:
        return await step
    except DeadlineError:
        return None


async def apply(ctx: HandlerContext, *, case_id: str, org_unit: str, facts: CaseFacts, source: str,
                deadline: DeadlineHandover | None, config: LegalAidConfig, disputed_points: list[str] | None = None) -> None:
    """An application arrives: the 7-day decision clock starts, the tier clock is adopted."""
    if await ctx.conn.fetchval("SELECT 1 FROM aid_cases WHERE case_id = $1", case_id):
        return
    claim_types = sorted({str(c.type) for c in facts.claims})
    await ctx.conn.execute(
        "INSERT INTO aid_cases (case_id, org_unit, source, state, applied_at, facts, employer_uscc, claim_types, "
        "disputed_points) VALUES ($1, $2, $3, 'under_review', $4, $5, $6, $7, $8)",
        case_id, org_unit, source, ctx.now, facts.model_dump(mode="json"), facts.employer.uscc, claim_types,
        disputed_points or [])
    if deadline is not None:
        await ctx.deadlines.adopt(deadline, case_id=case_id, org_unit=org_unit, at=ctx.now, reason="转法律援助")
    rule = replace(config.policy.decision, start=ctx.now)
    due_at, provisional = await ctx.due(rule, case_id=case_id)
    await ctx.deadlines.start(case_id=case_id, kind=DECISION, started_at=ctx.now, due_at=due_at,
                              provisional=provisional, org_unit=org_unit, rule=rule, reason="法律援助法第四十三条")
    ctx.publish("legalaid.application_received", ApplicationReceived(
        case_id=case_id, org_unit=org_unit, source=source,  # type: ignore[arg-type]
        applicants=[w.name for w in facts.workers], claim_types=claim_types), subject=case_id)
    await caselog.log(ctx, case_id, actor=None, action="application_received", source=source, org_unit=org_unit)


async def record_applicant(ctx: HandlerContext, case_id: str, *, migrant_worker: bool,
                           monthly_income: Decimal | None, limitation_date: date | None, actor: str,
                           config: LegalAidConfig) -> dict[str, Any]:
    """The officer records what eligibility turns on; returns the assessment (recommendation and reasons)."""
    row, _ = await _require(ctx, case_id)
    await ctx.conn.execute(
        "UPDATE aid_cases SET migrant_worker = $2, monthly_income = $3, limitation_date = $4 WHERE case_id = $1",
        case_id, migrant_worker, monthly_income, limitation_date)
    await caselog.log(ctx, case_id, actor=actor, action="applicant_recorded", migrant_worker=migrant_worker)
    return assess(dict(row) | {"migrant_worker": migrant_worker, "monthly_income": monthly_income,
                               "limitation_date": limitation_date}, config, today=local_date(ctx.now))


def assess(row: Any, config: LegalAidConfig, *, today: date) -> dict[str, Any]:
    facts = row["facts"]
    a = config.policy.assess(Applicant(
        migrant_worker=row["migrant_worker"], claim_types=frozenset(row["claim_types"]),
        region_code=facts["region_code"], monthly_income_per_capita=row["monthly_income"],
        limitation_date=row["limitation_date"]), today=today)
    return {"means_test_skipped": a.means_test_skipped, "within_income_threshold": a.within_income_threshold,
            "urgent": a.urgent, "recommendation": a.recommendation, "reasons": list(a.reasons)}


async def request_materials(ctx: HandlerContext, case_id: str, *, what: str, actor: str) -> None:
    """Waiting for the applicant's materials does not count against the 7 days."""
    _, case = await _require(ctx, case_id)
    if case.state != "under_review":
        raise Refused(409, "只有审查中的申请可以要求补充材料")
    try:
        await ctx.deadlines.pause(case_id=case_id, kind=DECISION, at=ctx.now, reason="awaiting_materials", actor=actor)
    except DeadlineError as exc:
        raise Refused(409, f"不能暂停审查期限：{exc}") from exc
    await caselog.log(ctx, case_id, actor=actor, action="materials_requested", what=what)


async def materials_received(ctx: HandlerContext, case_id: str, *, actor: str) -> None:
    await _require(ctx, case_id)
    try:
        await ctx.deadlines.resume(case_id=case_id, kind=DECISION, at=ctx.now, actor=actor, reason="材料已补齐")
    except DeadlineError as exc:
        raise Refused(409, f"审查期限未暂停：{exc}") from exc
    await caselog.log(ctx, case_id, actor=actor, action="materials_received")


async def decide(ctx: HandlerContext, case_id: str, *, decision: str, reasons: list[str], actor: str,
                 config: LegalAidConfig) -> None:
    row, case = await _require(ctx, case_id)
    reasons = [r.strip() for r in reasons if r.strip()]
    assessment = assess(row, config, today=local_date(ctx.now))
    if not reasons:
        raise Refused(422, "援助决定须写明理由", [("reasons", "至少填写一项理由")])
    if decision == "denied" and assessment["means_test_skipped"]:
        raise Refused(422, "本案免予核查经济困难状况，不能以经济状况为由不予援助；如有其他理由请写明并联系上级",
                      [("decision", "免予经济困难审查的案件（法律援助法第四十二条）")])
    after = _step(case.decide, decision)
    await _save(ctx, after, decision_reasons=reasons)
    await ctx.deadlines.meet(case_id=case_id, kind=DECISION, at=ctx.now, actor=actor, reason=decision)
    ctx.publish("legalaid.eligibility_decided", EligibilityDecided(
        case_id=case_id, decision=decision, reasons=reasons,  # type: ignore[arg-type]
        means_test_skipped=assessment["means_test_skipped"], decided_at=ctx.now, actor=actor), subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action=f"eligibility_{decision}", reasons=reasons)
    if after.state == "approved" and after.lawyer_id is None:
        await _start_assignment_clock(ctx, case_id, row["org_unit"], config)


async def _start_assignment_clock(ctx: HandlerContext, case_id: str, org_unit: str, config: LegalAidConfig) -> None:
    rule = replace(config.policy.assignment, start=ctx.now)
    due_at, provisional = await ctx.due(rule, case_id=case_id)
    await ctx.deadlines.start(case_id=case_id, kind=ASSIGNMENT, started_at=ctx.now, due_at=due_at,
                              provisional=provisional, org_unit=org_unit, rule=rule, reason="批准后3日内指派律师")


async def object_to_denial(ctx: HandlerContext, case_id: str, *, reason: str) -> None:
    _, case = await _require(ctx, case_id)
    await _save(ctx, _step(case.object))
    ctx.publish("legalaid.objection_filed", ObjectionFiled(case_id=case_id, reason=reason, filed_at=ctx.now),
                subject=case_id)
    await caselog.log(ctx, case_id, actor="applicant", action="objection_filed", reason=reason)


async def review_objection(ctx: HandlerContext, case_id: str, *, upheld: bool, reason: str, actor: str,
                           config: LegalAidConfig) -> None:
    row, case = await _require(ctx, case_id)
    after = _step(case.review, upheld=upheld)
    await _save(ctx, after)
    ctx.publish("legalaid.objection_reviewed", ObjectionReviewed(case_id=case_id, upheld=upheld, reason=reason,
                                                                 reviewed_at=ctx.now, actor=actor), subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action="objection_reviewed", upheld=upheld, reason=reason)
    if after.state == "approved":
        await _start_assignment_clock(ctx, case_id, row["org_unit"], config)
    elif after.state == "closed":
        await _quietly(ctx.deadlines.meet(case_id=case_id, kind=TIER, at=ctx.now, actor=actor, reason="denied"))


def _units_for(config: LegalAidConfig, org_unit: str) -> list[str]:
    """Lawyers of the unit, its stations and every unit above it (legal-aid centres sit at county level up)."""
    below = [u.code for u in config.hierarchy.units.values() if u.parent == org_unit]
    return [*(u.code for u in config.hierarchy.ancestors(org_unit)), *below]


async def assign_lawyer(ctx: HandlerContext, case_id: str, *, actor: str, config: LegalAidConfig,
                        lawyer_id: str | None = None) -> str:
    row, case = await _require(ctx, case_id)
    assessment = assess(row, config, today=local_date(ctx.now))
    urgent = case.state == "under_review" and assessment["urgent"]
    if case.state == "under_review" and not urgent:
        raise Refused(409, "尚未作出援助决定；仅距时效或起诉期限不足7日的案件可先行指派律师")
    rows = await ctx.conn.fetch(
        "SELECT l.lawyer_id, l.name, l.firm, l.org_unit, l.capacity, l.specialties, "
        "(SELECT count(*) FROM aid_cases c WHERE c.lawyer_id = l.lawyer_id AND c.state = 'represented') AS open_cases, "
        "EXISTS (SELECT 1 FROM lawyer_conflicts x WHERE x.lawyer_id = l.lawyer_id AND x.uscc = $2) AS conflicted "
        "FROM lawyers l WHERE l.active AND l.org_unit = ANY($1::text[])",
        _units_for(config, row["org_unit"]), row["employer_uscc"])
    free = [r for r in rows if not r["conflicted"]]
    if lawyer_id is not None:
        picked = next((r for r in rows if r["lawyer_id"] == lawyer_id), None)
        if picked is None:
            raise Refused(422, "该律师不在本单位或上级单位名册中", [("lawyer_id", "不在名册中或已停用")])
        if picked["conflicted"]:
            raise Refused(409, "该律师与用人单位存在利益冲突，不能指派", [("lawyer_id", "利益冲突")])
        chosen_id = lawyer_id
    else:
        fitting = [r for r in free if lawyer_fits(r["specialties"], row["claim_types"])] or free
        loads = [Load(r["lawyer_id"], r["name"], r["org_unit"], r["capacity"], r["open_cases"], 0) for r in fitting]
        chosen = assignment.choose(loads, unit=row["org_unit"])
        if chosen is None:
            raise Refused(409, "暂无可指派的律师（名册已满、存在利益冲突或专长不符），请联系上级法律援助中心")
        chosen_id = chosen.person_id
    lawyer = next(r for r in rows if r["lawyer_id"] == chosen_id)
    after = _step(case.assign, chosen_id, urgent=urgent)
    await _save(ctx, after, stage="consultation")
    await _quietly(ctx.deadlines.meet(case_id=case_id, kind=ASSIGNMENT, at=ctx.now, actor=actor, reason="assigned"))
    # legal aid in place: the case's resolution deadline is met (DESIGN §3.4)
    await _quietly(ctx.deadlines.meet(case_id=case_id, kind=TIER, at=ctx.now, actor=actor, reason="legal aid in place"))
    ctx.publish("legalaid.lawyer_assigned", LawyerAssigned(
        case_id=case_id, lawyer_id=chosen_id, lawyer_name=lawyer["name"], firm=lawyer["firm"], urgent=urgent,
        actor=actor), subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action="lawyer_assigned", lawyer_id=chosen_id,
                      lawyer=lawyer["name"], urgent=urgent)
    return chosen_id


async def record_progress(ctx: HandlerContext, case_id: str, *, stage: str, note: str, actor: str,
                          arbitration_case_no: str | None = None, amount_awarded: Decimal | None = None) -> None:
    _, case = await _require(ctx, case_id)
    _step(case.progress)
    extra: dict[str, Any] = {"stage": stage}
    if arbitration_case_no:
        extra["arbitration_case_no"] = arbitration_case_no
    if amount_awarded is not None:
        extra["amount_awarded"] = amount_awarded
    await _save(ctx, case, **extra)
    ctx.publish("legalaid.progress_recorded", ProgressRecorded(
        case_id=case_id, stage=stage, note=note, at=ctx.now, arbitration_case_no=arbitration_case_no,  # type: ignore[arg-type]
        amount_awarded_cny=amount_awarded, actor=actor), subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action=f"progress_{stage}", note=note,
                      arbitration_case_no=arbitration_case_no, amount_awarded=amount_awarded)


async def bureau_update(ctx: HandlerContext, *, arbitration_case_no: str, stage: str, at: datetime,
                        amount: Decimal | None = None) -> bool:
    row = await ctx.conn.fetchrow("SELECT * FROM aid_cases WHERE arbitration_case_no = $1 FOR UPDATE",
                                  arbitration_case_no)
    if row is None or row["state"] != "represented":
        return False
    referred_by = ((row["facts"] or {}).get("refs") or {}).get("bureau_code")
    sender = getattr(ctx.partner, "code", None)
    if ctx.partner is not None and referred_by and referred_by != sender:
        # bound to the signer where the case says which bureau it is (a referral); a number a lawyer filed
        # elsewhere carries no bureau code to check against
        raise Reject(f"out_of_scope: the case was not referred by bureau {sender}")
    await record_progress(ctx, row["case_id"], stage=stage, note="仲裁委通报", actor=f"bureau:{sender or ''}",
                          arbitration_case_no=arbitration_case_no, amount_awarded=amount)
    return True


async def conclude(ctx: HandlerContext, case_id: str, *, outcome: str, method: str, amount_recovered: Decimal,
                   actor: str) -> None:
    row, case = await _require(ctx, case_id)
    after = _step(case.conclude)
    await _save(ctx, after, outcome=outcome, method=method, amount_recovered=amount_recovered, concluded_at=ctx.now)
    ctx.publish("legalaid.case_concluded", CaseConcluded(
        case_id=case_id, org_unit=row["org_unit"], outcome=outcome, method=method,  # type: ignore[arg-type]
        amount_recovered_cny=amount_recovered, concluded_at=ctx.now, lawyer_id=case.lawyer_id, actor=actor),
        subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action="concluded", outcome=outcome, method=method,
                      amount_recovered=amount_recovered)


async def reopen(ctx: HandlerContext, *, case_id: str, reason: str) -> bool:
    row = await ctx.conn.fetchrow("SELECT * FROM aid_cases WHERE case_id = $1 FOR UPDATE", case_id)
    if row is None or row["state"] != "concluded":
        return False
    await _save(ctx, _step(_domain(row).reopen), stage="enforcement", concluded_at=None)
    ctx.publish("legalaid.progress_recorded", ProgressRecorded(
        case_id=case_id, stage="enforcement", note=f"回访发现未履行：{reason}", at=ctx.now, actor="followup"),
        subject=case_id)
    await caselog.log(ctx, case_id, actor="followup", action="reopened_for_enforcement", reason=reason)
    return True


async def sync_lawyers(pool: asyncpg.Pool, hierarchy: Hierarchy) -> None:
    units = hierarchy.units.values()
    await pool.executemany(
        "INSERT INTO lawyers (lawyer_id, name, firm, org_unit, capacity, specialties) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (lawyer_id) DO NOTHING",
        [(x["id"], x["name"], x["firm"], u.code, int(x.get("capacity", 6)), list(x.get("specialties", [])))
         for u in units for x in u.attributes.get("lawyers", [])])
    await pool.executemany(
        "INSERT INTO lawyer_conflicts (lawyer_id, uscc) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        [(x["id"], uscc) for u in units for x in u.attributes.get("lawyers", []) for uscc in x.get("conflicts", [])])
