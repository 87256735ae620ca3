"""Working days, pure: which dates are working days, and counting them."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

#: China Standard Time. Asia/Shanghai has been UTC+8 without daylight saving since 1991.
SHANGHAI = timezone(timedelta(hours=8), "Asia/Shanghai")
END_OF_DAY = time(23, 59, 59)


@dataclass(frozen=True)
class YearData:
    """One year of the State Council's holiday notice."""

    year: int
    holidays: frozenset[date]
    #: make-up working days (调休上班) that fall on a Saturday or Sunday
    workdays: frozenset[date]
    source: str
    version: int = 1

    def __post_init__(self) -> None:
        for d in self.holidays | self.workdays:
            if d.year != self.year:
                raise ValueError(f"{d} is not in {self.year}")
        if self.holidays & self.workdays:
            raise ValueError(f"dates both holiday and working day: {sorted(self.holidays & self.workdays)}")
        for d in self.workdays:
            if d.weekday() < 5:
                raise ValueError(f"make-up working day {d} is not a Saturday or Sunday")


@dataclass(frozen=True)
class Count:
    """A date computed on the calendar, and whether any year it crossed lacked data."""

    day: date
    provisional: bool


@dataclass(frozen=True)
class WorkCalendar:
    years: Mapping[int, YearData] = field(default_factory=dict)

    @classmethod
    def of(cls, years: Iterable[YearData]) -> WorkCalendar:
        latest: dict[int, YearData] = {}
        for y in years:
            if y.year not in latest or y.version > latest[y.year].version:
                latest[y.year] = y
        return cls(latest)

    def has_year(self, year: int) -> bool:
        return year in self.years

    def is_working_day(self, day: date) -> bool:
        data = self.years.get(day.year)
        if data is not None:
            if day in data.workdays:
                return True
            if day in data.holidays:
                return False
        return day.weekday() < 5

    def _provisional(self, *days: date) -> bool:
        return any(d.year not in self.years for d in days)

    def working_day_on_or_after(self, day: date) -> Count:
        d = day
        while not self.is_working_day(d):
            d += timedelta(days=1)
        return Count(d, self._provisional(day, d))

    def add_working_days(self, day: date, n: int) -> Count:
        """The n-th working day after ``day`` (``day`` itself is not counted)."""
        d, counted, provisional = day, 0, self._provisional(day)
        while counted < n:
            d += timedelta(days=1)
            provisional = provisional or self._provisional(d)
            if self.is_working_day(d):
                counted += 1
        return Count(d, provisional)

    def working_days_between(self, start: date, end: date) -> int:
        """Working days in (start, end]."""
        return sum(1 for i in range(1, (end - start).days + 1) if self.is_working_day(start + timedelta(days=i)))

    def missing_years(self, *days: date) -> list[int]:
        return sorted({d.year for d in days if d.year not in self.years})


def local_date(instant: datetime) -> date:
    """The Asia/Shanghai date of an instant (an aware datetime in any offset)."""
    if instant.tzinfo is None:
        raise ValueError("an instant needs a UTC offset")
    return instant.astimezone(SHANGHAI).date()


def shanghai_iso(instant: datetime) -> str:
    """An instant as users read it: RFC 3339 in Asia/Shanghai (+08:00)."""
    return instant.astimezone(SHANGHAI).isoformat()


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, END_OF_DAY, SHANGHAI)
