"""Follow-up's tables (services/followup/migrations): the cases followed up and their calls.

The migrations are what runs; these models are what the code reads rows into and writes from. A test holds
the two together (tests/integration/test_models.py).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Index, Numeric, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class FollowupModel(SQLModel, registry=registry()):
    """followup's own tables (the backbone's are services.backbone.models)."""


class FollowupCase(FollowupModel, table=True):
    __tablename__ = "followup_cases"
    case_id: str = Field(sa_type=Text, primary_key=True)
    source: str = Field(sa_type=Text)
    org_unit: str = Field(sa_type=Text)
    outcome: str = Field(sa_type=Text)
    resolved_at: datetime = Field(sa_type=DateTime(timezone=True))
    confirmed_by_court: bool
    agreement: Any | None = Field(default=None, sa_type=JSONB)
    state: str = Field(sa_type=Text)
    satisfaction: int | None = None
    comment: str | None = Field(default=None, sa_type=Text)
    flagged: bool
    closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    cycle: int
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))


class Followup(FollowupModel, table=True):
    __tablename__ = "followups"
    __table_args__ = (
        UniqueConstraint("case_id", "cycle", "kind", "seq", name="followups_case_id_cycle_kind_seq_key"),
        Index("followups_due", "due_date", postgresql_where=text("(state = 'scheduled'::text)")),
    )

    followup_id: uuid.UUID = Field(primary_key=True)
    case_id: str = Field(sa_type=Text)
    cycle: int
    kind: str = Field(sa_type=Text)
    seq: int
    due_date: date
    instalment_due: date | None = None
    amount: Decimal | None = Field(default=None, sa_type=Numeric(14, 2))
    state: str = Field(sa_type=Text)
    attempts: int
    reached: bool | None = None
    paid: bool | None = None
    satisfaction: int | None = None
    comment: str = Field(sa_type=Text)
    done_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class CaseFacts(FollowupModel, table=True):
    """Who to call about a case (learnt from intake's events): the workers (name, phone), employer, summary."""

    __tablename__ = "case_facts"
    case_id: str = Field(sa_type=Text, primary_key=True)
    workers: Any = Field(sa_type=JSONB)
    employer: str = Field(sa_type=Text)
    summary: str = Field(sa_type=Text)
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))
