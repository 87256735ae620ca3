"""Working-day calendar events (calendar.*): a year's data loaded, a year's data missing."""

from __future__ import annotations

from pydantic import Field

from events.common import Contract, Timestamp


class CalendarYearLoaded(Contract):
    """calendar.year_loaded — the operator loaded (or corrected) a year of the State Council's notice."""

    year: int = Field(ge=2000, le=2100)
    version: int = Field(ge=1)
    source: str
    holidays: list[str] = Field(description="ISO dates off work")
    workdays: list[str] = Field(description="ISO dates of make-up working days (调休上班) on weekends")


class CalendarYearMissing(Contract):
    """calendar.year_missing — an operator alert: deadlines in this year are provisional (Mon–Fri)."""

    year: int
    service: str
    detected_at: Timestamp
    case_id: str | None = None
