"""What mediation consumes: dispatches from intake, the court's and the bureau's events."""

from __future__ import annotations

from events.envelope import CloudEvent
from events.followup import CaseReopened as FollowupReopened
from events.intake import CaseDispatched, CaseReclassified
from events.partner import (
    BureauArbitrationAccepted,
    BureauAwardIssued,
    CourtCaseFiled,
    CourtConfirmationDecided,
)
from services.backbone.consumer import HandlerContext, Handlers, NotYetKnown
from services.mediation import dispatches, outcomes
from services.mediation.config import MediationConfig


def handlers(config: MediationConfig) -> Handlers:
    async def on_dispatched(ctx: HandlerContext, event: CloudEvent, data: CaseDispatched) -> None:
        if data.route == "mediation":
            await dispatches.open_case(ctx, data, config)

    async def on_reclassified(ctx: HandlerContext, event: CloudEvent, data: CaseReclassified) -> None:
        await dispatches.reclassified(ctx, data)

    async def on_confirmation(ctx: HandlerContext, event: CloudEvent, data: CourtConfirmationDecided) -> None:
        if not await outcomes.confirmation_decided(ctx, court_case_no=data.court_case_no, decision=data.decision,
                                                decided_at=data.decided_at, reason=data.reason):
            raise NotYetKnown(f"no settlement of {data.court_case_no} is waiting for confirmation yet")

    async def on_filed(ctx: HandlerContext, event: CloudEvent, data: CourtCaseFiled) -> None:
        if not await outcomes.court_filed(ctx, court_case_no=data.court_case_no, filed_at=data.filed_at):
            raise NotYetKnown(f"court case {data.court_case_no} is not known to mediation yet")

    async def on_accepted(ctx: HandlerContext, event: CloudEvent, data: BureauArbitrationAccepted) -> None:
        await outcomes.bureau_progress(ctx, arbitration_case_no=data.arbitration_case_no, kind="arbitration_accepted",
                                    at=data.accepted_at)

    async def on_award(ctx: HandlerContext, event: CloudEvent, data: BureauAwardIssued) -> None:
        await outcomes.bureau_progress(ctx, arbitration_case_no=data.arbitration_case_no, kind="award_issued",
                                    at=data.issued_at, amount=float(data.amount_awarded_cny))

    async def on_reopened(ctx: HandlerContext, event: CloudEvent, data: FollowupReopened) -> None:
        await outcomes.reopen(ctx, case_id=data.case_id, route=data.route, reason=data.reason, config=config)

    return {
        "followup.case_reopened": on_reopened,
        "intake.case_dispatched": on_dispatched,
        "intake.case_reclassified": on_reclassified,
        "court.confirmation_decided": on_confirmation,
        "court.case_filed": on_filed,
        "bureau.arbitration_accepted": on_accepted,
        "bureau.award_issued": on_award,
    }
