"""Events published by mediation ("法院+工会" 诉调对接) on mediation.events."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from events.common import Agreement, Contract, Timestamp
from events.deadlines import DeadlineHandover
from events.intake import CaseFacts

CaseKind = Literal["union", "court_pre_filing", "court_post_filing", "bureau"]
Outcome = Literal["settled", "failed", "withdrawn", "closed_by_court"]


class CaseOpened(Contract):
    """mediation.case_opened — a case dispatched to mediation, waiting for a mediator."""

    case_id: str
    org_unit: str
    kind: CaseKind
    tier: str
    due_at: Timestamp
    court_case_no: str | None = None
    arbitration_case_no: str | None = None


class MediatorAssigned(Contract):
    """mediation.mediator_assigned — a mediator is offered the case (by load and nearest deadlines)."""

    case_id: str
    mediator_id: str
    mediator_name: str
    org_unit: str
    reason: str
    actor: str | None = None


class AssignmentAnswered(Contract):
    """mediation.assignment_accepted / mediation.assignment_declined — the mediator signs for the file, or not."""

    case_id: str
    mediator_id: str
    at: Timestamp
    reason: str | None = None


class AssignmentPending(Contract):
    """mediation.assignment_pending — no mediator available in the unit: supervisors must act."""

    case_id: str
    org_unit: str
    reason: str


class SessionScheduled(Contract):
    """mediation.session_scheduled — a mediation session (调解会) is planned."""

    case_id: str
    session_id: str
    scheduled_at: Timestamp
    location: str
    actor: str


class SessionHeld(Contract):
    """mediation.session_held — a session took place: who was there, what was said."""

    case_id: str
    session_id: str
    held_at: Timestamp
    parties_present: list[str]
    notes: str = ""
    actor: str


class Settled(Contract):
    """mediation.settled — the parties signed a mediation agreement (调解协议)."""

    case_id: str
    settled_at: Timestamp
    agreement: Agreement
    representatives: list[str] = Field(default_factory=list, description="group disputes: the workers' representatives")
    confirmation_requested: bool = False
    actor: str


class ConfirmationRecorded(Contract):
    """mediation.confirmation_recorded — the court's decision on judicial confirmation (司法确认)."""

    case_id: str
    court_case_no: str
    decision: Literal["confirmed", "rejected"]
    decided_at: Timestamp
    reason: str = ""


class Failed(Contract):
    """mediation.failed — no agreement; the disputed points (争议焦点)."""

    case_id: str
    failed_at: Timestamp
    disputed_points: list[str] = Field(min_length=1)
    summary: str = ""
    to_legal_aid: bool = False
    actor: str


class Withdrawn(Contract):
    """mediation.withdrawn — the worker withdrew the application."""

    case_id: str
    withdrawn_at: Timestamp
    reason: str
    actor: str


class CaseResolved(Contract):
    """mediation.case_resolved — mediation is over for this case; follow-up takes settled cases from here."""

    case_id: str
    outcome: Outcome
    resolved_at: Timestamp
    org_unit: str
    mediator_id: str | None = None
    agreement: Agreement | None = None
    confirmed_by_court: bool = False
    returned_to: Literal["court", "arbitration"] | None = None
    to_legal_aid: bool = Field(default=False, description="failed, and legal aid continues with the case")


class HandedToLegalAid(Contract):
    """mediation.handed_to_legal_aid — a failed mediation where the worker needs representation."""

    case_id: str
    org_unit: str
    facts: CaseFacts
    disputed_points: list[str]
    summary: str = ""
    deadline: DeadlineHandover | None = None


class CaseReopened(Contract):
    """mediation.case_reopened — follow-up found the agreement not honoured; mediation resumes."""

    case_id: str
    reason: str
    mediator_id: str | None = None
    due_at: Timestamp


class PartnerProgress(Contract):
    """mediation.partner_progress — what a court or bureau reported about the case (filing, arbitration, award)."""

    case_id: str
    kind: Literal["case_filed", "arbitration_accepted", "award_issued"]
    at: Timestamp
    court_case_no: str | None = None
    arbitration_case_no: str | None = None
    amount_awarded_cny: float | None = None


class WindowExtended(Contract):
    """mediation.window_extended — both parties consented to extend the court-entrusted window (+30 days)."""

    case_id: str
    due_at: Timestamp
    consent: str
    actor: str
