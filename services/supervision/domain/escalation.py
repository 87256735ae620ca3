"""Escalation (督办升级): a breached case goes to its unit's supervisor, then up one level per working day. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta

from services.calendar.model import SHANGHAI, WorkCalendar, local_date


def next_escalation(breach_at: datetime, calendar: WorkCalendar) -> datetime:
    """One working day later: the same time of day on the next working day (Asia/Shanghai)."""
    local = breach_at.astimezone(SHANGHAI)
    day = calendar.add_working_days(local_date(breach_at), 1).day
    return datetime.combine(day, local.timetz()) if local.tzinfo else local + timedelta(days=1)
