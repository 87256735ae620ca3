"""Events published by intake (受理) on intake.events."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from events.common import Channel, Claim, Contract, Employer, RegionCode, Tier, Timestamp, Worker
from events.deadlines import DeadlineHandover

Route = Literal["mediation", "legal_aid", "answered", "referred_elsewhere"]


class CaseRefs(Contract):
    """External references of a case (partner case numbers) and the referral's terms."""

    court_code: str | None = None
    court_case_no: str | None = None
    referral_kind: Literal["pre_filing", "post_filing"] | None = None
    procedure: Literal["ordinary", "simplified"] | None = None
    bureau_code: str | None = None
    arbitration_case_no: str | None = None


class ValidationWarning(Contract):
    """A check that failed but does not block: a clerk overrode it with a reason."""

    field: str
    code: str
    message: str
    override_reason: str | None = None
    overridden_by: str | None = None


class CaseFacts(Contract):
    """What a case is about; carried to whichever service takes the case next."""

    channel: Channel
    received_at: Timestamp
    region_code: RegionCode
    workers: list[Worker] = Field(min_length=1)
    employer: Employer
    claims: list[Claim] = Field(min_length=1)
    summary: str = ""
    refs: CaseRefs = Field(default_factory=CaseRefs)
    group_dispute: bool = False


class CaseReceived(Contract):
    """intake.case_received — a new case was registered (登记受理)."""

    case_id: str
    facts: CaseFacts
    warnings: list[ValidationWarning] = Field(default_factory=list)
    actor: str | None = None


class CaseLinked(Contract):
    """intake.case_linked — a submission matched an open case and was linked to it, not duplicated."""

    case_id: str
    submission: CaseFacts
    reason: str
    new_workers: int = 0
    group_dispute: bool = False


class CaseTriaged(Contract):
    """intake.case_triaged — tier and resolution deadline set (分级)."""

    case_id: str
    tier: Tier
    rule: str = Field(description="the triage rule or 'clerk_override'")
    reason: str = ""
    received_at: Timestamp
    due_at: Timestamp
    provisional: bool = Field(default=False, description="computed without the year's holiday data")
    actor: str | None = None


class CaseReclassified(Contract):
    """intake.case_reclassified — the tier was raised or lowered, with reason (and audit)."""

    case_id: str
    from_tier: Tier
    to_tier: Tier
    reason: str
    actor: str
    received_at: Timestamp
    due_at: Timestamp
    provisional: bool = False


class CaseDispatched(Contract):
    """intake.case_dispatched — 派单: the case goes to an org unit and a route, with its tier deadline."""

    case_id: str
    org_unit: str
    route: Route
    tier: Tier
    due_at: Timestamp
    provisional: bool = False
    facts: CaseFacts
    attempt: int = Field(default=1, description="1 for the first dispatch, +1 after each decline")
    deadline: DeadlineHandover | None = Field(
        default=None, description="the tier deadline, handed over on the first dispatch (absent on re-dispatch)")


class CaseDeclined(Contract):
    """intake.case_declined — 退单: a unit declined the case; it goes to the parent unit."""

    case_id: str
    org_unit: str
    reason: str
    actor: str
    redispatched_to: str | None


class CaseAnswered(Contract):
    """intake.case_answered — resolved in intake: answered on the spot or referred elsewhere."""

    case_id: str
    resolution: Literal["answered", "referred_elsewhere"]
    answer: str
    answered_at: Timestamp
    actor: str | None = None
    org_unit: str | None = Field(default=None, description="the unit that answered (the one serving the region)")


class SubmissionRejected(Contract):
    """intake.submission_rejected — a partner referral that can never become a case (e.g. unknown region)."""

    partner_case_no: str
    source_type: str
    reason: str


class DuplicateSuspected(Contract):
    """intake.duplicate_suspected — a new case looks like an open case outside the registering clerk's scope
    (another province: 省际联动维权). It was not linked and the clerk was told nothing; supervisors who may see
    both sides are told, and otherwise each side's province is told that the other side exists."""

    case_id: str = Field(description="the case just registered")
    org_unit: str | None = Field(default=None, description="the unit the new case went to")
    other_case_id: str = Field(description="the open case it resembles")
    other_org_unit: str | None = None
    reason: str
    detected_at: Timestamp


class AttachmentAdded(Contract):
    """intake.attachment_added — evidence (证据材料) was added to a case's file. The facts of the file only: never
    its content, and of people only the uploader's name (the timeline shows who added it)."""

    case_id: str
    attachment_id: str
    kind: Literal["contract", "payslip", "attendance", "chat", "photo", "medical", "other"]
    filename: str = Field(max_length=200)
    content_type: str
    size_bytes: int = Field(gt=0)
    uploaded_by_name: str
    uploaded_at: Timestamp


QueryCodeReason = Literal["registered", "rotated"]


class QueryCodeIssued(Contract):
    """intake.query_code_issued — a worker's query code (查询码), in plain text, for the SMS that tells it.

    Published ONLY on ``worker.notices``, which only the notification service reads: the code never reaches
    another service. ``registered``: with a new case (or a submission joining one); ``rotated``: staff issued a
    new code and the old ones stopped working."""

    case_id: str
    query_code: str = Field(description="10 characters, shown as two groups of five (K7M2P-XQ9RT)")
    phones: list[str] = Field(description="the workers' phone numbers on this submission")
    reason: QueryCodeReason
    issued_at: Timestamp


class QueryCodeSet(Contract):
    """intake.query_code_set — the salted hash of a query code (never the code), for the projection that answers
    the worker's progress lookups. ``replaces``: the case's earlier codes stop working (a rotation)."""

    case_id: str
    code_hash: str = Field(description="v1$<salt>$<HMAC-SHA256>, see services/security/query_codes.py")
    reason: QueryCodeReason
    replaces: bool = False
    issued_at: Timestamp
