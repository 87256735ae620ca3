"""What the consumer tests hand an ``EventProcessor``: records as Kafka delivers them, and a database with the
backbone's tables and the working-day calendar (real PostgreSQL, no broker)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator

import asyncpg

from services.backbone.calendar_store import seed
from services.backbone.consumer import Inbound
from services.backbone.db import BACKBONE_MIGRATIONS, create_pool, migrate
from tests.contract_examples import example

#: the event type the records carry (its contract example is their data)
TYPE = "intake.case_received"


def received(offset: int, subject: str = "C-1", event_id: uuid.UUID | None = None) -> Inbound:
    """An ``intake.case_received`` record at ``offset`` of partition 0, about case ``subject``."""
    envelope = {"specversion": "1.0", "id": str(event_id or uuid.uuid4()), "source": "laborcase/intake", "type": TYPE,
                "time": "2026-03-02T09:00:00+08:00", "subject": subject, "data": example(TYPE)}
    return Inbound("intake.events", 0, offset, subject.encode(), json.dumps(envelope).encode(),
                   (("ce_type", TYPE.encode()),))


async def backbone_pool(dsn: str, *, size: int = 4) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a database with the backbone's tables and the calendar seeded (a fixture's body)."""
    pool = await create_pool(dsn, size=size)
    await migrate(pool, [("backbone", BACKBONE_MIGRATIONS)])
    await seed(pool)
    yield pool
    await pool.close()
