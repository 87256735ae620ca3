"""Notification's tables (services/notification/migrations): the phones per case, the messages, opt-outs, staff
notices and what the recording gateway recorded.

The migrations are what runs; these models are what the code reads rows into and writes from. A test holds
the two together (tests/integration/test_models.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class NotificationModel(SQLModel, registry=registry()):
    """notification's own tables (the backbone's are services.backbone.models)."""


class Recipient(NotificationModel, table=True):
    __tablename__ = "recipients"
    case_id: str = Field(sa_type=Text, primary_key=True)
    phone: str = Field(sa_type=Text, primary_key=True)
    learnt_at: datetime = Field(sa_type=DateTime(timezone=True))


class CaseInfo(NotificationModel, table=True):
    __tablename__ = "cases"
    case_id: str = Field(sa_type=Text, primary_key=True)
    org_unit: str | None = Field(default=None, sa_type=Text)
    mediator_id: str | None = Field(default=None, sa_type=Text)
    mediator_name: str | None = Field(default=None, sa_type=Text)
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))


class Message(NotificationModel, table=True):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("event_id", "phone", name="messages_event_id_phone_key"),
        Index("messages_due", "not_before", postgresql_where=text("(state = ANY (ARRAY['queued'::text, 'held'::text]))")),
        Index("messages_case", "case_id"),
        Index("messages_recent", "created_at"),
    )

    message_id: uuid.UUID = Field(primary_key=True)
    event_id: uuid.UUID
    case_id: str = Field(sa_type=Text)
    phone: str = Field(sa_type=Text)
    kind: str = Field(sa_type=Text)
    template_id: str = Field(sa_type=Text)
    params: Any = Field(sa_type=JSONB)
    text: str = Field(sa_type=Text)
    state: str = Field(sa_type=Text)
    attempts: int
    not_before: datetime = Field(sa_type=DateTime(timezone=True))
    event_at: datetime = Field(sa_type=DateTime(timezone=True))
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    sent_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    reason: str | None = Field(default=None, sa_type=Text)
    provider_ref: str | None = Field(default=None, sa_type=Text)
    gateway: str = Field(sa_type=Text)


class OptOut(NotificationModel, table=True):
    __tablename__ = "opt_outs"
    phone: str = Field(sa_type=Text, primary_key=True)
    reason: str = Field(sa_type=Text)
    actor: str = Field(sa_type=Text)
    at: datetime = Field(sa_type=DateTime(timezone=True))


class Notice(NotificationModel, table=True):
    __tablename__ = "notices"
    __table_args__ = (
        UniqueConstraint("event_id", "recipient", name="notices_event_id_recipient_key"),
        Index("notices_recipient", "recipient", "created_at"),
    )

    notice_id: uuid.UUID = Field(primary_key=True)
    event_id: uuid.UUID
    recipient: str = Field(sa_type=Text)
    case_id: str = Field(sa_type=Text)
    kind: str = Field(sa_type=Text)
    text: str = Field(sa_type=Text)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    read_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class RecordedSms(NotificationModel, table=True):
    __tablename__ = "recorded_sms"
    __table_args__ = (Index("recorded_sms_message", "message_id"),)

    id: int = Field(sa_type=BigInteger, primary_key=True)
    message_id: uuid.UUID
    phone: str = Field(sa_type=Text)
    text: str = Field(sa_type=Text)
    recorded_at: datetime = Field(sa_type=DateTime(timezone=True))
