"""Due times on the working-day calendar (docs/domain/tiers-and-calendar.md, docs/domain/statutory-clocks.md), pure.

A ``DueRule`` is stored with a deadline so that any service can recompute it when the calendar
changes (next year's notice loaded, a correction) — the due time follows the rule, not a copy.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from events.common import Tier
from services.calendar.model import Count, WorkCalendar, end_of_day, local_date

Method = Literal["same_working_day", "working_days", "calendar_days", "calendar_days_rolled", "hours"]


@dataclass(frozen=True)
class DueRule:
    """How a due time is computed from a start instant.

    - ``same_working_day``: 23:59:59 of the start's day if it is a working day, else of the next one.
    - ``working_days``: 23:59:59 of the n-th working day after the start's day (that day not counted).
    - ``calendar_days``: 23:59:59 of the n-th calendar day after the start's day (statutory periods).
    - ``calendar_days_rolled``: 23:59:59 of the n-th calendar day after the start's day, rolled forward to
      the next working day when that day is not one.
    - ``hours``: start + n hours, exactly.
    """

    method: Method
    days: int = 0
    start: datetime | None = None

    def due(self, calendar: WorkCalendar, start: datetime | None = None) -> tuple[datetime, bool]:
        """(due_at in Asia/Shanghai, provisional)."""
        start = start or self.start
        if start is None:
            raise ValueError("a due rule needs a start instant")
        if self.method == "hours":
            return start + timedelta(hours=self.days), False
        day = local_date(start)
        count: Count
        if self.method == "same_working_day":
            count = calendar.working_day_on_or_after(day)
        elif self.method == "working_days":
            count = calendar.add_working_days(day, self.days)
        elif self.method == "calendar_days":
            count = Count(day + timedelta(days=self.days), False)
        elif self.method == "calendar_days_rolled":
            target = day + timedelta(days=self.days)
            rolled = calendar.working_day_on_or_after(target)
            count = Count(rolled.day, rolled.provisional or bool(calendar.missing_years(day)))
        else:  # pragma: no cover - Literal exhausts it
            raise ValueError(self.method)
        return end_of_day(count.day), count.provisional

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "days": self.days, "start": self.start.isoformat() if self.start else None}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> DueRule:
        start = datetime.fromisoformat(raw["start"]) if raw.get("start") else None
        return cls(method=raw["method"], days=int(raw.get("days", 0)), start=start)


#: The 12351 rule: 一般问题当天办结、难点问题5个工作日办完、特别复杂问题15天内研究解决.
TIER_RULES: dict[Tier, tuple[Method, int]] = {
    Tier.general: ("same_working_day", 0),
    Tier.difficult: ("working_days", 5),
    Tier.complex: ("calendar_days_rolled", 15),
}


def tier_rule(tier: Tier | str, received_at: datetime) -> DueRule:
    method, days = TIER_RULES[Tier(tier)]
    return DueRule(method, days, received_at)
