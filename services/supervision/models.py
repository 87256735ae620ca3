"""Supervision's tables (services/supervision/migrations): the projected cases, timeline, deadlines, alerts.

The migrations are what runs; these models are what the code reads rows into and writes from. A test holds
the two together (tests/integration/test_models.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Numeric, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class SupervisionModel(SQLModel, registry=registry()):
    """supervision's own tables (the backbone's are services.backbone.models)."""


class Alert(SupervisionModel, table=True):
    __tablename__ = "alerts"
    __table_args__ = (
        Index(
            "alerts_one_open",
            "deadline_id",
            "kind",
            unique=True,
            postgresql_where=text("((state <> 'resolved'::text) AND (deadline_id IS NOT NULL))"),
        ),
        Index("alerts_open", "kind", "updated_at", postgresql_where=text("(state <> 'resolved'::text)")),
        Index("alerts_case", "case_id", postgresql_where=text("(state <> 'resolved'::text)")),
    )

    alert_id: int = Field(sa_type=BigInteger, primary_key=True)
    case_id: str | None = Field(default=None, sa_type=Text)
    deadline_id: str | None = Field(default=None, sa_type=Text)
    deadline_kind: str | None = Field(default=None, sa_type=Text)
    kind: str = Field(sa_type=Text)
    state: str = Field(sa_type=Text)
    org_unit: str | None = Field(default=None, sa_type=Text)
    escalated_to: str | None = Field(default=None, sa_type=Text)
    level: int
    due_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    breach_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    raised_at: datetime = Field(sa_type=DateTime(timezone=True))
    acknowledged_by: str | None = Field(default=None, sa_type=Text)
    ack_note: str | None = Field(default=None, sa_type=Text)
    acknowledged_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    resolved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    detail: Any = Field(sa_type=JSONB)
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))


class CaseDeadline(SupervisionModel, table=True):
    __tablename__ = "case_deadlines"
    __table_args__ = (Index("case_deadlines_case", "case_id"),)

    deadline_id: str = Field(sa_type=Text, primary_key=True)
    case_id: str = Field(sa_type=Text)
    kind: str = Field(sa_type=Text)
    owner: str = Field(sa_type=Text)
    state: str = Field(sa_type=Text)
    due_at: datetime = Field(sa_type=DateTime(timezone=True))
    org_unit: str | None = Field(default=None, sa_type=Text)
    provisional: bool
    on_time: bool | None = None
    changed_at: datetime = Field(sa_type=DateTime(timezone=True))


class CaseRef(SupervisionModel, table=True):
    __tablename__ = "case_refs"
    __table_args__ = (Index("case_refs_case", "case_id"),)

    ref: str = Field(sa_type=Text, primary_key=True)
    case_id: str = Field(sa_type=Text)


class Case(SupervisionModel, table=True):
    __tablename__ = "cases"
    __table_args__ = (
        Index("cases_received", "received_at"),
        Index("cases_region", "region_code"),
        Index("cases_unit", "org_unit"),
        Index("cases_due", "due_at"),
        Index("cases_status", "status"),
        Index("cases_mediator", "mediator_id"),
        Index("cases_worker_ids", "worker_ids", postgresql_using="gin"),
        Index("cases_parties_trgm", "parties", postgresql_using="gin", postgresql_ops={"parties": "gin_trgm_ops"}),
    )

    case_id: str = Field(sa_type=Text, primary_key=True)
    status: str | None = Field(default=None, sa_type=Text)
    status_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    stage: str | None = Field(default=None, sa_type=Text)
    stage_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    org_unit: str | None = Field(default=None, sa_type=Text)
    org_unit_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    tier: str | None = Field(default=None, sa_type=Text)
    tier_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    due_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    provisional: bool
    channel: str | None = Field(default=None, sa_type=Text)
    region_code: str | None = Field(default=None, sa_type=Text)
    received_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    worker_count: int
    claim_types: list[str] = Field(sa_type=ARRAY(Text))
    claim_amount: Decimal | None = Field(default=None, sa_type=Numeric(16, 2))
    group_dispute: bool
    route: str | None = Field(default=None, sa_type=Text)
    mediator_id: str | None = Field(default=None, sa_type=Text)
    mediation_outcome: str | None = Field(default=None, sa_type=Text)
    returned_to: str | None = Field(default=None, sa_type=Text)
    legal_aid: bool
    amount_recovered: Decimal | None = Field(default=None, sa_type=Numeric(16, 2))
    settled_amount: Decimal | None = Field(default=None, sa_type=Numeric(16, 2))
    satisfaction: int | None = None
    on_time: bool | None = None
    resolved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    closed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    reopened: int
    partner_code: str | None = Field(default=None, sa_type=Text)
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))
    worker_names: list[str] = Field(sa_type=ARRAY(Text))
    worker_ids: list[str] = Field(sa_type=ARRAY(Text))
    employer_name: str | None = Field(default=None, sa_type=Text)
    mediator_name: str | None = Field(default=None, sa_type=Text)
    parties: str = Field(sa_type=Text)


class PartnerEvent(SupervisionModel, table=True):
    __tablename__ = "partner_events"
    __table_args__ = (Index("partner_events_ref", "ref"),)

    event_id: uuid.UUID = Field(primary_key=True)
    ref: str = Field(sa_type=Text)
    type: str = Field(sa_type=Text)
    source: str = Field(sa_type=Text)
    at: datetime = Field(sa_type=DateTime(timezone=True))
    summary: str = Field(sa_type=Text)
    data: Any = Field(sa_type=JSONB)
    sender: str | None = Field(default=None, sa_type=Text)


class Timeline(SupervisionModel, table=True):
    __tablename__ = "timeline"
    __table_args__ = (Index("timeline_case", "case_id", "at", "seq"),)

    event_id: uuid.UUID = Field(primary_key=True)
    case_id: str = Field(sa_type=Text)
    type: str = Field(sa_type=Text)
    source: str = Field(sa_type=Text)
    at: datetime = Field(sa_type=DateTime(timezone=True))
    summary: str = Field(sa_type=Text)
    data: Any = Field(sa_type=JSONB)
    trace_id: str | None = Field(default=None, sa_type=Text)
    seq: int = Field(sa_type=BigInteger)


class PublicProgress(SupervisionModel, table=True):
    """The worker's view of a case (进度查询): the steps written for them and their codes' hashes."""

    __tablename__ = "public_progress"

    case_id: str = Field(sa_type=Text, primary_key=True)
    code_hashes: list[str] = Field(sa_type=ARRAY(Text), sa_column_kwargs={"server_default": text("'{}'::text[]")})
    steps: Any = Field(sa_type=JSONB, sa_column_kwargs={"server_default": text("'[]'::jsonb")})
    resolved: bool = Field(sa_column_kwargs={"server_default": text("false")})
    resolved_changed_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    org_unit: str | None = Field(default=None, sa_type=Text)
    updated_at: datetime = Field(sa_type=DateTime(timezone=True), sa_column_kwargs={"server_default": text("now()")})


class PublicRating(SupervisionModel, table=True):
    """The worker's rating of the service (评价), once per case."""

    __tablename__ = "public_ratings"

    case_id: str = Field(sa_type=Text, primary_key=True)
    score: int
    comment: str = Field(sa_type=Text, sa_column_kwargs={"server_default": text("''")})
    rated_at: datetime = Field(sa_type=DateTime(timezone=True))
