"""The working-day calendar against the State Council's notices for 2025 and 2026, written out here
independently of the data package, and the 1 / 5 / 15 tier rule on it."""

from datetime import UTC, date, datetime, timedelta, timezone

import pytest

from events.common import Tier
from services.calendar.model import SHANGHAI, WorkCalendar, local_date
from services.calendar.rules import DueRule, tier_rule
from services.calendar.seed import package_years, parse_year_file

pytestmark = pytest.mark.clock


def _days(start: str, end: str) -> set[date]:
    a, b = date.fromisoformat(start), date.fromisoformat(end)
    return {a + timedelta(days=i) for i in range((b - a).days + 1)}


# 国务院办公厅关于2025年部分节假日安排的通知
NOTICE_2025_OFF = (_days("2025-01-01", "2025-01-01") | _days("2025-01-28", "2025-02-04")
                   | _days("2025-04-04", "2025-04-06") | _days("2025-05-01", "2025-05-05")
                   | _days("2025-05-31", "2025-06-02") | _days("2025-10-01", "2025-10-08"))
NOTICE_2025_MAKEUP = {date(2025, 1, 26), date(2025, 2, 8), date(2025, 4, 27), date(2025, 9, 28), date(2025, 10, 11)}
# 国务院办公厅关于2026年部分节假日安排的通知
NOTICE_2026_OFF = (_days("2026-01-01", "2026-01-03") | _days("2026-02-15", "2026-02-23")
                   | _days("2026-04-04", "2026-04-06") | _days("2026-05-01", "2026-05-05")
                   | _days("2026-06-19", "2026-06-21") | _days("2026-09-25", "2026-09-27")
                   | _days("2026-10-01", "2026-10-07"))
NOTICE_2026_MAKEUP = {date(2026, 1, 4), date(2026, 2, 14), date(2026, 2, 28), date(2026, 5, 9), date(2026, 9, 20),
                      date(2026, 10, 10)}

CAL = WorkCalendar.of(package_years())


@pytest.mark.parametrize(("year", "off", "makeup"), [(2025, NOTICE_2025_OFF, NOTICE_2025_MAKEUP),
                                                      (2026, NOTICE_2026_OFF, NOTICE_2026_MAKEUP)])
def test_every_day_of_the_year_matches_the_notice(year, off, makeup):
    for day in _days(f"{year}-01-01", f"{year}-12-31"):
        expected = day in makeup or (day.weekday() < 5 and day not in off)
        assert CAL.is_working_day(day) == expected, day


def test_make_up_days_are_weekend_working_days():
    for day in NOTICE_2026_MAKEUP:
        assert day.weekday() >= 5 and CAL.is_working_day(day)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


def due(tier: str, received: str) -> tuple[datetime, bool]:
    return tier_rule(Tier(tier), at(received)).due(CAL)


def eod(day: str) -> datetime:
    return datetime.fromisoformat(f"{day}T23:59:59+08:00")


@pytest.mark.parametrize(("received", "expected"), [
    ("2026-03-02T10:00:00+08:00", "2026-03-02"),  # an ordinary Monday
    ("2026-02-14T09:00:00+08:00", "2026-02-14"),  # Saturday, but a make-up working day
    ("2026-02-15T09:00:00+08:00", "2026-02-24"),  # first day of the Spring Festival break
    ("2026-02-23T09:00:00+08:00", "2026-02-24"),  # last day of the break (a Monday)
    ("2026-03-07T09:00:00+08:00", "2026-03-09"),  # an ordinary Saturday
    ("2026-10-10T09:00:00+08:00", "2026-10-10"),  # Saturday make-up day after National Day
    ("2026-03-01T17:30:00+00:00", "2026-03-02"),  # UTC Sunday evening is Monday 01:30 in Shanghai
    ("2026-03-02T15:59:59Z", "2026-03-02"),  # 23:59:59 Shanghai, still Monday
    ("2026-03-02T16:00:00Z", "2026-03-03"),  # midnight Shanghai: Tuesday
    ("2026-03-02T20:00:00-05:00", "2026-03-03"),  # New York evening is Tuesday morning in Shanghai
])
def test_general_is_the_same_working_day(received, expected):
    assert due("general", received) == (eod(expected), False)


