"""Events published by legal aid (法律援助) on legalaid.events."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from events.common import AmountCNY, Contract, Timestamp

Stage = Literal["consultation", "drafting", "arbitration", "litigation", "enforcement"]


class ApplicationReceived(Contract):
    """legalaid.application_received — a worker's application for legal aid (from dispatch or a failed mediation)."""

    case_id: str
    org_unit: str
    source: Literal["dispatch", "mediation"]
    applicants: list[str]
    migrant_worker: bool = False
    claim_types: list[str]
    urgent_before: str | None = Field(default=None, description="limitation or filing date (ISO), if close")


class EligibilityDecided(Contract):
    """legalaid.eligibility_decided — approved or denied, with written reasons (法律援助法第四十三条)."""

    case_id: str
    decision: Literal["approved", "denied"]
    reasons: list[str]
    means_test_skipped: bool
    decided_at: Timestamp
    actor: str


class ObjectionFiled(Contract):
    """legalaid.objection_filed — the applicant objects to a denial (异议)."""

    case_id: str
    reason: str
    filed_at: Timestamp


class ObjectionReviewed(Contract):
    """legalaid.objection_reviewed — the objection's review: the denial upheld, or overturned."""

    case_id: str
    upheld: bool
    reason: str
    reviewed_at: Timestamp
    actor: str


class LawyerAssigned(Contract):
    """legalaid.lawyer_assigned — legal aid is in place: a lawyer represents the worker."""

    case_id: str
    lawyer_id: str
    lawyer_name: str
    firm: str
    urgent: bool = Field(default=False, description="assigned before the review finished (第四十四条)")
    actor: str | None = None


class ProgressRecorded(Contract):
    """legalaid.progress_recorded — consultation, drafting, arbitration, litigation, enforcement."""

    case_id: str
    stage: Stage
    note: str = ""
    at: Timestamp
    arbitration_case_no: str | None = None
    amount_awarded_cny: AmountCNY | None = None
    actor: str


class CaseConcluded(Contract):
    """legalaid.case_concluded — representation ended; the money recovered and how (follow-up starts here)."""

    case_id: str
    org_unit: str
    outcome: Literal["won", "partly_won", "settled", "lost", "withdrawn"]
    method: Literal["settlement", "award", "judgment", "enforcement", "none"]
    amount_recovered_cny: AmountCNY
    concluded_at: Timestamp
    lawyer_id: str | None = None
    actor: str
