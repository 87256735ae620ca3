"""Intake's consumers: partner referrals (court.events, bureau.events) become cases; follow-up's closing and
reopening keep de-duplication in step. A referral that can never be registered is dead-lettered with the reason."""

from __future__ import annotations

from events.envelope import CloudEvent
from events.followup import CaseClosed, CaseReopened
from events.partner import BureauCaseReferred, CourtCaseReferred
from services.backbone.consumer import HandlerContext, Handlers
from services.intake.config import IntakeConfig
from services.intake.referrals import register_bureau_referral, register_court_referral
from services.intake.registration import case_closed, case_reopened, write_statuses


def referral_handlers(config: IntakeConfig) -> Handlers:
    async def on_court_referral(ctx: HandlerContext, event: CloudEvent, data: CourtCaseReferred) -> None:
        await write_statuses(ctx)  # a case this batch closed is no longer open to link to
        await register_court_referral(ctx, data, config=config)  # a refusal is dead-lettered with its reason

    async def on_bureau_referral(ctx: HandlerContext, event: CloudEvent, data: BureauCaseReferred) -> None:
        await write_statuses(ctx)
        await register_bureau_referral(ctx, data, config=config)

    async def on_closed(ctx: HandlerContext, event: CloudEvent, data: CaseClosed) -> None:
        case_closed(ctx, data.case_id)

    async def on_reopened(ctx: HandlerContext, event: CloudEvent, data: CaseReopened) -> None:
        case_reopened(ctx, data.case_id)

    return {"court.case_referred": on_court_referral, "bureau.case_referred": on_bureau_referral,
            "followup.case_closed": on_closed, "followup.case_reopened": on_reopened}
