"""Events published by supervision (督办) on supervision.events."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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


class WorkerRated(Contract):
    """supervision.worker_rated — the worker rated the service online (评价) once the case was resolved: 1–5 and
    a comment. Follow-up takes it as the worker's satisfaction; the statistics count it."""

    case_id: str
    score: int = Field(ge=1, le=5)
    comment: str = Field(default="", max_length=500)
    rated_at: Timestamp
    org_unit: str | None = None
