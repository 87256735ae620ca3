"""The use-case tier itself: a world is a rolled-back transaction on a migrated database, with real clocks."""

from __future__ import annotations

from datetime import timedelta

import pytest

from services.backbone.errors import NotFound
from services.backbone.usecase import found
from tests.usecases.conftest import world_fixture

pytestmark = pytest.mark.asyncio(loop_scope="session")

world = world_fixture("followup")


async def test_a_use_case_writes_clocks_and_events_inside_the_test_transaction(world):
    async def start(ctx):
        ctx.publish("followup.flagged", _flag(), subject="T-1")
        return await ctx.deadlines.start(case_id="T-1", kind="followup_first", started_at=ctx.now,
                                         due_at=ctx.now + timedelta(days=2), org_unit="cd")

    d = await world.run(start)
    assert d.state == "open"
    assert await world.conn.fetchval("SELECT count(*) FROM deadlines WHERE case_id = 'T-1'") == 1
    assert world.events() == ["followup.flagged", "deadline.started"]


async def test_each_test_starts_from_an_empty_database(world):
    assert await world.conn.fetchval("SELECT count(*) FROM deadlines WHERE case_id = 'T-1'") == 0


async def test_a_refusal_leaves_the_transaction_usable(world):
    with pytest.raises(NotFound):
        await world.run(lambda ctx: _missing())
    assert await world.conn.fetchval("SELECT 1") == 1


async def _missing():
    return found(None, "回访任务不存在")


def _flag():
    from events.followup import CaseFlagged

    return CaseFlagged(case_id="T-1", reason="unreachable")
