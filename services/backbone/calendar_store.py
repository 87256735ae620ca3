"""The calendar in a service's database: seeding, loading a year, alerts and recomputation."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import date, datetime

import asyncpg

from events.calendar import CalendarYearLoaded, CalendarYearMissing
from services.calendar.model import WorkCalendar, YearData
from services.calendar.seed import package_years

log = logging.getLogger(__name__)

#: A year from the package, unless the database has it already (operator data is never overwritten).
SEED_YEAR = ("INSERT INTO calendar_years (year, version, source, holidays, workdays) "
             "SELECT $1, $2, $3, $4, $5 WHERE NOT EXISTS (SELECT 1 FROM calendar_years WHERE year = $1)")
ALL_YEARS = "SELECT year, version, source, holidays, workdays FROM calendar_years"
#: The year's data arrived: its missing-year alert is resolved.
RESOLVE_ALERT = "UPDATE calendar_alerts SET resolved_at = now() WHERE year = $1"
LATEST_VERSION = "SELECT version, holidays, workdays FROM calendar_years WHERE year = $1 ORDER BY version DESC LIMIT 1"
SAVE_VERSION = ("INSERT INTO calendar_years (year, version, source, holidays, workdays) VALUES ($1, $2, $3, $4, $5) "
                "ON CONFLICT (year, version) DO NOTHING")
#: Returns the year only the first time it is found missing (the alert is published once).
FIRST_ALERT = "INSERT INTO calendar_alerts (year) VALUES ($1) ON CONFLICT (year) DO NOTHING RETURNING year"


async def seed(conn: asyncpg.Connection | asyncpg.Pool, years: Iterable[YearData] | None = None) -> None:
    """Insert the package's years that the database does not have yet (operator data is never overwritten)."""
    rows = [(y.year, y.version, y.source, sorted(y.holidays), sorted(y.workdays))
            for y in (years if years is not None else package_years())]
    await conn.executemany(SEED_YEAR, rows)


async def load(conn: asyncpg.Connection | asyncpg.Pool) -> WorkCalendar:
    rows = await conn.fetch(ALL_YEARS)
    return WorkCalendar.of(YearData(r["year"], frozenset(r["holidays"]), frozenset(r["workdays"]), r["source"],
                                    r["version"]) for r in rows)


async def save_year(conn: asyncpg.Connection, year: YearData) -> YearData:
    """Store a year as its next version (idempotent for identical data)."""
    await conn.execute(RESOLVE_ALERT, year.year)
    current = await conn.fetchrow(LATEST_VERSION, year.year)
    if current and frozenset(current["holidays"]) == year.holidays and frozenset(current["workdays"]) == year.workdays:
        return YearData(year.year, year.holidays, year.workdays, year.source, current["version"])
    version = max(year.version, (current["version"] + 1) if current else 1)
    await conn.execute(
        SAVE_VERSION, year.year, version, year.source, sorted(year.holidays), sorted(year.workdays))
    return YearData(year.year, year.holidays, year.workdays, year.source, version)


def loaded_event(year: YearData) -> CalendarYearLoaded:
    return CalendarYearLoaded(year=year.year, version=year.version, source=year.source,
                              holidays=sorted(d.isoformat() for d in year.holidays),
                              workdays=sorted(d.isoformat() for d in year.workdays))


def year_of(event: CalendarYearLoaded) -> YearData:
    return YearData(event.year, frozenset(date.fromisoformat(d) for d in event.holidays),
                    frozenset(date.fromisoformat(d) for d in event.workdays), event.source, event.version)


async def missing_year_alerts(conn: asyncpg.Connection, years: Sequence[int], *, service: str,
                              case_id: str | None, at: datetime) -> list[CalendarYearMissing]:
    """Alerts for years first found missing (once per year); the caller publishes them."""
    alerts = []
    for year in years:
        inserted = await conn.fetchval(FIRST_ALERT, year)
        if inserted is not None:
            log.warning("no working-day calendar for year; deadlines are provisional (Mon-Fri)",
                        extra={"year": year, "case_id": case_id})
            alerts.append(CalendarYearMissing(year=year, service=service, detected_at=at, case_id=case_id))
    return alerts

