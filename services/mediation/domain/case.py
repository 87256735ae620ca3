"""The mediation case's state machine (pure). Transitions raise ``MediationError`` when not allowed.

    awaiting_assignment ─offer→ offered ─accept→ in_mediation ─settle→ awaiting_confirmation (court cases)
          ▲                      │decline            │   │fail/withdraw          │confirmed → resolved
          └──────────────────────┘◀────reassign──────┘   ▼                       │rejected → in_mediation
                                                      resolved (settled | failed | withdrawn | closed_by_court)
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from events.common import Agreement

State = Literal["awaiting_assignment", "offered", "in_mediation", "awaiting_confirmation", "resolved"]
OPEN_STATES: tuple[State, ...] = ("awaiting_assignment", "offered", "in_mediation", "awaiting_confirmation")


class MediationError(ValueError):
    """A step the case's state does not allow (message in Chinese, for the mediator)."""


@dataclass(frozen=True)
class MediationCase:
    case_id: str
    org_unit: str
    kind: str
    state: State = "awaiting_assignment"
    mediator_id: str | None = None
    declined_by: tuple[str, ...] = ()
    signed_at: datetime | None = None
    outcome: str | None = None
    court_case_no: str | None = None

    @property
    def is_court_case(self) -> bool:
        return self.court_case_no is not None and self.kind.startswith("court")

    def _require(self, *states: State, action: str) -> None:
        if self.state not in states:
            raise MediationError(f"案件当前状态为“{STATE_ZH[self.state]}”，不能{action}")

    def offer(self, mediator_id: str) -> MediationCase:
        self._require("awaiting_assignment", "offered", action="分派调解员")
        return replace(self, state="offered", mediator_id=mediator_id)

    def accept(self, mediator_id: str, at: datetime) -> MediationCase:
        self._require("offered", action="接收案件")
        if mediator_id != self.mediator_id:
            raise MediationError("只有被分派的调解员可以接收案件")
        return replace(self, state="in_mediation", signed_at=self.signed_at or at)

    def decline(self, mediator_id: str) -> MediationCase:
        self._require("offered", action="拒绝案件")
        if mediator_id != self.mediator_id:
            raise MediationError("只有被分派的调解员可以拒绝案件")
        return replace(self, state="awaiting_assignment", mediator_id=None,
                       declined_by=(*self.declined_by, mediator_id))

    def reassign(self) -> MediationCase:
        self._require("offered", "in_mediation", action="改派")
        return replace(self, state="awaiting_assignment", mediator_id=None)

    def move_to(self, org_unit: str) -> MediationCase:
        """Re-dispatched to another unit (退单): assignment starts over there."""
        self._require(*OPEN_STATES, action="转交其他单位")
        return replace(self, org_unit=org_unit, state="awaiting_assignment", mediator_id=None, declined_by=())

    def hold_session(self) -> MediationCase:
        self._require("in_mediation", action="安排或记录调解")
        return self

    def settle(self) -> MediationCase:
        self._require("in_mediation", action="登记调解成功")
        if self.is_court_case:
            return replace(self, state="awaiting_confirmation", outcome="settled")
        return replace(self, state="resolved", outcome="settled")

    def confirmation(self, decision: str) -> MediationCase:
        self._require("awaiting_confirmation", action="登记司法确认结果")
        if decision == "confirmed":
            return replace(self, state="resolved", outcome="settled")
        return replace(self, state="in_mediation", outcome=None)

    def fail(self) -> MediationCase:
        self._require("in_mediation", action="登记调解不成")
        return replace(self, state="resolved", outcome="failed")

    def withdraw(self) -> MediationCase:
        self._require(*OPEN_STATES, action="撤回")
        return replace(self, state="resolved", outcome="withdrawn")

    def reopen(self) -> MediationCase:
        """The agreement was not honoured: mediation resumes with the same mediator (or a new one)."""
        self._require("resolved", action="重新调解")
        return replace(self, state="in_mediation" if self.mediator_id else "awaiting_assignment", outcome=None)

    def court_filed(self) -> MediationCase:
        if self.state == "resolved":
            return self
        return replace(self, state="resolved", outcome="closed_by_court")


STATE_ZH: dict[str, str] = {
    "awaiting_assignment": "待分派", "offered": "待接收", "in_mediation": "调解中",
    "awaiting_confirmation": "待司法确认", "resolved": "已结束",
}


def check_agreement(agreement: Agreement, *, settled_on: date) -> list[tuple[str, str]]:
    """(field, reason) problems of an agreement: instalments add up, in order, not before the settlement."""
    problems: list[tuple[str, str]] = []
    if agreement.instalments:
        total = sum((i.amount_cny for i in agreement.instalments), Decimal(0))
        if total != agreement.amount_cny:
            problems.append(("agreement.instalments",
                             f"分期金额合计 {total:,.2f} 元，与协议金额 {agreement.amount_cny:,.2f} 元不符"))
        dates: list[date] = []
        for n, i in enumerate(agreement.instalments):
            try:
                dates.append(date.fromisoformat(i.due_date))
            except ValueError:
                problems.append((f"agreement.instalments[{n}].due_date", "不是有效的日期"))
        if len(dates) != len(agreement.instalments):
            return problems
        if dates != sorted(dates) or len(set(dates)) != len(dates):
            problems.append(("agreement.instalments", "分期履行日期应按先后顺序排列且不重复"))
        if dates and dates[0] < settled_on:
            problems.append(("agreement.instalments[0].due_date", "分期履行日期不能早于达成协议之日"))
    return problems
