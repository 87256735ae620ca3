"""Intake's tables (services/intake/migrations): cases, their workers and references, the partners' ingress.

The migrations are what runs; these models are what the code reads rows into and writes from. A test holds
the two together (tests/integration/test_models.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, LargeBinary, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import registry
from sqlmodel import Field, SQLModel


class IntakeModel(SQLModel, registry=registry()):
    """intake's own tables (the backbone's are services.backbone.models)."""


class CaseRef(IntakeModel, table=True):
    __tablename__ = "case_refs"
    __table_args__ = (Index("case_refs_case", "case_id"),)

    kind: str = Field(sa_type=Text, primary_key=True)
    ref: str = Field(sa_type=Text, primary_key=True)
    case_id: str = Field(sa_type=Text)


class CaseWorker(IntakeModel, table=True):
    __tablename__ = "case_workers"
    __table_args__ = (Index("case_workers_id_number", "id_number"),)

    case_id: str = Field(sa_type=Text, primary_key=True)
    id_number: str = Field(sa_type=Text, primary_key=True)
    name: str = Field(sa_type=Text)
    phone: str = Field(sa_type=Text)


class IntakeCase(IntakeModel, table=True):
    """A case as intake registered it (案件): its facts, triage, and where it was dispatched."""

    __tablename__ = "cases"
    __table_args__ = (
        Index(
            "cases_open_by_employer",
            "employer_uscc",
            postgresql_where=text("(status = ANY (ARRAY['received'::text, 'dispatched'::text]))"),
        ),
        Index("cases_registered_by", "registered_by", "received_at",
              postgresql_where=text("(registered_by IS NOT NULL)")),
    )

    case_id: str = Field(sa_type=Text, primary_key=True)
    status: str = Field(sa_type=Text)
    channel: str = Field(sa_type=Text)
    received_at: datetime = Field(sa_type=DateTime(timezone=True))
    region_code: str = Field(sa_type=Text)
    employer_uscc: str = Field(sa_type=Text)
    employer_name: str = Field(sa_type=Text)
    claim_types: list[str] = Field(sa_type=ARRAY(Text))
    worker_count: int
    group_dispute: bool
    tier: str = Field(sa_type=Text)
    tier_rule: str = Field(sa_type=Text)
    tier_reason: str | None = Field(default=None, sa_type=Text)
    due_at: datetime = Field(sa_type=DateTime(timezone=True))
    provisional: bool
    org_unit: str | None = Field(default=None, sa_type=Text)
    route: str | None = Field(default=None, sa_type=Text)
    dispatch_attempt: int
    court_code: str | None = Field(default=None, sa_type=Text)
    court_case_no: str | None = Field(default=None, sa_type=Text)
    bureau_code: str | None = Field(default=None, sa_type=Text)
    arbitration_case_no: str | None = Field(default=None, sa_type=Text)
    facts: Any = Field(sa_type=JSONB)
    warnings: Any = Field(sa_type=JSONB)
    answer: str | None = Field(default=None, sa_type=Text)
    #: the login of the clerk who registered it at the desk (None: a partner's referral, a script)
    registered_by: str | None = Field(default=None, sa_type=Text)
    created_at: datetime = Field(sa_type=DateTime(timezone=True))
    updated_at: datetime = Field(sa_type=DateTime(timezone=True))


class Ingress(IntakeModel, table=True):
    __tablename__ = "ingress"
    __table_args__ = (Index("ingress_received", "received_at"),)

    event_id: uuid.UUID = Field(primary_key=True)
    event_type: str = Field(sa_type=Text)
    received_at: datetime = Field(sa_type=DateTime(timezone=True))
    key_id: str | None = Field(default=None, sa_type=Text)


class Attachment(IntakeModel, table=True):
    """Evidence kept with a case (证据材料): the file's facts, and its bytes when stored in PostgreSQL."""

    __tablename__ = "attachments"
    __table_args__ = (Index("attachments_case", "case_id", "uploaded_at"),)

    attachment_id: uuid.UUID = Field(primary_key=True)
    case_id: str = Field(sa_type=Text)
    kind: str = Field(sa_type=Text)
    filename: str = Field(sa_type=Text)
    content_type: str = Field(sa_type=Text)
    size_bytes: int = Field(sa_type=BigInteger)
    sha256: str = Field(sa_type=Text)
    note: str = Field(sa_type=Text, sa_column_kwargs={"server_default": text("''")})
    #: the uploader's account (as the audit trail names them) and their name as people read it, at the upload
    uploaded_by: str = Field(sa_type=Text)
    uploaded_by_name: str | None = Field(default=None, sa_type=Text)
    uploaded_at: datetime = Field(sa_type=DateTime(timezone=True))
    storage: str = Field(sa_type=Text)
    object_key: str | None = Field(default=None, sa_type=Text)
    content: bytes | None = Field(default=None, sa_type=LargeBinary)


class RegistrationKey(IntakeModel, table=True):
    """A registration's Idempotency-Key: the same key from the same caller answers the case it registered."""

    __tablename__ = "registration_keys"
    __table_args__ = (Index("registration_keys_created", "created_at"),)

    caller: str = Field(sa_type=Text, primary_key=True)
    key: str = Field(sa_type=Text, primary_key=True)
    fingerprint: str = Field(sa_type=Text)
    case_id: str | None = Field(default=None, sa_type=Text)
    linked: bool = Field(default=False, sa_column_kwargs={"server_default": text("false")})
    created_at: datetime = Field(sa_type=DateTime(timezone=True))


class QueryCode(IntakeModel, table=True):
    """A worker's query code (查询码), as its salted hash only; revoked when staff issue a new one."""

    __tablename__ = "query_codes"
    __table_args__ = (Index("query_codes_live", "case_id", postgresql_where=text("(revoked_at IS NULL)")),)

    case_id: str = Field(sa_type=Text, primary_key=True)
    code_hash: str = Field(sa_type=Text, primary_key=True)
    reason: str = Field(sa_type=Text)
    issued_at: datetime = Field(sa_type=DateTime(timezone=True))
    issued_by: str | None = Field(default=None, sa_type=Text)
    revoked_at: datetime | None = Field(default=None, sa_type=DateTime(timezone=True))
