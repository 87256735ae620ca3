"""Events published by supervision (督办) on supervision.events."""

from __future__ import annotations

from typing import Literal

from events.common import Contract, Timestamp

AlertKind = Literal["warning", "overdue", "low_satisfaction", "unreachable", "calendar", "duplicate"]


class AlertChanged(Contract):
    """supervision.alert_raised / _escalated / _acknowledged / _resolved — the supervisors' board."""

    alert_id: int
    case_id: str | None
    kind: AlertKind
    org_unit: str | None
    escalated_to: str | None
    level: int
    at: Timestamp
    actor: str | None = None
    note: str | None = None
    deadline_kind: str | None = None
