"""Partner referrals consumed from Kafka (court.events, bureau.events) become cases."""

from __future__ import annotations

from events.common import Channel
from events.envelope import CloudEvent
from events.followup import CaseClosed, CaseReopened
from events.intake import CaseRefs
from events.partner import BureauCaseReferred, CourtCaseReferred
from services.backbone.consumer import HandlerContext, Handlers, Reject
from services.intake import repository as repo
from services.intake.cases import IntakeConfig, IntakeRefused, Submission, register


def referral_handlers(config: IntakeConfig) -> Handlers:
    async def on_court_referral(ctx: HandlerContext, event: CloudEvent, data: CourtCaseReferred) -> None:
        await _register(ctx, Submission(
            channel=Channel.court, received_at=data.referred_at, region_code=data.region_code,
            workers=list(data.workers), employer=data.employer, claims=list(data.claims), summary=data.summary,
            refs=CaseRefs(court_code=data.court_code, court_case_no=data.court_case_no,
                          referral_kind=data.referral_kind, procedure=data.procedure),
            actor=f"court:{data.court_code}", partner=True), config)

    async def on_bureau_referral(ctx: HandlerContext, event: CloudEvent, data: BureauCaseReferred) -> None:
        await _register(ctx, Submission(
            channel=Channel.bureau, received_at=data.referred_at, region_code=data.region_code,
            workers=list(data.workers), employer=data.employer, claims=list(data.claims), summary=data.summary,
            refs=CaseRefs(bureau_code=data.bureau_code, arbitration_case_no=data.arbitration_case_no),
            actor=f"bureau:{data.bureau_code}", partner=True), config)

    async def on_closed(ctx: HandlerContext, event: CloudEvent, data: CaseClosed) -> None:
        await repo.update_case(ctx.conn, data.case_id, status="closed")

    async def on_reopened(ctx: HandlerContext, event: CloudEvent, data: CaseReopened) -> None:
        await repo.update_case(ctx.conn, data.case_id, status="dispatched")  # open again: new submissions link to it

    return {"court.case_referred": on_court_referral, "bureau.case_referred": on_bureau_referral,
            "followup.case_closed": on_closed, "followup.case_reopened": on_reopened}


async def _register(ctx: HandlerContext, sub: Submission, config: IntakeConfig) -> None:
    try:
        await register(ctx, sub, config=config)
    except IntakeRefused as exc:
        raise Reject(exc.describe()) from exc
