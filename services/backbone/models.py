"""The backbone's tables, in every service's database (services/backbone/migrations): outbox, inbox, parked
events, deadlines, the broker marker, the working-day calendar, the case log, the audit log and sessions.

The migrations are what runs; these models are what the code reads rows into and writes from. A test holds
the two together (tests/integration/test_models.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any, TypeVar

from sqlalchemy import BigInteger, Date, DateTime, Double, Index, SmallInteger, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import configure_mappers, registry
from sqlmodel import Field, SQLModel


class BackboneModel(SQLModel, registry=registry()):
    """The backbone's tables: their own metadata, added to each service's."""


class AuditArchive(BackboneModel, table=True):
    __tablename__ = "audit_archives"
    month: str = Field(sa_type=Text, primary_key=True)
    row_count: int = Field(sa_type=BigInteger)
    sha256: str = Field(sa_type=Text)
    file: str = Field(sa_type=Text)
    archived_by: str = Field(sa_type=Text)
    archived_at: datetime = Field(sa_type=DateTime(timezone=True))


class AuditLog(BackboneModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (
        Index("audit_log_actor", "actor", "at"),
        Index("audit_log_case", "case_id", "at"),
    )

    id: int = Field(sa_type=BigInteger, primary_key=True)
    at: datetime = Field(sa_type=DateTime(timezone=True))
    service: str = Field(sa_type=Text)
    actor: str = Field(sa_type=Text)
    role: str = Field(sa_type=Text)
    org_unit: str | None = Field(default=None, sa_type=Text)
    action: str = Field(sa_type=Text)
    case_id: str | None = Field(default=None, sa_type=Text)
    method: str = Field(sa_type=Text)
    path: str = Field(sa_type=Text)
    status: int
    client: str | None = Field(default=None, sa_type=Text)
    forwarded_for: str | None = Field(default=None, sa_type=Text)
    detail: Any | None = Field(default=None, sa_type=JSONB)


class BrokerMarker(BackboneModel, table=True):
    __tablename__ = "broker_marker"
    service: str = Field(sa_type=Text, primary_key=True)
    marker: uuid.UUID
    written_at: datetime = Field(sa_type=DateTime(timezone=True))


class CalendarAlert(BackboneModel, table=True):
    __tablename__ = "calendar_alerts"
    year: int = Field(primary_key=True)
    detected_at: datetime = Field(sa_type=DateTime(timezone=True))
    resolved_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class CalendarYear(BackboneModel, table=True):
    __tablename__ = "calendar_years"
    year: int = Field(primary_key=True)
    version: int = Field(primary_key=True)
    source: str = Field(sa_type=Text)
    holidays: list[date] = Field(sa_type=ARRAY(Date))
    workdays: list[date] = Field(sa_type=ARRAY(Date))
    loaded_at: datetime = Field(sa_type=DateTime(timezone=True))


class CaseLog(BackboneModel, table=True):
    __tablename__ = "case_log"
    __table_args__ = (Index("case_log_case", "case_id", "id"),)

    id: int = Field(sa_type=BigInteger, primary_key=True)
    case_id: str = Field(sa_type=Text)
    at: datetime = Field(sa_type=DateTime(timezone=True))
    actor: str | None = Field(default=None, sa_type=Text)
    action: str = Field(sa_type=Text)
    detail: Any = Field(sa_type=JSONB)


class Deadline(BackboneModel, table=True):
    __tablename__ = "deadlines"
    __table_args__ = (
        Index(
            "deadlines_active",
            "case_id",
            "kind",
            unique=True,
            postgresql_where=text("(state = ANY (ARRAY['open'::text, 'paused'::text, 'breached'::text]))"),
        ),
        Index("deadlines_case", "case_id"),
        Index("deadlines_fire", "next_fire_at", postgresql_where=text("(next_fire_at IS NOT NULL)")),
    )

    id: uuid.UUID = Field(primary_key=True)
    case_id: str = Field(sa_type=Text)
    kind: str = Field(sa_type=Text)
    owner: str = Field(sa_type=Text)
    state: str = Field(sa_type=Text)
    started_at: datetime = Field(sa_type=DateTime(timezone=True))
    due_at: datetime = Field(sa_type=DateTime(timezone=True))
    warn_at: datetime = Field(sa_type=DateTime(timezone=True))
    warn_ratio: float = Field(sa_type=Double)
    warned: bool
    paused_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    pause_reason: str | None = Field(default=None, sa_type=Text)
    paused_seconds: float = Field(sa_type=Double)
    provisional: bool
    org_unit: str | None = Field(default=None, sa_type=Text)
    met_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    breached_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    next_fire_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    attributes: Any = Field(sa_type=JSONB)
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))


class Inbox(BackboneModel, table=True):
    __tablename__ = "inbox"
    __table_args__ = (Index("inbox_processed_at", "processed_at"),)

    event_id: uuid.UUID = Field(primary_key=True)
    event_type: str = Field(sa_type=Text)
    processed_at: datetime = Field(sa_type=DateTime(timezone=True))


class LoginThrottle(BackboneModel, table=True):
    __tablename__ = "login_throttle"
    key: str = Field(sa_type=Text, primary_key=True)
    failures: int
    last_failure: datetime = Field(sa_type=DateTime(timezone=True))
    locked_until: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))


class Outbox(BackboneModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        Index("outbox_pending", "lane", "id", postgresql_where=text("((published_at IS NULL) AND (refused_at IS NULL))")),
        Index("outbox_published", "published_at", postgresql_where=text("(published_at IS NOT NULL)")),
        Index("outbox_refused", "refused_at", postgresql_where=text("(refused_at IS NOT NULL)")),
    )

    id: int = Field(sa_type=BigInteger, primary_key=True)
    event_id: uuid.UUID | None = None
    event_type: str | None = Field(default=None, sa_type=Text)
    topic: str = Field(sa_type=Text)
    key: bytes | None = None
    value: bytes
    headers: Any = Field(sa_type=JSONB)
    lane: int = Field(sa_type=SmallInteger)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    published_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    refused_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
    refusal: str | None = Field(default=None, sa_type=Text)


class OutboxLane(BackboneModel, table=True):
    __tablename__ = "outbox_lane"
    lane: int = Field(sa_type=SmallInteger, primary_key=True)
    owner: str | None = Field(default=None, sa_type=Text)
    lease_until: datetime = Field(sa_type=DateTime(timezone=True))


class Parked(BackboneModel, table=True):
    __tablename__ = "parked"
    __table_args__ = (Index("parked_due", "next_attempt_at"),)

    event_id: uuid.UUID = Field(primary_key=True)
    event_type: str = Field(sa_type=Text)
    topic: str = Field(sa_type=Text)
    partition: int
    offset: int = Field(sa_type=BigInteger)
    key: bytes | None = None
    value: bytes | None = None
    headers: Any = Field(sa_type=JSONB)
    reason: str = Field(sa_type=Text)
    attempts: int
    parked_at: datetime = Field(sa_type=DateTime(timezone=True))
    next_attempt_at: datetime = Field(sa_type=DateTime(timezone=True))


class RevokedToken(BackboneModel, table=True):
    __tablename__ = "revoked_tokens"
    __table_args__ = (Index("revoked_tokens_revoked", "revoked_at"),)

    token_id: str = Field(sa_type=Text, primary_key=True)
    subject: str = Field(sa_type=Text)
    expires_at: datetime = Field(sa_type=DateTime(timezone=True))
    revoked_at: datetime = Field(sa_type=DateTime(timezone=True))


_PREPARED: dict[type, frozenset[str]] = {}
T = TypeVar("T", bound=SQLModel)


def from_row(model: type[T], row: Mapping[str, Any]) -> T:
    """A database row as its table's model, at the cost of a dict copy.

    ``model_validate`` would validate every column again and set each through SQLAlchemy's instrumentation
    (about 60 µs for a 25-column row, measured; the worklists read hundreds). The database has already typed
    every value (asyncpg decodes by column type) and tests/integration/test_models.py keeps the columns' types
    equal to the models', so the row's values are put in place as SQLAlchemy itself loads a row (about 3 µs).
    A row that lacks one of the model's columns is validated instead, which names what is missing.
    """
    fields = _PREPARED.get(model)
    if fields is None:
        configure_mappers()
        fields = _PREPARED[model] = frozenset(model.model_fields)
    values = dict(row)
    if not fields <= values.keys():
        return model.model_validate(values)
    if len(values) != len(fields):
        values = {k: values[k] for k in fields}
    obj = model._sa_class_manager.new_instance()  # type: ignore[attr-defined]
    obj.__dict__.update(values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(fields))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj
