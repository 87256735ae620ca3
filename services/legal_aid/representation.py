"""Representation (代理): a lawyer is assigned, progress is recorded (by the officer, the lawyer or the bureau),
the case is concluded with the money recovered, and reopened when an award is not honoured."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from events.legalaid import CaseConcluded, LawyerAssigned, ProgressRecorded
from services.backbone import caselog
from services.backbone.consumer import HandlerContext, Reject
from services.backbone.errors import Conflict, Invalid
from services.backbone.usecase import found, quietly, step
from services.calendar.model import local_date
from services.legal_aid import repository
from services.legal_aid.applications import assess
from services.legal_aid.config import ASSIGNMENT, TIER, LegalAidConfig, missing
from services.legal_aid.domain.case import LegalAidError
from services.legal_aid.domain.eligibility import lawyer_fits
from services.staffing import assignment
from services.staffing.assignment import Load


def _units_for(config: LegalAidConfig, org_unit: str) -> list[str]:
    """Lawyers of the unit, its stations and every unit above it (legal-aid centres sit at county level up)."""
    below = [u.code for u in config.hierarchy.units.values() if u.parent == org_unit]
    return [*(u.code for u in config.hierarchy.ancestors(org_unit)), *below]


async def assign_lawyer(ctx: HandlerContext, case_id: str, *, actor: str, config: LegalAidConfig,
                        lawyer_id: str | None = None) -> str:
    """The named lawyer, or the least loaded fitting one without a conflict of interest; returns who.

    Before a decision only when urgent (法律援助法第四十四条). Legal aid in place meets the case's tier clock."""
    row = found(await repository.lock(ctx.conn, case_id), missing(case_id))
    case = repository.state_of(row)
    urgent = case.state == "under_review" and assess(row, config, today=local_date(ctx.now))["urgent"]
    if case.state == "under_review" and not urgent:
        raise Conflict("尚未作出援助决定；仅距时效或起诉期限不足7日的案件可先行指派律师")
    lawyers = await repository.candidates(ctx.conn, _units_for(config, row.org_unit), employer_uscc=row.employer_uscc)
    if lawyer_id is not None:
        picked = next((c for c in lawyers if c.lawyer.lawyer_id == lawyer_id), None)
        if picked is None:
            raise Invalid("该律师不在本单位或上级单位名册中", errors=[("lawyer_id", "不在名册中或已停用")])
        if picked.conflicted:
            raise Conflict("该律师与用人单位存在利益冲突，不能指派", errors=[("lawyer_id", "利益冲突")])
    else:
        free = [c for c in lawyers if not c.conflicted]
        fitting = [c for c in free if lawyer_fits(c.lawyer.specialties, row.claim_types)] or free
        chosen = assignment.choose([Load(c.lawyer.lawyer_id, c.lawyer.name, c.lawyer.org_unit, c.lawyer.capacity,
                                         c.open_cases, 0) for c in fitting], unit=row.org_unit)
        if chosen is None:
            raise Conflict("暂无可指派的律师（名册已满、存在利益冲突或专长不符），请联系上级法律援助中心")
        picked = next(c for c in lawyers if c.lawyer.lawyer_id == chosen.person_id)
    lawyer = picked.lawyer
    after = step(case.assign, lawyer.lawyer_id, urgent=urgent, refusal=LegalAidError)
    await repository.save(ctx.conn, after, stage="consultation")
    await quietly(ctx.deadlines.meet(case_id=case_id, kind=ASSIGNMENT, at=ctx.now, actor=actor, reason="assigned"))
    # legal aid in place: the case's resolution deadline is met (docs/domain/tiers-and-calendar.md)
    await quietly(ctx.deadlines.meet(case_id=case_id, kind=TIER, at=ctx.now, actor=actor, reason="legal aid in place"))
    ctx.publish("legalaid.lawyer_assigned", LawyerAssigned(
        case_id=case_id, lawyer_id=lawyer.lawyer_id, lawyer_name=lawyer.name, firm=lawyer.firm, urgent=urgent,
        actor=actor), subject=case_id)
    caselog.log(ctx, case_id, actor=actor, action="lawyer_assigned", lawyer_id=lawyer.lawyer_id,
                lawyer=lawyer.name, urgent=urgent)
    return lawyer.lawyer_id


