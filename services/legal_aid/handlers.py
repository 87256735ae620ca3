"""What legal aid consumes: dispatches and mediation hand-offs (applications), intake's changes of tier (the
tier clock follows), bureau progress, follow-up's reopened cases."""

from __future__ import annotations

from events.envelope import CloudEvent
from events.followup import CaseReopened as FollowupReopened
from events.intake import CaseDispatched, CaseReclassified
from events.mediation import HandedToLegalAid
from events.partner import BureauArbitrationAccepted, BureauAwardIssued
from services.backbone.consumer import HandlerContext, Handlers
from services.legal_aid import applications, representation
from services.legal_aid.config import LegalAidConfig


def handlers(config: LegalAidConfig) -> Handlers:
    async def on_dispatched(ctx: HandlerContext, event: CloudEvent, data: CaseDispatched) -> None:
        if data.route == "legal_aid":
            await applications.apply(ctx, case_id=data.case_id, org_unit=data.org_unit, facts=data.facts,
                                     source="dispatch", deadline=data.deadline, config=config)

    async def on_handed(ctx: HandlerContext, event: CloudEvent, data: HandedToLegalAid) -> None:
        await applications.apply(ctx, case_id=data.case_id, org_unit=data.org_unit, facts=data.facts,
                                 source="mediation", deadline=data.deadline, config=config,
                                 disputed_points=data.disputed_points)

    async def on_reclassified(ctx: HandlerContext, event: CloudEvent, data: CaseReclassified) -> None:
        await applications.reclassified(ctx, data)

    async def on_accepted(ctx: HandlerContext, event: CloudEvent, data: BureauArbitrationAccepted) -> None:
        await representation.bureau_update(ctx, arbitration_case_no=data.arbitration_case_no, stage="arbitration",
                                           at=data.accepted_at)

    async def on_award(ctx: HandlerContext, event: CloudEvent, data: BureauAwardIssued) -> None:
        await representation.bureau_update(ctx, arbitration_case_no=data.arbitration_case_no, stage="arbitration",
                                           at=data.issued_at, amount=data.amount_awarded_cny)

    async def on_reopened(ctx: HandlerContext, event: CloudEvent, data: FollowupReopened) -> None:
        if data.route == "legal_aid":
            await representation.reopen(ctx, case_id=data.case_id, reason=data.reason)

    return {"followup.case_reopened": on_reopened, "intake.case_dispatched": on_dispatched,
            "intake.case_reclassified": on_reclassified,
            "mediation.handed_to_legal_aid": on_handed, "bureau.arbitration_accepted": on_accepted,
            "bureau.award_issued": on_award}
