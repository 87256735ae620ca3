"""What follow-up consumes: who a case is about (intake registers and dispatches it), and every resolved case
(mediation, legal aid, answered in intake)."""

from __future__ import annotations

from events.envelope import CloudEvent
from events.intake import CaseAnswered, CaseDispatched, CaseReceived
from events.legalaid import CaseConcluded
from events.mediation import CaseResolved
from events.supervision import WorkerRated
from services.backbone.consumer import HandlerContext, Handlers
from services.followup.calls import worker_rated
from services.followup.config import FollowupConfig
from services.followup.scheduling import case_resolved, remember_facts


def handlers(config: FollowupConfig) -> Handlers:
    async def on_mediation(ctx: HandlerContext, event: CloudEvent, data: CaseResolved) -> None:
        if data.to_legal_aid:
            return  # not resolved: legal aid continues
        await case_resolved(ctx, case_id=data.case_id, source="mediation", org_unit=data.org_unit,
                            outcome=data.outcome, resolved_at=data.resolved_at, agreement=data.agreement,
                            confirmed_by_court=data.confirmed_by_court, config=config)

    async def on_legal_aid(ctx: HandlerContext, event: CloudEvent, data: CaseConcluded) -> None:
        await case_resolved(ctx, case_id=data.case_id, source="legal_aid", org_unit=data.org_unit,
                            outcome=data.outcome, resolved_at=data.concluded_at, agreement=None,
                            confirmed_by_court=False, config=config)

    async def on_answered(ctx: HandlerContext, event: CloudEvent, data: CaseAnswered) -> None:
        await case_resolved(ctx, case_id=data.case_id, source="intake", org_unit=data.org_unit or "intake",
                            outcome=data.resolution, resolved_at=data.answered_at, agreement=None,
                            confirmed_by_court=False, config=config)

    async def on_facts(ctx: HandlerContext, event: CloudEvent, data: CaseReceived | CaseDispatched) -> None:
        remember_facts(ctx, case_id=data.case_id, facts=data.facts)

    async def on_rated(ctx: HandlerContext, event: CloudEvent, data: WorkerRated) -> None:
        await worker_rated(ctx, data.case_id, score=data.score, comment=data.comment)

    return {"supervision.worker_rated": on_rated, "intake.case_received": on_facts, "intake.case_dispatched": on_facts,
            "mediation.case_resolved": on_mediation, "legalaid.case_concluded": on_legal_aid,
            "intake.case_answered": on_answered}
