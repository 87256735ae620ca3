"""The legal-aid case's state machine (pure).

    under_review ─approve→ approved ─assign lawyer→ represented ─conclude→ concluded
         │  └─ urgent: assign lawyer before the decision (Art. 44) → represented (decision still due)
         └─deny→ denied ─object→ objected ─review: overturned→ approved
                                          └─ upheld → closed
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from events.glossary import zh

State = Literal["under_review", "approved", "denied", "objected", "represented", "concluded", "closed"]
OPEN: tuple[State, ...] = ("under_review", "approved", "denied", "objected", "represented")


class LegalAidError(ValueError):
    """A step the case's state does not allow (message in Chinese)."""


@dataclass(frozen=True)
class LegalAidCase:
    case_id: str
    state: State = "under_review"
    decision: str | None = None
    urgent: bool = False
    lawyer_id: str | None = None

    def _require(self, *states: State, action: str) -> None:
        if self.state not in states:
            raise LegalAidError(f"案件当前状态为“{zh('legal_aid_state', self.state)}”，不能{action}")

    def decide(self, decision: str) -> LegalAidCase:
        if self.state == "represented" and self.urgent and self.decision is None:
            if decision == "denied":
                raise LegalAidError("已先行提供法律援助的案件如需终止，请登记结案并说明理由")
            return replace(self, decision="approved")
        self._require("under_review", action="作出援助决定")
        return replace(self, state="approved" if decision == "approved" else "denied", decision=decision)

    def object(self) -> LegalAidCase:
        self._require("denied", action="提出异议")
        return replace(self, state="objected")

    def review(self, *, upheld: bool) -> LegalAidCase:
        self._require("objected", action="审查异议")
        return replace(self, state="closed" if upheld else "approved", decision="denied" if upheld else "approved")

    def assign(self, lawyer_id: str, *, urgent: bool) -> LegalAidCase:
        if urgent and self.state == "under_review":
            return replace(self, state="represented", lawyer_id=lawyer_id, urgent=True)
        self._require("approved", "represented", action="指派律师")
        return replace(self, state="represented", lawyer_id=lawyer_id)

    def progress(self) -> LegalAidCase:
        self._require("represented", action="登记代理进展")
        return self

    def reopen(self) -> LegalAidCase:
        """An award or agreement not honoured: representation resumes (enforcement)."""
        self._require("concluded", action="重新代理")
        return replace(self, state="represented")

    def conclude(self) -> LegalAidCase:
        self._require("represented", action="登记办结")
        return replace(self, state="concluded")
