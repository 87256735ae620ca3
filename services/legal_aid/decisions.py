"""The decision on an application (援助决定) and the applicant's objection to a denial (异议审查)."""

from __future__ import annotations

from dataclasses import replace

from events.legalaid import EligibilityDecided, ObjectionFiled, ObjectionReviewed
from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.backbone.errors import Invalid
from services.backbone.usecase import found, quietly, step
from services.calendar.model import local_date
from services.legal_aid import repository
from services.legal_aid.applications import assess
from services.legal_aid.config import ASSIGNMENT, DECISION, TIER, LegalAidConfig, missing
from services.legal_aid.domain.case import LegalAidError


async def decide(ctx: HandlerContext, case_id: str, *, decision: str, reasons: list[str], actor: str,
                 config: LegalAidConfig) -> None:
    """Approve or deny, with reasons; approval starts the 3-day clock for assigning a lawyer, a denial meets the
    case's tier clock (an objection overturned later goes on under the assignment clock)."""
    row = found(await repository.lock(ctx.conn, case_id), missing(case_id))
    case = repository.state_of(row)
    reasons = [r.strip() for r in reasons if r.strip()]
    assessment = assess(row, config, today=local_date(ctx.now))
    if not reasons:
        raise Invalid("援助决定须写明理由", errors=[("reasons", "至少填写一项理由")])
    if decision == "denied" and assessment["means_test_skipped"]:
        raise Invalid("本案免予核查经济困难状况，不能以经济状况为由不予援助；如有其他理由请写明并联系上级",
                      errors=[("decision", "免予经济困难审查的案件（法律援助法第四十二条）")])
    after = step(case.decide, decision, refusal=LegalAidError)
    await repository.save(ctx.conn, after, decision_reasons=reasons)
    await ctx.deadlines.meet(case_id=case_id, kind=DECISION, at=ctx.now, actor=actor, reason=decision)
    ctx.publish("legalaid.eligibility_decided", EligibilityDecided(
        case_id=case_id, decision=decision, reasons=reasons,  # type: ignore[arg-type]
        means_test_skipped=assessment["means_test_skipped"], decided_at=ctx.now, actor=actor), subject=case_id)
    caselog.log(ctx, case_id, actor=actor, action=f"eligibility_{decision}", reasons=reasons)
    if after.state == "approved" and after.lawyer_id is None:
        await _start_assignment_clock(ctx, case_id, row.org_unit, config)
    elif after.state == "denied":  # a reasoned answer is the union's: the case is no longer overdue for want of one
        await quietly(ctx.deadlines.meet(case_id=case_id, kind=TIER, at=ctx.now, actor=actor, reason="denied"))


async def object_to_denial(ctx: HandlerContext, case_id: str, *, reason: str) -> None:
    case = repository.state_of(found(await repository.lock(ctx.conn, case_id), missing(case_id)))
    await repository.save(ctx.conn, step(case.object, refusal=LegalAidError))
    ctx.publish("legalaid.objection_filed", ObjectionFiled(case_id=case_id, reason=reason, filed_at=ctx.now),
                subject=case_id)
    caselog.log(ctx, case_id, actor="applicant", action="objection_filed", reason=reason)


async def review_objection(ctx: HandlerContext, case_id: str, *, upheld: bool, reason: str, actor: str,
                           config: LegalAidConfig) -> None:
    """Overturned: approved after all (the assignment clock starts); upheld: the case is closed."""
    row = found(await repository.lock(ctx.conn, case_id), missing(case_id))
    after = step(repository.state_of(row).review, upheld=upheld, refusal=LegalAidError)
    # overturned: the decision now in force is the review's, with its reason (the denial's reasons no longer hold)
    await repository.save(ctx.conn, after, **({} if upheld else {"decision_reasons": [f"异议审查：{reason}"]}))
    ctx.publish("legalaid.objection_reviewed", ObjectionReviewed(case_id=case_id, upheld=upheld, reason=reason,
                                                                 reviewed_at=ctx.now, actor=actor), subject=case_id)
    caselog.log(ctx, case_id, actor=actor, action="objection_reviewed", upheld=upheld, reason=reason)
    if after.state == "approved":
        await _start_assignment_clock(ctx, case_id, row.org_unit, config)
    elif after.state == "closed":
        await quietly(ctx.deadlines.meet(case_id=case_id, kind=TIER, at=ctx.now, actor=actor, reason="denied"))


async def _start_assignment_clock(ctx: HandlerContext, case_id: str, org_unit: str, config: LegalAidConfig) -> None:
    rule = replace(config.policy.assignment, start=ctx.now)
    due_at, provisional = await ctx.due(rule, case_id=case_id)
    await ctx.deadlines.start(case_id=case_id, kind=ASSIGNMENT, started_at=ctx.now, due_at=due_at,
                              provisional=provisional, org_unit=org_unit, rule=rule, reason="批准后3日内指派律师")
