"""Cases arriving from intake (派单至调解): opened here (or moved here after 退单) and reclassified."""

from __future__ import annotations

from events.intake import CaseDispatched, CaseFacts, CaseReclassified
from events.mediation import CaseOpened
from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.backbone.usecase import found
from services.mediation import repository as repo
from services.mediation.assignment import assign
from services.mediation.clocks import TIER
from services.mediation.config import MediationConfig


def kind_of(facts: CaseFacts) -> str:
    """Where the case came from: a court's referral (before or after filing), the bureau's, or the union's own."""
    if facts.refs.court_case_no:
        return "court_post_filing" if facts.refs.referral_kind == "post_filing" else "court_pre_filing"
    if facts.refs.arbitration_case_no:
        return "bureau"
    return "union"


async def open_case(ctx: HandlerContext, data: CaseDispatched, config: MediationConfig) -> None:
    """A case dispatched to mediation (first dispatch, or re-dispatch to another unit after 退单)."""
    facts = data.facts
    kind = kind_of(facts)
    refs = facts.refs
    record = await repo.insert(
        ctx.conn, case_id=data.case_id, org_unit=data.org_unit, kind=kind, state="awaiting_assignment",
        tier=str(data.tier), due_at=data.due_at, received_at=facts.received_at, court_code=refs.court_code,
        court_case_no=refs.court_case_no, referral_kind=refs.referral_kind, procedure=refs.procedure,
        bureau_code=refs.bureau_code, arbitration_case_no=refs.arbitration_case_no,
        facts=facts.model_dump(mode="json"), group_dispute=facts.group_dispute)
    if record is None:  # here already: dispatched again
        await redispatched(ctx, data, config)
        return
    await repo.add_ref(ctx.conn, "court_case_no", refs.court_case_no, data.case_id)
    await repo.add_ref(ctx.conn, "arbitration_case_no", refs.arbitration_case_no, data.case_id)
    if data.deadline is not None:
        await ctx.deadlines.adopt(data.deadline, case_id=data.case_id, org_unit=data.org_unit, at=ctx.now,
                                  reason="派单至调解")
    caselog.log(ctx, data.case_id, actor=None, action="opened", org_unit=data.org_unit, kind=kind)
    ctx.publish("mediation.case_opened", CaseOpened(
        case_id=data.case_id, org_unit=data.org_unit, kind=kind, tier=str(data.tier),  # type: ignore[arg-type]
        due_at=data.due_at, court_case_no=refs.court_case_no,
        arbitration_case_no=refs.arbitration_case_no), subject=data.case_id)
    await assign(ctx, data.case_id, config=config, reason="自动分派：按在办案件量与临近期限", record=record)


async def redispatched(ctx: HandlerContext, data: CaseDispatched, config: MediationConfig) -> None:
    """The case came back to mediation at another unit (退单后重新分派); the same unit, or a resolved case,
    changes nothing (the event again)."""
    existing = found(await repo.get(ctx.conn, data.case_id, lock=True), repo.missing(data.case_id))
    case = repo.domain(existing)
    if case.state == "resolved" or case.org_unit == data.org_unit:
        return
    await repo.save(ctx.conn, case.move_to(data.org_unit))
    caselog.log(ctx, data.case_id, actor=None, action="moved", org_unit=data.org_unit, attempt=data.attempt)
    await ctx.deadlines.move_unit(data.case_id, data.org_unit)
    await assign(ctx, data.case_id, config=config, reason="退单后重新分派")


async def reclassified(ctx: HandlerContext, data: CaseReclassified) -> None:
    """Intake changed the case's tier (调整分级): its due time and tier clock follow."""
    record = await repo.get(ctx.conn, data.case_id, lock=True)
    if record is None or record.state == "resolved":
        return
    await repo.set_tier(ctx.conn, data.case_id, str(data.to_tier), data.due_at)
    await ctx.deadlines.follow_tier(data, kind=TIER, at=ctx.now)
    caselog.log(ctx, data.case_id, actor=data.actor, action="reclassified", tier=str(data.to_tier),
                reason=data.reason)
