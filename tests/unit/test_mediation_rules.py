from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from events.common import Agreement, Instalment
from services.mediation.domain.case import MediationCase, MediationError, check_agreement
from services.staffing.assignment import Load, choose

pytestmark = pytest.mark.clock

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


def court_case() -> MediationCase:
    return MediationCase("LC1", "QH-XN-CZ", "court_post_filing", court_case_no="(2026)青0103民初1号")


def test_court_case_waits_for_confirmation_then_resolves_or_reopens():
    case = court_case().offer("M1").accept("M1", NOW)
    assert case.state == "in_mediation" and case.signed_at == NOW
    waiting = case.settle()
    assert waiting.state == "awaiting_confirmation"
    assert waiting.confirmation("confirmed").state == "resolved"
    reopened = waiting.confirmation("rejected")
    assert reopened.state == "in_mediation" and reopened.outcome is None


def test_union_case_resolves_on_settlement():
    case = MediationCase("LC2", "QH-XN-CD", "union").offer("M1").accept("M1", NOW)
    assert case.settle().state == "resolved" and case.settle().outcome == "settled"


def test_decline_records_who_declined_and_only_the_offered_mediator_may_answer():
    case = court_case().offer("M1")
    with pytest.raises(MediationError, match="被分派"):
        case.accept("M2", NOW)
    declined = case.decline("M1")
    assert declined.state == "awaiting_assignment" and declined.declined_by == ("M1",)


@pytest.mark.parametrize("step", [lambda c: c.settle(), lambda c: c.fail(), lambda c: c.confirmation("confirmed")])
def test_outcomes_need_an_accepted_case(step):
    with pytest.raises(MediationError, match="待分派"):
        step(court_case())


def test_court_filing_ends_any_open_case_and_re_dispatch_starts_over():
    case = court_case().offer("M1").accept("M1", NOW)
    assert case.court_filed().outcome == "closed_by_court"
    moved = court_case().offer("M1").decline("M1").move_to("QH-XN")
    assert moved.org_unit == "QH-XN" and moved.declined_by == () and moved.state == "awaiting_assignment"


def test_agreement_instalments_must_add_up_in_order():
    ok = Agreement(amount_cny=Decimal("3000"), instalments=[Instalment(due_date="2026-04-01", amount_cny=Decimal(1000)),
                                                           Instalment(due_date="2026-05-01", amount_cny=Decimal(2000))])
    assert check_agreement(ok, settled_on=date(2026, 3, 2)) == []
    short = Agreement(amount_cny=Decimal("3000"), instalments=[Instalment(due_date="2026-04-01",
                                                                          amount_cny=Decimal(1000))])
    assert "不符" in check_agreement(short, settled_on=date(2026, 3, 2))[0][1]
    backwards = Agreement(amount_cny=Decimal("2"), instalments=[
        Instalment(due_date="2026-05-01", amount_cny=Decimal(1)), Instalment(due_date="2026-04-01", amount_cny=Decimal(1))])
    assert any("顺序" in p for _, p in check_agreement(backwards, settled_on=date(2026, 3, 2)))
    early = Agreement(amount_cny=Decimal("1"), instalments=[Instalment(due_date="2026-03-01", amount_cny=Decimal(1))])
    assert any("早于" in p for _, p in check_agreement(early, settled_on=date(2026, 3, 2)))


def load(mid: str, open_cases: int, capacity: int = 10, due_soon: int = 0, unit: str = "U") -> Load:
    return Load(mid, mid, unit, capacity, open_cases, due_soon)


def test_assignment_balances_load_then_nearest_deadlines():
    assert choose([load("A", 5), load("B", 2)]).person_id == "B"
    assert choose([load("A", 2, due_soon=2), load("B", 2, due_soon=0)]).person_id == "B"
    assert choose([load("A", 2, capacity=4), load("B", 3, capacity=12)]).person_id == "B"  # ratio, not count
    assert choose([load("A", 10), load("B", 10)]) is None  # all full
    assert choose([load("A", 1), load("B", 2)], exclude=["A"]).person_id == "B"
    assert choose([load("S", 1, unit="station"), load("C", 1, unit="U")], unit="U").person_id == "C"
