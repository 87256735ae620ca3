"""A durable deadline's rules, free of I/O: when it warns, when it breaches, how pauses shift it.

The services decide the due times (tier rules, statutory clocks); this module decides what a
clock does with them. Transitions return the signals to publish.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, Literal

State = Literal["open", "paused", "met", "breached", "cancelled", "handed_over"]
Signal = Literal[
    "started", "warning", "breached", "paused", "resumed", "extended", "met", "cancelled", "handed_over"
]
PAUSE_REASONS = ("awaiting_materials", "awaiting_court_decision", "party_unreachable")
ACTIVE: tuple[State, ...] = ("open", "paused", "breached")


class DeadlineError(ValueError):
    """A transition the deadline's state does not allow."""


@dataclass(frozen=True)
class Deadline:
    id: uuid.UUID
    case_id: str
    kind: str
    owner: str
    state: State
    started_at: datetime
    due_at: datetime
    warn_at: datetime
    warn_ratio: float
    warned: bool = False
    paused_at: datetime | None = None
    pause_reason: str | None = None
    paused_seconds: float = 0.0
    provisional: bool = False
    org_unit: str | None = None
    met_at: datetime | None = None
    breached_at: datetime | None = None
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def next_fire_at(self) -> datetime | None:
        """When the scanner must look at this deadline next (None: nothing left to fire)."""
        if self.state != "open":
            return None
        return self.due_at if self.warned else min(self.warn_at, self.due_at)


def _warn_at(started_at: datetime, due_at: datetime, ratio: float) -> datetime:
    return started_at + (due_at - started_at) * ratio


def start(
    *,
    case_id: str,
    kind: str,
    owner: str,
    started_at: datetime,
    due_at: datetime,
    warn_ratio: float = 0.8,
    provisional: bool = False,
    org_unit: str | None = None,
    attributes: dict[str, Any] | None = None,
    deadline_id: uuid.UUID | None = None,
) -> Deadline:
    if due_at < started_at:
        raise DeadlineError("due_at is before started_at")
    if not 0 < warn_ratio <= 1:
        raise DeadlineError("warn_ratio must be in (0, 1]")
    return Deadline(
        id=deadline_id or uuid.uuid4(),
        case_id=case_id,
        kind=kind,
        owner=owner,
        state="open",
        started_at=started_at,
        due_at=due_at,
        warn_at=_warn_at(started_at, due_at, warn_ratio),
        warn_ratio=warn_ratio,
        provisional=provisional,
        org_unit=org_unit,
        attributes=dict(attributes or {}),
    )


def fire(d: Deadline, now: datetime) -> tuple[Deadline, list[Signal]]:
    """What is due at ``now``: a breach (which makes a pending warning moot) or a warning."""
    if d.state != "open":
        return d, []
    if now >= d.due_at:
        return replace(d, state="breached", warned=True, breached_at=d.due_at), ["breached"]
    if not d.warned and now >= d.warn_at:
        return replace(d, warned=True), ["warning"]
    return d, []


def pause(d: Deadline, *, at: datetime, reason: str) -> Deadline:
    if reason not in PAUSE_REASONS:
        raise DeadlineError(f"a clock may only pause for {', '.join(PAUSE_REASONS)}, not {reason!r}")
    if d.state != "open":
        raise DeadlineError(f"cannot pause a {d.state} deadline")
    return replace(d, state="paused", paused_at=at, pause_reason=reason)


def resume(d: Deadline, *, at: datetime) -> Deadline:
    """Resume a paused clock: the paused time shifts the due time (and a pending warning)."""
    if d.state != "paused" or d.paused_at is None:
        raise DeadlineError(f"cannot resume a {d.state} deadline")
    held = max(at - d.paused_at, timedelta(0))
    return replace(
        d,
        state="open",
        paused_at=None,
        pause_reason=None,
        paused_seconds=d.paused_seconds + held.total_seconds(),
        due_at=d.due_at + held,
        warn_at=d.warn_at + held,
    )


def extend(d: Deadline, *, due_at: datetime) -> Deadline:
    """Move the due time (e.g. +30 days on both parties' consent); the warning is re-armed."""
    if d.state not in ("open", "paused"):
        raise DeadlineError(f"cannot extend a {d.state} deadline")
    if due_at <= d.due_at:
        raise DeadlineError("an extension must move the due time later")
    warn_at = _warn_at(d.started_at, due_at, d.warn_ratio) + timedelta(seconds=d.paused_seconds)
    return replace(d, due_at=due_at, warn_at=warn_at, warned=False)


def reschedule(d: Deadline, *, due_at: datetime, provisional: bool) -> Deadline:
    """A new due time from a rule (reclassification, calendar data arriving); earlier or later."""
    if d.state not in ("open", "paused", "breached"):
        raise DeadlineError(f"cannot reschedule a {d.state} deadline")
    warn_at = _warn_at(d.started_at, due_at, d.warn_ratio) + timedelta(seconds=d.paused_seconds)
    state: State = "open" if d.state == "breached" else d.state
    return replace(d, due_at=due_at, warn_at=warn_at, warned=False, provisional=provisional,
                   state=state, breached_at=None)


def meet(d: Deadline, *, at: datetime) -> tuple[Deadline, bool]:
    """The stage reached a resolving outcome. Returns the deadline and whether it was on time."""
    if d.state not in ACTIVE:
        raise DeadlineError(f"cannot meet a {d.state} deadline")
    due = d.due_at
    if d.state == "paused" and d.paused_at is not None:
        due += max(at - d.paused_at, timedelta(0))
    return replace(d, state="met", met_at=at, paused_at=None), at <= due


def hand_over(d: Deadline) -> Deadline:
    """The clock leaves this service with the case (派单): the next owner adopts it as it is."""
    if d.state not in ACTIVE:
        raise DeadlineError(f"cannot hand over a {d.state} deadline")
    return replace(d, state="handed_over")


def adopt(d: Deadline, *, owner: str) -> Deadline:
    """Take over a handed-over clock: same id, start, due time, warning state and pauses."""
    return replace(d, owner=owner, state="paused" if d.paused_at is not None else
                   ("breached" if d.breached_at is not None else "open"))


def cancel(d: Deadline) -> Deadline:
    if d.state not in ACTIVE:
        raise DeadlineError(f"cannot cancel a {d.state} deadline")
    return replace(d, state="cancelled", paused_at=None)
