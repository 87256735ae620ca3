"""Legal aid's tables (services/legal_aid/migrations): aid cases and lawyers.

The migrations are what runs; these models are what the code reads rows into and writes from. A test holds
the two together (tests/integration/test_models.py).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Index, Numeric, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class LegalAidModel(SQLModel, registry=registry()):
    """legal_aid's own tables (the backbone's are services.backbone.models)."""


class AidCase(LegalAidModel, table=True):
    __tablename__ = "aid_cases"
    __table_args__ = (
        Index(
            "aid_cases_arbitration",
            "arbitration_case_no",
            unique=True,
            postgresql_where=text("(arbitration_case_no IS NOT NULL)"),
        ),
        Index("aid_cases_lawyer", "lawyer_id", postgresql_where=text("(state = 'represented'::text)")),
        Index("aid_cases_unit", "org_unit", "state"),
    )

    case_id: str = Field(sa_type=Text, primary_key=True)
    org_unit: str = Field(sa_type=Text)
    source: str = Field(sa_type=Text)
    state: str = Field(sa_type=Text)
    applied_at: datetime = Field(sa_type=DateTime(timezone=True))
    facts: Any = Field(sa_type=JSONB)
    employer_uscc: str = Field(sa_type=Text)
    claim_types: list[str] = Field(sa_type=ARRAY(Text))
    migrant_worker: bool
    monthly_income: Decimal | None = Field(default=None, sa_type=Numeric(14, 2))
    limitation_date: date | None = None
    disputed_points: Any = Field(sa_type=JSONB)
    decision: str | None = Field(default=None, sa_type=Text)
    decision_reasons: Any = Field(sa_type=JSONB)
    urgent: bool
    lawyer_id: str | None = Field(default=None, sa_type=Text)
    stage: str | None = Field(default=None, sa_type=Text)
    arbitration_case_no: str | None = Field(default=None, sa_type=Text)
    amount_awarded: Decimal | None = Field(default=None, sa_type=Numeric(14, 2))
    outcome: str | None = Field(default=None, sa_type=Text)
    method: str | None = Field(default=None, sa_type=Text)
    amount_recovered: Decimal | None = Field(default=None, sa_type=Numeric(14, 2))
    concluded_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))


class PendingTierChange(LegalAidModel, table=True):
    """intake's latest change of tier for a case not here yet: applied when the case arrives."""

    __tablename__ = "pending_tier_changes"
    case_id: str = Field(sa_type=Text, primary_key=True)
    from_tier: str = Field(sa_type=Text)
    to_tier: str = Field(sa_type=Text)
    due_at: datetime = Field(sa_type=DateTime(timezone=True))
    provisional: bool
    received_at: datetime = Field(sa_type=DateTime(timezone=True))
    actor: str = Field(sa_type=Text)
    reason: str = Field(sa_type=Text)
    kept_at: datetime = Field(sa_type=DateTime(timezone=True))


class LawyerConflict(LegalAidModel, table=True):
    __tablename__ = "lawyer_conflicts"
    lawyer_id: str = Field(sa_type=Text, primary_key=True)
    uscc: str = Field(sa_type=Text, primary_key=True)
    note: str = Field(sa_type=Text)


class Lawyer(LegalAidModel, table=True):
    __tablename__ = "lawyers"
    lawyer_id: str = Field(sa_type=Text, primary_key=True)
    name: str = Field(sa_type=Text)
    firm: str = Field(sa_type=Text)
    org_unit: str = Field(sa_type=Text)
    capacity: int
    active: bool
    specialties: list[str] = Field(sa_type=ARRAY(Text))
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))
