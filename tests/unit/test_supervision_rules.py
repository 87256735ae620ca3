from datetime import datetime, timedelta

import pytest

from services.calendar.model import SHANGHAI, WorkCalendar
from services.calendar.seed import package_years
from services.supervision.domain.escalation import next_escalation
from services.supervision.domain.forecast import OpenCase, forecast
from services.supervision.domain.timeline import describe
from services.supervision.stats import _safe, to_csv

pytestmark = pytest.mark.clock

CAL = WorkCalendar.of(package_years())


def test_escalation_one_working_day_later_same_time():
    assert next_escalation(datetime(2026, 3, 2, 23, 59, 59, tzinfo=SHANGHAI), CAL) == datetime(
        2026, 3, 3, 23, 59, 59, tzinfo=SHANGHAI)
    # Friday before National Day → Thursday Oct 8
    assert next_escalation(datetime(2026, 9, 30, 10, tzinfo=SHANGHAI), CAL).date().isoformat() == "2026-10-08"


def test_forecast_flags_what_the_queue_cannot_finish_in_time():
    now = datetime(2026, 3, 2, 9, tzinfo=SHANGHAI)  # Monday
    day = lambda n: datetime(2026, 3, 2 + n, 23, 59, 59, tzinfo=SHANGHAI)  # noqa: E731
    cases = [OpenCase(f"C{i}", "U", day(i // 2)) for i in range(6)]  # two due each day, Mon..Wed
    out = forecast(cases, capacity={"U": 1.0}, same_day_inflow={}, calendar=CAL, now=now)
    assert [c for c, _, _ in out[0].at_risk] == ["C1", "C2", "C3", "C4", "C5"]  # one a day cannot keep up
    relaxed = forecast(cases, capacity={"U": 3.0}, same_day_inflow={}, calendar=CAL, now=now)
    assert relaxed[0].at_risk == ()
    swamped = forecast(cases, capacity={"U": 3.0}, same_day_inflow={"U": 3.0}, calendar=CAL, now=now)
    assert len(swamped[0].at_risk) == 6  # the day's own general cases eat all capacity
    later = [OpenCase("far", "U", now + timedelta(days=30))]
    assert forecast(later, capacity={"U": 0.0}, same_day_inflow={}, calendar=CAL, now=now)[0].at_risk == ()


def test_timeline_reads_in_chinese():
    assert describe("mediation.failed", {"disputed_points": ["欠薪数额"]}) == "调解不成，争议焦点：欠薪数额"
    assert describe("deadline.breached", {"kind": "tier"}) == "办结期限：已超期"
    assert "升级督办" in describe("supervision.alert_escalated", {"escalated_to": "QH"})


def test_csv_is_excel_friendly_and_safe_against_formulas():
    stats = {"received": {"total": 1, "by_channel": {"hotline": 1}, "by_claim_type": {"=cmd|' /C calc'!A0": 1}},
             "workers": 1, "group_disputes": 0, "on_time": {}, "overdue_now": 0,
             "mediation": {"settled": 0, "failed": 0, "success_rate": None, "meets_target": False},
             "returned": {"court": 0, "arbitration": 0}, "legal_aid": {"cases": 0, "recovered_cny": 0},
             "satisfaction": {"responses": 0, "average": None}, "online_share": None}
    text = to_csv(stats)
    assert text.startswith("\ufeff类别,指标,数值")
    assert ",=cmd" not in text and "未知（=cmd" in text  # a code the glossary lacks is named as such, never run
    assert _safe("=cmd|' /C calc'!A0") == "'=cmd|' /C calc'!A0" and _safe("-5") == "'-5"
