"""The inbox is claimed at a batch's start (``consumer.CLAIM``): one statement both finds the events already
processed and records the others, in the batch's transaction. Two consumers handling the same events at once (one
that lost its partition in a rebalance and has not noticed yet) apply each event once: the second claim waits on
the first transaction and then finds the events done. A read at the start and an insert at the end let both apply
it. Real PostgreSQL, no broker."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from services.backbone.calendar_store import load
from services.backbone.consumer import EventProcessor
from tests.consumed import TYPE, backbone_pool, received

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
async def pool(pg_admin, make_db):
    async for pool in backbone_pool(await make_db(pg_admin)):
        await pool.execute("CREATE TABLE applied (n int NOT NULL)")  # not idempotent: each application adds a row
        yield pool


async def test_an_event_twice_in_one_batch_is_applied_once(pool):
    async def apply(ctx, event, data) -> None:
        await ctx.conn.execute("INSERT INTO applied VALUES (1)")

    processor = EventProcessor(pool, "probe", "probe.events", {TYPE: apply}, calendar=await load(pool))
    same = uuid.uuid4()
    await processor.process([received(0, event_id=same), received(1), received(2, event_id=same)])
    assert await pool.fetchval("SELECT count(*) FROM applied") == 2
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 2
    await processor.process([received(3, event_id=same)])  # redelivered later
    assert await pool.fetchval("SELECT count(*) FROM applied") == 2


async def test_two_consumers_handling_the_same_batch_at_once_apply_it_once(pool):
    inside = asyncio.Event()

    async def slow(ctx, event, data) -> None:
        await ctx.conn.execute("INSERT INTO applied VALUES (1)")
        inside.set()
        await asyncio.sleep(0.3)  # the other consumer claims meanwhile

    calendar = await load(pool)
    first = EventProcessor(pool, "probe", "probe.events", {TYPE: slow}, calendar=calendar)
    second = EventProcessor(pool, "probe", "probe.events", {TYPE: slow}, calendar=calendar)
    batch = [received(0), received(1)]

    async def after_the_first_is_inside() -> None:
        await inside.wait()
        await second.process(list(reversed(batch)))  # in another order: the claim orders them, no deadlock

    await asyncio.gather(first.process(batch), after_the_first_is_inside())
    assert await pool.fetchval("SELECT count(*) FROM applied") == 2
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 2


async def test_a_failed_batch_claims_nothing_and_its_good_events_are_applied_alone(pool):
    bad = uuid.uuid4()

    async def picky(ctx, event, data) -> None:
        if event.id == bad:
            raise ValueError("cannot apply this one")
        await ctx.conn.execute("INSERT INTO applied VALUES (1)")

    processor = EventProcessor(pool, "probe", "probe.events", {TYPE: picky}, calendar=await load(pool))
    await processor.process([received(0), received(1, event_id=bad), received(2)])
    assert await pool.fetchval("SELECT count(*) FROM applied") == 2
    inbox = {r["event_id"] for r in await pool.fetch("SELECT event_id FROM inbox")}
    assert len(inbox) == 2 and bad not in inbox  # dead-lettered, not processed
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'intake.events.dlq'") == 1


async def test_an_event_redone_on_its_own_waits_for_another_consumer_applying_it(pool):
    """The careful path (a batch redone one event at a time after it failed) claims each event in its savepoint
    too: a consumer that took the event over meanwhile is waited for, and the event is then found done."""
    bad, shared = uuid.uuid4(), uuid.uuid4()
    other_may_start, other_inside = asyncio.Event(), asyncio.Event()
    tries = {"bad": 0}

    async def first_handler(ctx, event, data) -> None:
        if event.id == bad:
            tries["bad"] += 1
            if tries["bad"] == 2:  # redone on its own: now the other consumer takes the shared event
                other_may_start.set()
                await other_inside.wait()
            raise ValueError("cannot apply this one")
        await ctx.conn.execute("INSERT INTO applied VALUES (1)")

    async def second_handler(ctx, event, data) -> None:
        await ctx.conn.execute("INSERT INTO applied VALUES (2)")
        other_inside.set()
        await asyncio.sleep(0.3)  # still uncommitted when the first consumer claims the same event

    calendar = await load(pool)
    first = EventProcessor(pool, "probe", "probe.events", {TYPE: first_handler}, calendar=calendar)
    second = EventProcessor(pool, "probe", "probe.events", {TYPE: second_handler}, calendar=calendar)

    async def the_other_consumer() -> None:
        await other_may_start.wait()
        await second.process([received(1, event_id=shared)])

    await asyncio.gather(first.process([received(0, event_id=bad), received(1, event_id=shared)]), the_other_consumer())
    assert [r["n"] for r in await pool.fetch("SELECT n FROM applied")] == [2]  # applied once, by the other
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE topic = 'intake.events.dlq'") == 1
