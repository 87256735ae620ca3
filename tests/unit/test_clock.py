"""The business clock, and the tier rules read at the test clock's "now" (run at every shifted moment)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from events.common import Tier
from services.backbone.clock import Clock
from services.backbone.settings import Settings
from services.calendar.model import SHANGHAI, WorkCalendar, end_of_day, local_date
from services.calendar.rules import tier_rule
from services.calendar.seed import package_years
from tests import clock

pytestmark = pytest.mark.clock
CALENDAR = WorkCalendar.of(package_years())


def test_a_clock_set_to_a_moment_reads_it_and_keeps_ticking():
    moment = datetime(2026, 12, 31, 23, 30, tzinfo=SHANGHAI)
    c = Clock.at(moment)
    first = c.now()
    assert c.shifted and abs((first - moment).total_seconds()) < 1
    time.sleep(0.02)
    assert c.now() > first and c.now().tzinfo is UTC
    assert local_date(first).isoformat() == "2026-12-31" and first.date().isoformat() == "2026-12-31"
    assert local_date(first + timedelta(minutes=31)).isoformat() == "2027-01-01"  # 16:01 UTC, still Dec 31 in UTC
    assert not Clock().shifted
    with pytest.raises(ValueError):
        Clock.at(datetime(2026, 1, 1))


def test_services_take_the_offset_from_configuration(monkeypatch):
    monkeypatch.setenv("LABORCASE_CLOCK_OFFSET_SECONDS", "-86400")
    shifted = Settings().clock
    assert shifted.offset == timedelta(days=-1)
    assert abs((datetime.now(UTC) - shifted.now()).total_seconds() - 86400) < 1
    monkeypatch.delenv("LABORCASE_CLOCK_OFFSET_SECONDS")
    assert not Settings().clock.shifted


def test_the_shifted_moments_are_the_ones_that_break_naive_code():
    saturday = datetime.fromisoformat(clock.SHIFTED_MOMENTS["makeup-saturday"])
    assert saturday.weekday() == 5 and CALENDAR.is_working_day(saturday.date())
    eve = datetime.fromisoformat(clock.SHIFTED_MOMENTS["new-years-eve"])
    assert eve.astimezone(UTC).date() == eve.date() and (eve + timedelta(hours=1)).astimezone(SHANGHAI).year == 2027
    reaching = datetime.fromisoformat(clock.SHIFTED_MOMENTS["year-without-data"])
    assert not CALENDAR.has_year(reaching.year + 1)
    assert tier_rule(Tier.difficult, reaching).due(CALENDAR)[1]  # provisional: it reaches the next year


@pytest.mark.parametrize("tier", list(Tier))
def test_tier_due_dates_at_the_test_clocks_now(tier: Tier):
    """Whatever "now" is (the shifted-clock run sets it), the 1 / 5 / 15 rule holds on the Shanghai date."""
    received = clock.now()
    day = local_date(received)
    due_at, provisional = tier_rule(tier, received).due(CALENDAR)
    assert due_at.utcoffset() == timedelta(hours=8) and due_at.time().isoformat() == "23:59:59"
    due_day = due_at.date()
    assert CALENDAR.is_working_day(due_day)
    if tier is Tier.general:
        assert due_day == CALENDAR.working_day_on_or_after(day).day
        assert all(not CALENDAR.is_working_day(day + timedelta(days=i)) for i in range((due_day - day).days))
    elif tier is Tier.difficult:
        assert CALENDAR.working_days_between(day, due_day) == 5 and due_day > day
    else:
        target = day + timedelta(days=15)
        assert due_day >= target
        assert all(not CALENDAR.is_working_day(target + timedelta(days=i)) for i in range((due_day - target).days))
    crossed = {day.year + i for i in range(due_day.year - day.year + 1)}
    assert provisional == any(not CALENDAR.has_year(y) for y in crossed)
    assert due_at >= end_of_day(day)  # never before the end of the day received


def test_the_readme_test_command_runs_every_shifted_moment():
    import importlib.util
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("dev", Path(__file__).resolve().parents[2] / "dev.py")
    assert spec is not None and spec.loader is not None
    dev = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(dev)
    assert set(dev.SHIFTED_CLOCKS) == set(clock.SHIFTED_MOMENTS)
