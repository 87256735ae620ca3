"""What notification consumes, and what each event means for the worker (an SMS) or for staff (a notice).

Phones come from intake's events (registered, linked, dispatched) and from the query code's own event; an event
about a case whose phones are not known yet is parked and tried again (services/backbone/consumer.py)."""

from __future__ import annotations

from datetime import date
from typing import Any

from events.deadlines import DeadlineSignal
from events.envelope import CloudEvent
from events.followup import CaseClosed, FollowupScheduled
from events.intake import CaseDispatched, CaseLinked, CaseReceived, QueryCodeIssued
from events.mediation import AssignmentAnswered, ConfirmationRecorded, MediatorAssigned, SessionScheduled, Settled
from services.backbone.consumer import HandlerContext, Handlers, NotYetKnown
from services.hierarchy.orgunits import default_hierarchy
from services.notification import learning, notices
from services.notification.domain.templates import Catalog
from services.notification.telling import tell
from services.web.words import day, when

HIERARCHY = default_hierarchy()


def unit_name(code: str) -> str:
    unit = HIERARCHY.get(code)
    return unit.name if unit else "当地工会"


def handlers(catalog: Catalog, *, gateway: str, shows_secrets: bool) -> Handlers:
    async def told(ctx: HandlerContext, event: CloudEvent, case_id: str, kind: str, phones: list[str] | None = None,
                   **values: Any) -> None:
        await tell(ctx, event, case_id=case_id, kind=kind, values={"case_id": case_id, **values}, catalog=catalog,
                   gateway=gateway, shows_secrets=shows_secrets, phones=phones)

    async def on_received(ctx: HandlerContext, event: CloudEvent, data: CaseReceived) -> None:
        learning.remember_phones(ctx, data.case_id, (w.phone for w in data.facts.workers))

    async def on_linked(ctx: HandlerContext, event: CloudEvent, data: CaseLinked) -> None:
        learning.remember_phones(ctx, data.case_id, (w.phone for w in data.submission.workers))

    async def on_query_code(ctx: HandlerContext, event: CloudEvent, data: QueryCodeIssued) -> None:
        learning.remember_phones(ctx, data.case_id, data.phones)
        await told(ctx, event, data.case_id, "received" if data.reason == "registered" else "code_rotated",
                   phones=list(data.phones), query_code=data.query_code)

    async def on_dispatched(ctx: HandlerContext, event: CloudEvent, data: CaseDispatched) -> None:
        learning.remember_phones(ctx, data.case_id, (w.phone for w in data.facts.workers))
        learning.held_by(ctx, data.case_id, data.org_unit)
        await told(ctx, event, data.case_id, "dispatched", unit=unit_name(data.org_unit))

    async def on_offered(ctx: HandlerContext, event: CloudEvent, data: MediatorAssigned) -> None:
        learning.mediator_offered(ctx, data.case_id, org_unit=data.org_unit, mediator_id=data.mediator_id,
                                  name=data.mediator_name)
        notices.case_assigned(ctx, event, data)

    async def on_accepted(ctx: HandlerContext, event: CloudEvent, data: AssignmentAnswered) -> None:
        case = await learning.known(ctx, data.case_id)
        if case is None or case.mediator_id != data.mediator_id or not case.mediator_name:
            raise NotYetKnown(f"the offer of {data.case_id} to its mediator is not known yet")
        await told(ctx, event, data.case_id, "mediator_assigned", mediator=case.mediator_name)

    async def on_session(ctx: HandlerContext, event: CloudEvent, data: SessionScheduled) -> None:
        await told(ctx, event, data.case_id, "session_scheduled", when=when(data.scheduled_at), where=data.location)

    async def on_settled(ctx: HandlerContext, event: CloudEvent, data: Settled) -> None:
        await told(ctx, event, data.case_id, "settled", amount=f"{data.agreement.amount_cny:,.2f}")

    async def on_confirmation(ctx: HandlerContext, event: CloudEvent, data: ConfirmationRecorded) -> None:
        await told(ctx, event, data.case_id, "confirmed" if data.decision == "confirmed" else "confirmation_rejected")

    async def on_followup(ctx: HandlerContext, event: CloudEvent, data: FollowupScheduled) -> None:
        if data.kind == "first":  # the instalment checks are the union's own calls about the employer's payments
            await told(ctx, event, data.case_id, "followup_due", day=day(date.fromisoformat(data.due_date)))

    async def on_closed(ctx: HandlerContext, event: CloudEvent, data: CaseClosed) -> None:
        await told(ctx, event, data.case_id, "closed")

    async def on_deadline(ctx: HandlerContext, event: CloudEvent, data: DeadlineSignal) -> None:
        await notices.deadline_at_risk(ctx, event, data)

    return {
        "intake.case_received": on_received, "intake.case_linked": on_linked,
        "intake.query_code_issued": on_query_code, "intake.case_dispatched": on_dispatched,
        "mediation.mediator_assigned": on_offered, "mediation.assignment_accepted": on_accepted,
        "mediation.session_scheduled": on_session, "mediation.settled": on_settled,
        "mediation.confirmation_recorded": on_confirmation,
        "followup.scheduled": on_followup, "followup.case_closed": on_closed,
        "deadline.warning": on_deadline, "deadline.breached": on_deadline,
    }
