"""Deferred writes (``HandlerContext.defer``): the rows a batch's handlers defer are sent together at the batch's end
in its transaction; when one of them cannot be written, the batch is redone event by event, each with its own
deferred rows in its own savepoint, and only the event whose row was bad is dead-lettered."""

from __future__ import annotations

import base64
import json
import uuid

import pytest

from services.backbone.calendar_store import load, seed
from services.backbone.consumer import EventProcessor, Inbound
from services.backbone.db import BACKBONE_MIGRATIONS, create_pool, migrate
from tests.contract_examples import example

TYPE = "intake.case_received"
PROBE = "INSERT INTO deferred_probe (event_id, n) VALUES ($1, $2)"


def record(offset: int, subject: str) -> Inbound:
    envelope = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "laborcase/intake", "type": TYPE,
                "time": "2026-03-02T09:00:00+08:00", "subject": subject, "data": example(TYPE)}
    return Inbound("intake.events", 0, offset, subject.encode(), json.dumps(envelope).encode(),
                   (("ce_type", TYPE.encode()),))


@pytest.fixture
async def pool(pg_admin, make_db):
    pool = await create_pool(await make_db(pg_admin), size=2)
    await migrate(pool, [("backbone", BACKBONE_MIGRATIONS)])
    await pool.execute("CREATE TABLE deferred_probe (event_id uuid PRIMARY KEY, n int NOT NULL CHECK (n >= 0))")
    await seed(pool)
    yield pool
    await pool.close()


async def probe(ctx, event, data) -> None:
    calls.append(event.subject)
    ctx.defer(PROBE, event.id, -1 if event.subject == "bad" else len(calls))


calls: list[str] = []


async def test_deferred_rows_land_together_and_a_bad_one_costs_only_its_event(pool):
    processor = EventProcessor(pool, "probe", "probe.events", {TYPE: probe}, calendar=await load(pool))
    calls.clear()
    await processor.process([record(0, "a"), record(1, "b")])
    assert await pool.fetchval("SELECT count(*) FROM deferred_probe") == 2
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 2

    calls.clear()
    await processor.process([record(2, "c"), record(3, "bad"), record(4, "d")])
    assert calls[:3] == ["c", "bad", "d"] and len(calls) == 6  # the whole batch, then each event on its own
    assert await pool.fetchval("SELECT count(*) FROM deferred_probe") == 4  # c and d, each written once
    dead = await pool.fetch("SELECT topic, headers FROM outbox WHERE topic = 'intake.events.dlq'")
    reason = base64.b64decode(dict(dead[0]["headers"])["x-dlq-reason"]).decode()
    assert len(dead) == 1 and "CheckViolationError" in reason and "deferred_probe" in reason
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 4  # the bad one is dead-lettered, not processed
