"""Events published by follow-up (回访) on followup.events."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from events.common import AmountCNY, Contract, Timestamp

Kind = Literal["first", "instalment"]


class FollowupScheduled(Contract):
    """followup.scheduled — a call planned: the first follow-up, or an instalment check."""

    case_id: str
    followup_id: str
    kind: Kind
    due_date: str = Field(description="ISO date, Asia/Shanghai")
    instalment_no: int | None = None
    amount_cny: AmountCNY | None = None


class FollowupAttempted(Contract):
    """followup.attempted — a call made; not reached means another attempt (three by default)."""

    case_id: str
    followup_id: str
    reached: bool
    attempt: int
    next_attempt_date: str | None = None
    actor: str


class FollowupCompleted(Contract):
    """followup.completed — the worker was reached: satisfaction 1–5 and comment."""

    case_id: str
    followup_id: str
    satisfaction: int | None = Field(default=None, ge=1, le=5)
    comment: str = ""
    actor: str


class InstalmentChecked(Contract):
    """followup.instalment_paid / followup.instalment_missed — was an instalment of the agreement paid."""

    case_id: str
    instalment_no: int
    due_date: str
    amount_cny: AmountCNY
    actor: str


class FollowupEscalated(Contract):
    """followup.escalated — the agreement was not honoured: back to mediation, or enforcement via legal aid."""

    case_id: str
    route: Literal["mediation", "legal_aid"]
    reason: str
    confirmed_by_court: bool = False


class CaseClosed(Contract):
    """followup.case_closed — reached, satisfied or not, every instalment paid: the case is closed (结案)."""

    case_id: str
    closed_at: Timestamp
    satisfaction: int | None = None
    reason: str


class CaseReopened(Contract):
    """followup.case_reopened — the case reopens with its history (an unpaid instalment)."""

    case_id: str
    reopened_at: Timestamp
    reason: str
    route: Literal["mediation", "legal_aid"]


class CaseFlagged(Contract):
    """followup.flagged — low satisfaction or an unreachable worker, for the supervisor's attention."""

    case_id: str
    reason: Literal["low_satisfaction", "unreachable"]
    satisfaction: int | None = None
    comment: str = ""
