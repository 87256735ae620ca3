"""Deferred writes (``HandlerContext.defer``): the rows a batch's handlers defer are sent together at the batch's end
in its transaction; when one of them cannot be written, the batch is redone event by event, each with its own
deferred rows in its own savepoint, and only the event whose row was bad is dead-lettered."""

from __future__ import annotations

import base64

import pytest

from services.backbone.calendar_store import load
from services.backbone.consumer import EventProcessor
from tests.consumed import TYPE, backbone_pool, received

PROBE = "INSERT INTO deferred_probe (event_id, n) VALUES ($1, $2)"


@pytest.fixture
async def pool(pg_admin, make_db):
    async for pool in backbone_pool(await make_db(pg_admin), size=2):
        await pool.execute("CREATE TABLE deferred_probe (event_id uuid PRIMARY KEY, n int NOT NULL CHECK (n >= 0))")
        yield pool


async def probe(ctx, event, data) -> None:
    calls.append(event.subject)
    ctx.defer(PROBE, event.id, -1 if event.subject == "bad" else len(calls))


calls: list[str] = []


async def test_deferred_rows_land_together_and_a_bad_one_costs_only_its_event(pool):
    processor = EventProcessor(pool, "probe", "probe.events", {TYPE: probe}, calendar=await load(pool))
    calls.clear()
    await processor.process([received(0, "a"), received(1, "b")])
    assert await pool.fetchval("SELECT count(*) FROM deferred_probe") == 2
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 2

    calls.clear()
    await processor.process([received(2, "c"), received(3, "bad"), received(4, "d")])
    assert calls[:3] == ["c", "bad", "d"] and len(calls) == 6  # the whole batch, then each event on its own
    assert await pool.fetchval("SELECT count(*) FROM deferred_probe") == 4  # c and d, each written once
    dead = await pool.fetch("SELECT topic, headers FROM outbox WHERE topic = 'intake.events.dlq'")
    reason = base64.b64decode(dict(dead[0]["headers"])["x-dlq-reason"]).decode()
    assert len(dead) == 1 and "CheckViolationError" in reason and "deferred_probe" in reason
    assert await pool.fetchval("SELECT count(*) FROM inbox") == 4  # the bad one is dead-lettered, not processed


async def test_what_runs_after_commit_runs_once_a_batch_commits_and_never_for_a_rolled_back_one(pool):
    """``HandlerContext.when_committed``: the notification sender's bell rings after the batch that queued a
    message commits (it could not see the message before) — once per batch, however many events ask — and a
    batch that fails and is retried rings only when it finally commits."""
    rung: list[str] = []

    def bell() -> None:
        rung.append("rung")

    async def asks(ctx, event, data) -> None:
        ctx.when_committed(bell)
        assert rung == []  # not before the commit
        ctx.defer(PROBE, event.id, 1)

    processor = EventProcessor(pool, "probe", "probe.events", {TYPE: asks}, calendar=await load(pool))
    await processor.process([received(10, "a"), received(11, "b")])
    assert rung == ["rung"]

    async def fails(ctx, event, data) -> None:
        ctx.when_committed(bell)
        raise ConnectionResetError("the database went away")  # transient: the whole batch is rolled back

    async def one_is_bad(ctx, event, data) -> None:
        ctx.when_committed(bell)
        ctx.defer(PROBE, event.id, -1 if event.subject == "bad" else 1)

    rung.clear()  # a bad row: the batch is redone event by event, and commits once
    isolating = EventProcessor(pool, "probe", "probe.events", {TYPE: one_is_bad}, calendar=await load(pool))
    await isolating.process([received(20, "d"), received(21, "bad"), received(22, "e")])
    assert rung == ["rung"]

    rung.clear()
    failing = EventProcessor(pool, "probe", "probe.events", {TYPE: fails}, calendar=await load(pool),
                             retry_attempts=1)
    with pytest.raises(ConnectionResetError):
        await failing.process([received(12, "c")])
    assert rung == []
