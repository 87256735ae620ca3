"""Mediation's tables (services/mediation/migrations): mediators, mediation cases, sessions.

The migrations are what runs; these models are what the code reads rows into and writes from. A test holds
the two together (tests/integration/test_models.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import DateTime, Index, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class MediationModel(SQLModel, registry=registry()):
    """mediation's own tables (the backbone's are services.backbone.models)."""


class MediationCaseRecord(MediationModel, table=True):
    """A mediation case as stored (the state machine is ``domain.case.MediationCase``)."""

    __tablename__ = "mediation_cases"
    __table_args__ = (
        Index(
            "mediation_cases_mediator",
            "mediator_id",
            postgresql_where=text("(state = ANY (ARRAY['offered'::text, 'in_mediation'::text, 'awaiting_confirmation'::text]))"),
        ),
        Index("mediation_cases_unit", "org_unit", "due_at", postgresql_where=text("(state <> 'resolved'::text)")),
        Index("mediation_cases_waiting", "due_at", "case_id", postgresql_where=text("(state = 'awaiting_assignment'::text)")),
    )

    case_id: str = Field(sa_type=Text, primary_key=True)
    org_unit: str = Field(sa_type=Text)
    kind: str = Field(sa_type=Text)
    state: str = Field(sa_type=Text)
    tier: str = Field(sa_type=Text)
    due_at: datetime = Field(sa_type=DateTime(timezone=True))
    received_at: datetime = Field(sa_type=DateTime(timezone=True))
    court_code: str | None = Field(default=None, sa_type=Text)
    court_case_no: str | None = Field(default=None, sa_type=Text)
    referral_kind: str | None = Field(default=None, sa_type=Text)
    procedure: str | None = Field(default=None, sa_type=Text)
    bureau_code: str | None = Field(default=None, sa_type=Text)
    arbitration_case_no: str | None = Field(default=None, sa_type=Text)
    facts: Any = Field(sa_type=JSONB)
    group_dispute: bool
    mediator_id: str | None = Field(default=None, sa_type=Text)
    declined_by: list[str] = Field(sa_type=ARRAY(Text))
    signed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    outcome: str | None = Field(default=None, sa_type=Text)
    agreement: Any | None = Field(default=None, sa_type=JSONB)
    representatives: Any = Field(sa_type=JSONB)
    disputed_points: Any = Field(sa_type=JSONB)
    opened_at: datetime = Field(sa_type=DateTime(timezone=True))
    resolved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))


class Mediator(MediationModel, table=True):
    __tablename__ = "mediators"
    __table_args__ = (Index("mediators_unit", "org_unit", postgresql_where=text("active")),)

    mediator_id: str = Field(sa_type=Text, primary_key=True)
    name: str = Field(sa_type=Text)
    org_unit: str = Field(sa_type=Text)
    capacity: int
    active: bool
    specialties: list[str] = Field(sa_type=ARRAY(Text))
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))


class PartnerRef(MediationModel, table=True):
    __tablename__ = "partner_refs"
    kind: str = Field(sa_type=Text, primary_key=True)
    ref: str = Field(sa_type=Text, primary_key=True)
    case_id: str = Field(sa_type=Text)


class MediationSession(MediationModel, table=True):
    """A mediation session (调解会): scheduled, then recorded as held."""

    __tablename__ = "sessions"
    __table_args__ = (Index("sessions_case", "case_id", "scheduled_at"),)

    session_id: uuid.UUID = Field(primary_key=True)
    case_id: str = Field(sa_type=Text)
    scheduled_at: datetime = Field(sa_type=DateTime(timezone=True))
    location: str = Field(sa_type=Text)
    held_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    parties_present: Any = Field(sa_type=JSONB)
    notes: str = Field(sa_type=Text)
    result: str = Field(sa_type=Text)
    created_by: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
