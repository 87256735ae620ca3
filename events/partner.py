"""The public contract with courts and labor bureaus (docs/domain/partner-contracts.md).

Names are fixed: partners depend on them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from events.common import (
    Agreement,
    AmountCNY,
    Claim,
    Contract,
    Employer,
    PartnerContract,
    RegionCode,
    Timestamp,
    Worker,
)

CourtCaseNo = Field(min_length=1, max_length=64, description="法院案号, e.g. (2026)青0103民诉前调123号")
ArbitrationCaseNo = Field(min_length=1, max_length=64, description="仲裁案号")


def _procedure_rule(schema: dict[str, Any]) -> None:
    schema["if"] = {"properties": {"referral_kind": {"const": "post_filing"}}}
    schema["then"] = {"required": ["procedure"], "properties": {"procedure": {"type": "string"}}}


class CourtCaseReferred(PartnerContract):
    """court.case_referred — a court refers a labor dispute to union mediation (委派/委托调解)."""

    model_config = PartnerContract.model_config | {"json_schema_extra": _procedure_rule}

    court_code: str = Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z\-]+$")
    court_case_no: str = CourtCaseNo
    referral_kind: Literal["pre_filing", "post_filing"]
    procedure: Literal["ordinary", "simplified"] | None = Field(
        default=None, description="required for post_filing: the court's procedure decides the 15/7-day window"
    )
    region_code: RegionCode
    referred_at: Timestamp
    workers: list[Worker] = Field(min_length=1, max_length=1000)
    employer: Employer
    claims: list[Claim] = Field(min_length=1, max_length=20)
    summary: str = Field(default="", max_length=4000)

    @model_validator(mode="after")
    def _procedure_needed_after_filing(self) -> CourtCaseReferred:
        if self.referral_kind == "post_filing" and self.procedure is None:
            raise ValueError("procedure is required when referral_kind is post_filing")
        return self


class CourtConfirmationDecided(PartnerContract):
    """court.confirmation_decided — the court's decision on judicial confirmation (司法确认)."""

    court_case_no: str = CourtCaseNo
    decision: Literal["confirmed", "rejected"]
    decided_at: Timestamp
    reason: str = Field(default="", max_length=4000)


class CourtCaseFiled(PartnerContract):
    """court.case_filed — the court has filed the case (立案); the union side ends."""

    court_case_no: str = CourtCaseNo
    filed_at: Timestamp


class BureauCaseReferred(PartnerContract):
    """bureau.case_referred — a labor-arbitration commission refers a case for pre-arbitration mediation (裁前调解)."""

    bureau_code: str = Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z\-]+$")
    arbitration_case_no: str = ArbitrationCaseNo
    region_code: RegionCode
    referred_at: Timestamp
    workers: list[Worker] = Field(min_length=1, max_length=1000)
    employer: Employer
    claims: list[Claim] = Field(min_length=1, max_length=20)
    summary: str = Field(default="", max_length=4000)


class BureauArbitrationAccepted(PartnerContract):
    """bureau.arbitration_accepted — the commission accepted the arbitration application (受理)."""

    arbitration_case_no: str = ArbitrationCaseNo
    accepted_at: Timestamp


class BureauAwardIssued(PartnerContract):
    """bureau.award_issued — the arbitration award (裁决) with the amount awarded."""

    arbitration_case_no: str = ArbitrationCaseNo
    issued_at: Timestamp
    amount_awarded_cny: AmountCNY


# --- what the union answers on court.feedback / bureau.feedback --------------------------------
# Only what the partner needs: no ID or phone numbers leave the union (个人信息保护法).


class _Feedback(Contract):
    case_id: str = Field(description="the union's case id")
    court_case_no: str | None = Field(default=None, max_length=64)
    arbitration_case_no: str | None = Field(default=None, max_length=64)
    org_unit: str = Field(description="the union unit that mediated")

    @model_validator(mode="after")
    def _one_partner_reference(self) -> _Feedback:
        if (self.court_case_no is None) == (self.arbitration_case_no is None):
            raise ValueError("exactly one of court_case_no and arbitration_case_no is required")
        return self


class UnionMediationSettled(_Feedback):
    """union.mediation_settled — mediation reached an agreement (调解协议)."""

    settled_at: Timestamp
    agreement: Agreement


class UnionConfirmationRequested(_Feedback):
    """union.confirmation_requested — the parties ask the court for judicial confirmation."""

    requested_at: Timestamp
    agreement: Agreement


class UnionMediationFailed(_Feedback):
    """union.mediation_failed — no agreement; the 委托调解反馈函 with the disputed points."""

    failed_at: Timestamp
    disputed_points: list[str] = Field(min_length=1, max_length=50)
    summary: str = Field(default="", max_length=4000)
