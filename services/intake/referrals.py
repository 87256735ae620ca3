"""Partner referrals (委派 / 委托调解): a court's or an arbitration bureau's case becomes a submission and is
registered like any other (``registration.register``), joining only a case the same partner referred."""

from __future__ import annotations

from events.common import Channel
from events.intake import CaseRefs
from events.partner import BureauCaseReferred, CourtCaseReferred
from services.backbone.consumer import HandlerContext
from services.intake.config import IntakeConfig
from services.intake.dispatch import Outcome
from services.intake.registration import Submission, register


async def register_court_referral(ctx: HandlerContext, data: CourtCaseReferred, *, config: IntakeConfig) -> Outcome:
    return await register(ctx, Submission(
        channel=Channel.court, received_at=data.referred_at, region_code=data.region_code,
        workers=list(data.workers), employer=data.employer, claims=list(data.claims), summary=data.summary,
        refs=CaseRefs(court_code=data.court_code, court_case_no=data.court_case_no,
                      referral_kind=data.referral_kind, procedure=data.procedure),
        actor=f"court:{data.court_code}", partner=True), config=config)


async def register_bureau_referral(ctx: HandlerContext, data: BureauCaseReferred, *, config: IntakeConfig) -> Outcome:
    return await register(ctx, Submission(
        channel=Channel.bureau, received_at=data.referred_at, region_code=data.region_code,
        workers=list(data.workers), employer=data.employer, claims=list(data.claims), summary=data.summary,
        refs=CaseRefs(bureau_code=data.bureau_code, arbitration_case_no=data.arbitration_case_no),
        actor=f"bureau:{data.bureau_code}", partner=True), config=config)