async def record_progress(ctx: HandlerContext, case_id: str, *, stage: str, note: str, actor: str,
                          arbitration_case_no: str | None = None, amount_awarded: Decimal | None = None) -> None:
    case = repository.state_of(found(await repository.lock(ctx.conn, case_id), missing(case_id)))
    step(case.progress, refusal=LegalAidError)
    columns: dict[str, Any] = {"stage": stage}
    if arbitration_case_no:
        columns["arbitration_case_no"] = arbitration_case_no
    if amount_awarded is not None:
        columns["amount_awarded"] = amount_awarded
    await repository.save(ctx.conn, case, **columns)
    ctx.publish("legalaid.progress_recorded", ProgressRecorded(
        case_id=case_id, stage=stage, note=note, at=ctx.now, arbitration_case_no=arbitration_case_no,  # type: ignore[arg-type]
        amount_awarded_cny=amount_awarded, actor=actor), subject=case_id)
    caselog.log(ctx, case_id, actor=actor, action=f"progress_{stage}", note=note,
                arbitration_case_no=arbitration_case_no, amount_awarded=amount_awarded)


async def bureau_update(ctx: HandlerContext, *, arbitration_case_no: str, stage: str, at: datetime,
                        amount: Decimal | None = None) -> bool:
    """The arbitration bureau's word on a case a lawyer filed (accepted, award issued). False: not ours to record."""
    row = await repository.lock_by_arbitration_no(ctx.conn, arbitration_case_no)
    if row is None or row.state != "represented":
        return False
    referred_by = ((row.facts or {}).get("refs") or {}).get("bureau_code")
    sender = getattr(ctx.partner, "code", None)
    if ctx.partner is not None and referred_by and referred_by != sender:
        # bound to the signer where the case says which bureau it is (a referral); a number a lawyer filed
        # elsewhere carries no bureau code to check against
        raise Reject(f"out_of_scope: the case was not referred by bureau {sender}")
    await record_progress(ctx, row.case_id, stage=stage, note="仲裁委通报", actor=f"bureau:{sender or ''}",
                          arbitration_case_no=arbitration_case_no, amount_awarded=amount)
    return True


async def conclude(ctx: HandlerContext, case_id: str, *, outcome: str, method: str, amount_recovered: Decimal,
                   actor: str) -> None:
    """Representation ends: the outcome, how it was reached and the money recovered (追回金额)."""
    row = found(await repository.lock(ctx.conn, case_id), missing(case_id))
    case = repository.state_of(row)
    after = step(case.conclude, refusal=LegalAidError)
    await repository.save(ctx.conn, after, outcome=outcome, method=method, amount_recovered=amount_recovered,
                          concluded_at=ctx.now)
    ctx.publish("legalaid.case_concluded", CaseConcluded(
        case_id=case_id, org_unit=row.org_unit, outcome=outcome, method=method,  # type: ignore[arg-type]
        amount_recovered_cny=amount_recovered, concluded_at=ctx.now, lawyer_id=case.lawyer_id, actor=actor),
        subject=case_id)
    caselog.log(ctx, case_id, actor=actor, action="concluded", outcome=outcome, method=method,
                amount_recovered=amount_recovered)


async def reopen(ctx: HandlerContext, *, case_id: str, reason: str) -> bool:
    """Follow-up found the award or agreement not honoured: representation resumes (enforcement)."""
    row = await repository.lock(ctx.conn, case_id)
    if row is None or row.state != "concluded":
        return False
    await repository.save(ctx.conn, step(repository.state_of(row).reopen, refusal=LegalAidError), stage="enforcement",
                          concluded_at=None)
    ctx.publish("legalaid.progress_recorded", ProgressRecorded(
        case_id=case_id, stage="enforcement", note=f"回访发现未履行：{reason}", at=ctx.now, actor="followup"),
        subject=case_id)
    caselog.log(ctx, case_id, actor="followup", action="reopened_for_enforcement", reason=reason)
    return True


async def choices(pool: Any, case_id: str, config: LegalAidConfig) -> list[dict[str, Any]]:
    """The lawyers an officer may choose for the case, fitting ones first: name, firm, unit, load, and whether a
    conflict of interest with the employer rules one out (利益冲突)."""
    row = found(await repository.get(pool, case_id), missing(case_id))
    lawyers = await repository.candidates(pool, _units_for(config, row.org_unit), employer_uscc=row.employer_uscc)
    out = [{"lawyer_id": c.lawyer.lawyer_id, "name": c.lawyer.name, "firm": c.lawyer.firm,
            "org_unit": c.lawyer.org_unit, "open_cases": c.open_cases, "capacity": c.lawyer.capacity,
            "full": c.open_cases >= c.lawyer.capacity, "conflicted": c.conflicted,
            "fits": lawyer_fits(c.lawyer.specialties, row.claim_types)} for c in lawyers]
    return sorted(out, key=lambda x: (x["conflicted"], x["full"], not x["fits"], x["open_cases"], x["name"]))
