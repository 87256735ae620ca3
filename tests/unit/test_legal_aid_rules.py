from datetime import date
from decimal import Decimal

import pytest

from services.legal_aid.domain.case import LegalAidCase, LegalAidError
from services.legal_aid.domain.eligibility import Applicant, default_policy

pytestmark = pytest.mark.clock

TODAY = date(2026, 3, 2)


def applicant(**kw) -> Applicant:
    values = {"migrant_worker": False, "claim_types": frozenset({"wage_arrears"}), "region_code": "630102"}
    values.update(kw)
    return Applicant(**values)


def test_migrant_workers_claiming_wages_or_injury_skip_the_means_test():
    a = default_policy().assess(applicant(migrant_worker=True), today=TODAY)
    assert a.means_test_skipped and a.recommendation == "approve" and "第四十二条" in a.reasons[0]
    injury = default_policy().assess(applicant(migrant_worker=True, claim_types=frozenset({"work_injury"})),
                                     today=TODAY)
    assert injury.means_test_skipped
    overtime = default_policy().assess(applicant(migrant_worker=True, claim_types=frozenset({"overtime"})),
                                       today=TODAY)
    assert not overtime.means_test_skipped and overtime.recommendation == "needs_income"


@pytest.mark.parametrize(("income", "region", "recommendation"), [
    ("2200", "630102", "approve"),  # Qinghai threshold 2200: at the line qualifies
    ("2200.01", "630102", "deny"),
    ("2100", "510107", "approve"),
    ("2150", "510107", "deny"),  # Sichuan 2100
    ("1999", "110105", "approve"),  # default 2000
])
def test_means_test_against_the_local_threshold(income, region, recommendation):
    a = default_policy().assess(applicant(monthly_income_per_capita=Decimal(income), region_code=region), today=TODAY)
    assert a.recommendation == recommendation and a.within_income_threshold is (recommendation == "approve")


def test_fewer_than_seven_days_before_limitation_is_urgent():
    assert default_policy().assess(applicant(limitation_date=date(2026, 3, 8)), today=TODAY).urgent
    assert not default_policy().assess(applicant(limitation_date=date(2026, 3, 9)), today=TODAY).urgent


def test_states():
    case = LegalAidCase("LC1")
    approved = case.decide("approved")
    assert approved.state == "approved" and approved.assign("L1", urgent=False).state == "represented"
    denied = case.decide("denied")
    assert denied.object().review(upheld=True).state == "closed"
    assert denied.object().review(upheld=False).state == "approved"
    with pytest.raises(LegalAidError):
        case.assign("L1", urgent=False)  # no decision yet
    urgent = case.assign("L1", urgent=True)
    assert urgent.state == "represented" and urgent.decide("approved").decision == "approved"
    with pytest.raises(LegalAidError):
        urgent.decide("denied")
    with pytest.raises(LegalAidError):
        case.conclude()