@pytest.mark.parametrize(("received", "expected"), [
    ("2026-03-02T10:00:00+08:00", "2026-03-09"),  # Mon → next Mon; the day received is not counted
    ("2026-09-18T10:00:00+08:00", "2026-09-24"),  # counts the make-up Sunday Sep 20
    ("2026-09-29T10:00:00+08:00", "2026-10-12"),  # across National Day, counts the make-up Sat Oct 10
    ("2026-02-13T10:00:00+08:00", "2026-02-27"),  # counts Sat Feb 14, skips the 9-day break
    ("2026-02-15T10:00:00+08:00", "2026-02-28"),  # received in the break; Sat Feb 28 is the 5th working day
    ("2025-01-24T10:00:00+08:00", "2025-02-07"),  # 2025: counts Sun Jan 26, skips Jan 28 – Feb 4
    ("2026-04-30T16:30:00Z", "2026-05-11"),  # May 1 (Shanghai); Labour Day break; counts Sat May 9
])
def test_difficult_is_five_working_days_after(received, expected):
    assert due("difficult", received) == (eod(expected), False)


@pytest.mark.parametrize(("received", "expected"), [
    ("2026-03-02T10:00:00+08:00", "2026-03-17"),  # +15 = Tue Mar 17
    ("2026-09-16T10:00:00+08:00", "2026-10-08"),  # +15 = Oct 1 (holiday) → Oct 8
    ("2026-01-30T10:00:00+08:00", "2026-02-14"),  # +15 = Sat Feb 14, a make-up working day
    ("2026-02-01T10:00:00+08:00", "2026-02-24"),  # +15 = Feb 16 (Spring Festival) → Feb 24
    ("2026-03-06T10:00:00+08:00", "2026-03-23"),  # +15 = Sat Mar 21 → Mon Mar 23
])
def test_complex_is_fifteen_calendar_days_rolled_to_a_working_day(received, expected):
    assert due("complex", received) == (eod(expected), False)


def test_year_without_data_falls_back_to_weekdays_and_is_provisional():
    cal = WorkCalendar.of(y for y in package_years() if y.year <= 2026)
    assert not cal.has_year(2027)
    due_at, provisional = tier_rule(Tier.difficult, at("2026-12-30T10:00:00+08:00")).due(cal)
    assert provisional and due_at == eod("2027-01-06")  # Mon–Fri only: Jan 1 2027 counted
    due_at, provisional = tier_rule(Tier.general, at("2027-03-06T10:00:00+08:00")).due(cal)
    assert provisional and due_at == eod("2027-03-08")  # Saturday → Monday
    assert tier_rule(Tier.general, at("2026-12-30T10:00:00+08:00")).due(cal)[1] is False


def test_loaded_year_replaces_the_fallback():
    cal = WorkCalendar.of([*package_years(), parse_year_file(
        {"year": 2027, "holidays": ["2027-01-01"], "workdays": [], "source": "test notice"})])
    due_at, provisional = tier_rule(Tier.difficult, at("2026-12-30T10:00:00+08:00")).due(cal)
    assert not provisional and due_at == eod("2027-01-07")


def test_year_file_is_validated():
    with pytest.raises(ValueError, match="not a Saturday or Sunday"):
        parse_year_file({"year": 2027, "workdays": ["2027-01-04"]})
    with pytest.raises(ValueError, match="not in 2027"):
        parse_year_file({"year": 2027, "holidays": ["2026-01-01"]})
    with pytest.raises(ValueError):
        parse_year_file({"holidays": []})


def test_rule_round_trips_through_json():
    rule = tier_rule(Tier.complex, at("2026-09-16T10:00:00+08:00"))
    assert DueRule.from_json(rule.to_json()).due(CAL) == rule.due(CAL)


def test_local_date_needs_an_offset():
    assert local_date(datetime(2026, 3, 1, 17, 0, tzinfo=UTC)) == date(2026, 3, 2)
    assert local_date(datetime(2026, 3, 2, 1, 0, tzinfo=timezone(timedelta(hours=8)))) == date(2026, 3, 2)
    assert SHANGHAI.utcoffset(None) == timedelta(hours=8)
    with pytest.raises(ValueError):
        local_date(datetime(2026, 3, 2))
