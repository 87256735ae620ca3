"""A unit of work's case-log entries are written at its end, with the events it publishes, in one statement
(``outbox._INSERT_LOGGED``): one round trip instead of one an entry. What the entries were before still holds:
they commit with the change or not at all, in the order they were logged, and an entry PostgreSQL refuses (a NUL
in its detail) dead-letters the one event that logged it, not its batch. The events a batch's folds publish when
they are written (supervision's alerts) go to the outbox on every path. Real PostgreSQL, no broker."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from events.intake import CaseReceived
from services.backbone import caselog, outbox
from services.backbone.calendar_store import load
from services.backbone.consumer import EventProcessor, Reject
from tests.consumed import TYPE, backbone_pool, received
from tests.contract_examples import example

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
async def pool(pg_admin, make_db):
    async for pool in backbone_pool(await make_db(pg_admin)):
        yield pool


async def logging_handler(ctx, event, data) -> None:
    """Two entries and an event for the record's case; a case named BAD logs a NUL, which jsonb refuses."""
    case_id = event.subject
    caselog.log(ctx, case_id, actor="probe", action="first", note="\u0000" if case_id == "BAD" else "甲")
    ctx.publish("intake.case_received", data, subject=case_id, topic="probe.events")
    caselog.log(ctx, case_id, actor="probe", action="second", amount=1)


async def test_a_batchs_entries_go_with_its_events_in_one_statement_in_order(pool):
    processor = EventProcessor(pool, "probe", "probe.events", {TYPE: logging_handler}, calendar=await load(pool))
    sent: list[str] = []

    def logged(query) -> None:
        sent.append(query.query)

    async with pool.acquire() as conn:
        conn.add_query_logger(logged)
        processor.pool = _One(conn)
        await processor.process([received(0, "C-1"), received(1, "C-2")])
        conn.remove_query_logger(logged)
    assert sum(q == outbox._INSERT_LOGGED for q in sent) == 1
    assert not any(q.lstrip().startswith("INSERT INTO case_log") for q in sent)  # no statement of their own
    rows = await pool.fetch("SELECT case_id, actor, action, detail FROM case_log ORDER BY id")
    assert [(r["case_id"], r["action"]) for r in rows] == [("C-1", "first"), ("C-1", "second"),
                                                          ("C-2", "first"), ("C-2", "second")]
    assert rows[0]["detail"] == {"note": "甲"} and rows[1]["detail"] == {"amount": 1}
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'probe.events'") == 2


async def test_an_entry_postgresql_refuses_dead_letters_its_event_alone(pool):
    processor = EventProcessor(pool, "probe", "probe.events", {TYPE: logging_handler}, calendar=await load(pool))
    await processor.process([received(0, "C-1"), received(1, "BAD"), received(2, "C-3")])
    assert [r["case_id"] for r in await pool.fetch("SELECT DISTINCT case_id FROM case_log ORDER BY 1")] == \
        ["C-1", "C-3"]
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'probe.events'") == 2
    dead = await pool.fetch("SELECT headers FROM outbox WHERE topic = 'intake.events.dlq'")
    assert len(dead) == 1
    reason = b" ".join(v for _, v in outbox.decode_headers(dead[0]["headers"])).decode()
    assert "unsupported Unicode escape sequence" in reason


async def test_a_unit_of_work_that_publishes_nothing_still_writes_its_entries(pool):
    processor = EventProcessor(pool, "probe", "probe.events", {}, calendar=await load(pool))
    async with pool.acquire() as conn, conn.transaction():
        ctx = processor.context(conn)
        caselog.log(ctx, "C-9", actor=None, action="noted")
        await ctx.write_out()
        assert ctx.case_log == [] and ctx.records == []
    assert await pool.fetchval("SELECT action FROM case_log WHERE case_id = 'C-9'") == "noted"


@dataclass
class Raising:
    """A batch's fold that publishes when it is written, as supervision's projection raises its alerts."""

    subjects: list[str] = field(default_factory=list)
    data: Any = None

    async def flush(self, ctx) -> None:
        for subject in self.subjects:
            ctx.publish("intake.case_received", self.data, subject=subject, topic="folded.events")


async def folding_handler(ctx, event, data) -> None:
    if event.subject == "BAD":
        raise Reject("cannot apply this one")
    fold = ctx.gather("probe.raising", Raising)
    fold.data = data
    fold.subjects.append(event.subject)
    ctx.publish("intake.case_received", data, subject=event.subject, topic="direct.events")


async def published(pool, topic: str) -> int:
    return await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = $1", topic)


async def test_what_a_batchs_folds_publish_is_published_on_every_path(pool):
    processor = EventProcessor(pool, "probe", "probe.events", {TYPE: folding_handler}, calendar=await load(pool))
    await processor.process([received(0, "C-1"), received(1, "C-2")])  # the batch at once
    assert (await published(pool, "direct.events"), await published(pool, "folded.events")) == (2, 2)
    await processor.process([received(2, "C-3"), received(3, "BAD"), received(4, "C-5")])  # one by one, after BAD failed
    assert (await published(pool, "direct.events"), await published(pool, "folded.events")) == (4, 4)
    async with pool.acquire() as conn, conn.transaction():  # an HTTP use case's unit of work
        ctx = processor.context(conn)
        fold = ctx.gather("probe.raising", Raising)
        fold.subjects.append("C-6")
        fold.data = CaseReceived.model_validate(example(TYPE))
        await ctx.write_out()
    assert await published(pool, "folded.events") == 5


class _One:
    """A pool of one connection (so the test sees every statement the batch sends)."""

    def __init__(self, conn):
        self.conn = conn

    def acquire(self):
        conn = self.conn

        class _Held:
            async def __aenter__(self):
                return conn

            async def __aexit__(self, *exc):
                return False

        return _Held()
