"""Deadline signals (deadline.*): every service that owns a clock publishes them on its own topic."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from events.common import Contract, Timestamp

DeadlineState = Literal["open", "paused", "met", "breached", "cancelled", "handed_over"]
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


class DeadlineHandover(Contract):
    """A clock handed to the next owner with the case (派单): the owner adopts it unchanged."""

    deadline_id: str
    kind: str
    started_at: Timestamp
    due_at: Timestamp
    warn_at: Timestamp
    warn_ratio: float
    warned: bool = False
    paused_seconds: float = 0
    provisional: bool = False
    paused_at: Timestamp | None = None
    pause_reason: PauseReason | None = None
    breached_at: Timestamp | None = None
    due_rule: dict[str, Any] | None = Field(default=None, description="how to recompute due_at on calendar changes")
