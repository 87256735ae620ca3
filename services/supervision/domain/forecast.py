"""Breach forecast (what no ticketing system offers): which open cases will likely miss their deadline in the
next working days, per unit, given each unit's handling capacity and its inflow of same-day cases. Pure.

Model (ours, stated so it can be argued with): a unit works its queue earliest-deadline-first; it finishes
``capacity_per_day`` cases a working day, less the same-day ('general') cases its inflow brings each day, which
take priority. The k-th case in the queue (0-based) is finished at the end of working day ⌊k / effective⌋ from
today; a case is forecast to breach when that is after its due time.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from services.calendar.model import WorkCalendar, end_of_day, local_date


@dataclass(frozen=True)
class OpenCase:
    case_id: str
    org_unit: str
    due_at: datetime


@dataclass(frozen=True)
class UnitForecast:
    org_unit: str
    open_cases: int
    capacity_per_day: float
    effective_per_day: float
    at_risk: tuple[tuple[str, datetime, datetime], ...]  # (case_id, due_at, expected finish)


def forecast(cases: Iterable[OpenCase], *, capacity: Mapping[str, float], same_day_inflow: Mapping[str, float],
             calendar: WorkCalendar, now: datetime, horizon_working_days: int = 5) -> list[UnitForecast]:
    horizon_end = end_of_day(calendar.add_working_days(local_date(now), horizon_working_days).day)
    by_unit: dict[str, list[OpenCase]] = {}
    for c in cases:
        by_unit.setdefault(c.org_unit, []).append(c)
    out = []
    for unit, queue in sorted(by_unit.items()):
        queue.sort(key=lambda c: c.due_at)
        per_day = capacity.get(unit, 0.0)
        effective = max(per_day - same_day_inflow.get(unit, 0.0), 0.0)
        risky = []
        for k, case in enumerate(queue):
            if case.due_at > horizon_end:
                break
            if effective <= 0:
                finish = datetime.max.replace(tzinfo=case.due_at.tzinfo)
            else:
                day = math.floor(k / effective)
                finish = end_of_day(calendar.add_working_days(local_date(now), day).day if day else
                                    calendar.working_day_on_or_after(local_date(now)).day)
            if finish > case.due_at:
                risky.append((case.case_id, case.due_at, finish))
        out.append(UnitForecast(unit, len(queue), per_day, effective, tuple(risky)))
    return out
