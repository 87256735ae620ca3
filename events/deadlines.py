"""Deadline signals (deadline.*): every service that owns a clock publishes them on its own topic."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from events.common import Contract, Timestamp

DeadlineState = Literal["open", "paused", "met", "breached", "cancelled"]
PauseReason = Literal["awaiting_materials", "awaiting_court_decision", "party_unreachable"]


class DeadlineSignal(Contract):
    """One change of a durable deadline: started, warning, breached, paused, resumed, extended, met, cancelled."""

    deadline_id: str
    case_id: str
    kind: str = Field(description="tier, union_mediation, court_entrusted, legal_aid_decision, ...")
    owner: str = Field(description="the service that owns the clock")
    state: DeadlineState
    started_at: Timestamp
    due_at: Timestamp
    warn_at: Timestamp
    at: Timestamp = Field(description="when the change happened")
    org_unit: str | None = None
    provisional: bool = False
    paused_seconds: float = 0
    pause_reason: PauseReason | None = None
    actor: str | None = None
    reason: str | None = None
    on_time: bool | None = Field(default=None, description="for met: resolved before due_at")
