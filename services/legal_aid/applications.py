"""Applications for legal aid (法律援助申请): one arrives, the officer records what eligibility turns on, asks for
and receives the applicant's materials. Each use case runs inside the caller's unit of work."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from decimal import Decimal
from typing import Any

from events.deadlines import DeadlineHandover
from events.intake import CaseFacts, CaseReclassified
from events.legalaid import ApplicationReceived
from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.backbone.deadline import DeadlineError
from services.backbone.errors import Conflict
from services.backbone.usecase import found
from services.calendar.model import local_date
from services.legal_aid import repository
from services.legal_aid.config import DECISION, TIER, LegalAidConfig, missing
from services.legal_aid.domain.eligibility import Applicant
from services.legal_aid.models import AidCase


async def apply(ctx: HandlerContext, *, case_id: str, org_unit: str, facts: CaseFacts, source: str,
                deadline: DeadlineHandover | None, config: LegalAidConfig, disputed_points: list[str] | None = None) -> None:
    """An application arrives: the 7-day decision clock starts, the tier clock is adopted."""
    if await repository.exists(ctx.conn, case_id):
        return
    claim_types = sorted({str(c.type) for c in facts.claims})
    await repository.add_application(
        ctx.conn, case_id=case_id, org_unit=org_unit, source=source, applied_at=ctx.now,
        facts=facts.model_dump(mode="json"), employer_uscc=facts.employer.uscc, claim_types=claim_types,
        disputed_points=disputed_points or [])
    if deadline is not None:
        await ctx.deadlines.adopt(deadline, case_id=case_id, org_unit=org_unit, at=ctx.now, reason="转法律援助")
    change = await repository.take_tier_change(ctx.conn, case_id)
    if change is not None:  # intake re-tiered the case while it was on its way here
        await _follow_tier(ctx, change)
    rule = replace(config.policy.decision, start=ctx.now)
    due_at, provisional = await ctx.due(rule, case_id=case_id)
    await ctx.deadlines.start(case_id=case_id, kind=DECISION, started_at=ctx.now, due_at=due_at,
                              provisional=provisional, org_unit=org_unit, rule=rule, reason="法律援助法第四十三条")
    ctx.publish("legalaid.application_received", ApplicationReceived(
        case_id=case_id, org_unit=org_unit, source=source,  # type: ignore[arg-type]
        applicants=[w.name for w in facts.workers], claim_types=claim_types), subject=case_id)
    caselog.log(ctx, case_id, actor=None, action="application_received", source=source, org_unit=org_unit)


def assess(case: AidCase, config: LegalAidConfig, *, today: date) -> dict[str, Any]:
    """The eligibility assessment of what is recorded (recommendation and reasons; 法律援助法第四十一至四十四条)."""
    a = config.policy.assess(Applicant(
        migrant_worker=case.migrant_worker, claim_types=frozenset(case.claim_types),
        region_code=case.facts["region_code"], monthly_income_per_capita=case.monthly_income,
        limitation_date=case.limitation_date), today=today)
    return {"means_test_skipped": a.means_test_skipped, "within_income_threshold": a.within_income_threshold,
            "urgent": a.urgent, "recommendation": a.recommendation, "reasons": list(a.reasons)}


async def record_applicant(ctx: HandlerContext, case_id: str, *, migrant_worker: bool,
                           monthly_income: Decimal | None, limitation_date: date | None, actor: str,
                           config: LegalAidConfig) -> dict[str, Any]:
    """The officer records what eligibility turns on; returns the assessment (recommendation and reasons)."""
    case = found(await repository.record_applicant(ctx.conn, case_id, migrant_worker=migrant_worker,
                                                   monthly_income=monthly_income, limitation_date=limitation_date),
                 missing(case_id))
    caselog.log(ctx, case_id, actor=actor, action="applicant_recorded", migrant_worker=migrant_worker)
    return assess(case, config, today=local_date(ctx.now))


async def request_materials(ctx: HandlerContext, case_id: str, *, what: str, actor: str) -> None:
    """Waiting for the applicant's materials does not count against the 7 days."""
    case = found(await repository.lock(ctx.conn, case_id), missing(case_id))
    if case.state != "under_review":
        raise Conflict("只有审查中的申请可以要求补充材料")
    try:
        await ctx.deadlines.pause(case_id=case_id, kind=DECISION, at=ctx.now, reason="awaiting_materials", actor=actor)
    except DeadlineError as exc:
        raise Conflict(f"不能暂停审查期限：{exc}") from exc
    caselog.log(ctx, case_id, actor=actor, action="materials_requested", what=what)


async def materials_received(ctx: HandlerContext, case_id: str, *, actor: str) -> None:
    found(await repository.lock(ctx.conn, case_id), missing(case_id))
    try:
        await ctx.deadlines.resume(case_id=case_id, kind=DECISION, at=ctx.now, actor=actor, reason="材料已补齐")
    except DeadlineError as exc:
        raise Conflict(f"审查期限未暂停：{exc}") from exc
    caselog.log(ctx, case_id, actor=actor, action="materials_received")


async def reclassified(ctx: HandlerContext, data: CaseReclassified) -> None:
    """Intake changed the tier of a case (调整分级): the tier clock legal aid holds follows, as mediation's does.
    For a case not here yet the change is kept: the hand-over from mediation travels on another topic and can
    arrive after it, carrying the clock as it stood; the kept change moves it then (``apply``)."""
    if await repository.lock(ctx.conn, data.case_id) is None:
        await repository.keep_tier_change(ctx.conn, data, at=ctx.now)
        return
    await _follow_tier(ctx, data)


async def _follow_tier(ctx: HandlerContext, change: CaseReclassified) -> None:
    if await ctx.deadlines.follow_tier(change, kind=TIER, at=ctx.now) is not None:
        caselog.log(ctx, change.case_id, actor=change.actor, action="reclassified", tier=str(change.to_tier),
                    reason=change.reason)
