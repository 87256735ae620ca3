"""The Chinese working-day calendar (工作日历): data, not code.

Per-year holidays and make-up working days (调休上班) from the State Council's yearly notice, seeded
from the ``chinese-calendar`` package and overridable by a file the operator loads. A year without
data falls back to Monday–Friday and every date computed from it is marked provisional.
"""

from services.calendar.model import SHANGHAI, WorkCalendar, YearData
from services.calendar.rules import DueRule, tier_rule

__all__ = ["SHANGHAI", "DueRule", "WorkCalendar", "YearData", "tier_rule"]
