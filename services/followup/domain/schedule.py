"""When to call, and what a call's answers mean for the case. Pure."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from events.common import Instalment
from services.calendar.model import Count, WorkCalendar, local_date

DEFAULT_FILE = Path(__file__).parent.parent / "data" / "policy.json"


@dataclass(frozen=True)
class Policy:
    first_call_working_days: int = 5
    instalment_check_working_days: int = 1
    max_attempts: int = 3
    low_satisfaction_at_most: int = 2
    route_if_confirmed: str = "legal_aid"
    route_default: str = "mediation"

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Policy:
        route = raw.get("unpaid_route", {})
        return cls(int(raw.get("first_call_working_days", 5)), int(raw.get("instalment_check_working_days", 1)),
                   int(raw.get("max_attempts", 3)), int(raw.get("low_satisfaction_at_most", 2)),
                   route.get("confirmed_by_court", "legal_aid"), route.get("default", "mediation"))

    def unpaid_route(self, *, confirmed_by_court: bool) -> str:
        """A judicially confirmed agreement can be enforced (强制执行, with legal aid); otherwise back to mediation."""
        return self.route_if_confirmed if confirmed_by_court else self.route_default


@dataclass(frozen=True)
class Planned:
    kind: str  # first | instalment
    seq: int  # 0 for the first call, the instalment number otherwise
    due: Count
    amount: Decimal | None = None
    instalment_due: date | None = None


def plan(*, resolved_at: datetime, instalments: Sequence[Instalment], calendar: WorkCalendar, policy: Policy
         ) -> list[Planned]:
    """The first call N working days after resolution; a check one working day after each instalment is due."""
    calls = [Planned("first", 0, calendar.add_working_days(local_date(resolved_at), policy.first_call_working_days))]
    for n, inst in enumerate(instalments, start=1):
        due = date.fromisoformat(inst.due_date)
        calls.append(Planned("instalment", n, calendar.add_working_days(due, policy.instalment_check_working_days),
                             inst.amount_cny, due))
    return calls


def next_attempt(calendar: WorkCalendar, today: date) -> Count:
    """Not reached: try again the next working day."""
    return calendar.add_working_days(today, 1)


@dataclass(frozen=True)
class Call:
    kind: str
    state: str  # scheduled | done | unreachable | cancelled
    reached: bool | None = None
    paid: bool | None = None


def verdict(calls: Sequence[Call]) -> str:
    """open (more calls to come) | close | reopen | unreachable, from the calls made so far."""
    if any(c.kind == "instalment" and c.state == "done" and c.paid is False for c in calls):
        return "reopen"
    if any(c.state == "scheduled" for c in calls):
        return "open"
    if any(c.kind == "first" and c.state == "unreachable" for c in calls):
        return "unreachable"
    return "close"


def is_low(satisfaction: int | None, policy: Policy) -> bool:
    return satisfaction is not None and satisfaction <= policy.low_satisfaction_at_most


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    return Policy.from_json(json.loads(Path(os.environ.get("LABORCASE_FOLLOWUP_POLICY_FILE", DEFAULT_FILE)).read_text()))
