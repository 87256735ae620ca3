from datetime import date, datetime
from decimal import Decimal

import pytest

from events.common import Instalment
from services.calendar.model import SHANGHAI, WorkCalendar
from services.calendar.seed import package_years
from services.followup.domain.schedule import Call, Policy, is_low, next_attempt, plan, verdict

pytestmark = pytest.mark.clock

CAL = WorkCalendar.of(package_years())
POLICY = Policy()


def inst(day: str, amount: int = 1000) -> Instalment:
    return Instalment(due_date=day, amount_cny=Decimal(amount))


def test_first_call_five_working_days_after_resolution():
    calls = plan(resolved_at=datetime(2026, 9, 28, 16, tzinfo=SHANGHAI), instalments=[], calendar=CAL, policy=POLICY)
    # Sep 28 (Mon) → 29, 30, Oct 8, 9, 10 (Sat make-up day): the National Day break does not count
    assert [(c.kind, c.due.day) for c in calls] == [("first", date(2026, 10, 10))]


def test_instalment_checks_fall_one_working_day_after_due_dates_on_holidays_and_make_up_days():
    calls = plan(resolved_at=datetime(2026, 1, 5, 10, tzinfo=SHANGHAI), calendar=CAL, policy=POLICY,
                 instalments=[inst("2026-02-13"), inst("2026-02-16"), inst("2026-05-08"), inst("2026-10-01")])
    checks = {c.seq: c.due.day for c in calls if c.kind == "instalment"}
    assert checks[1] == date(2026, 2, 14)  # Fri Feb 13 due → Sat Feb 14, a make-up working day
    assert checks[2] == date(2026, 2, 24)  # due during the Spring Festival → first working day after it
    assert checks[3] == date(2026, 5, 9)  # Fri May 8 → Sat May 9 make-up day
    assert checks[4] == date(2026, 10, 8)  # National Day → Oct 8
    assert calls[0].due.day == date(2026, 1, 12)


def test_not_reached_retries_next_working_day():
    assert next_attempt(CAL, date(2026, 9, 30)).day == date(2026, 10, 8)


def test_verdicts():
    assert verdict([Call("first", "done", True), Call("instalment", "scheduled")]) == "open"
    assert verdict([Call("first", "done", True), Call("instalment", "done", True, True)]) == "close"
    assert verdict([Call("first", "done", True), Call("instalment", "done", True, False),
                    Call("instalment", "scheduled")]) == "reopen"
    assert verdict([Call("first", "unreachable", False)]) == "unreachable"


def test_low_satisfaction_and_unpaid_route():
    assert is_low(2, POLICY) and not is_low(3, POLICY) and not is_low(None, POLICY)
    assert POLICY.unpaid_route(confirmed_by_court=True) == "legal_aid"
    assert POLICY.unpaid_route(confirmed_by_court=False) == "mediation"
