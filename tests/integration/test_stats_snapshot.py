"""The statistics are read as of one commit: a case that commits while they are read shows in every figure or in
none. Read figure by figure on the pool, it showed in the counts by channel and not in the total (seen as a
flaky `test_statistics_and_csv`). Real PostgreSQL, no broker: the race is made to happen, not waited for."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.backbone.db import BACKBONE_MIGRATIONS, create_pool, migrate
from services.supervision import repository, stats
from tests.usecases.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

NEW_CASE = ("INSERT INTO cases (case_id, channel, received_at, region_code, worker_count) "
            "VALUES ($1, $2, $3, '630102', 1)")


@pytest.fixture
async def pool(pg_admin, make_db):
    pool = await create_pool(await make_db(pg_admin), size=4)
    await migrate(pool, [("backbone", BACKBONE_MIGRATIONS), ("supervision", ROOT / "supervision" / "migrations")])
    yield pool
    await pool.close()


async def test_a_case_committed_while_the_statistics_are_read_is_in_all_their_figures_or_none(pool, monkeypatch):
    at = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    await pool.execute(NEW_CASE, "LC-2026-ST0001", "hotline", at)
    read_totals = repository.stats_totals

    async def totals_then_another_case_commits(db, scope):
        totals = await read_totals(db, scope)
        await pool.execute(NEW_CASE, "LC-2026-ST0002", "online", at)  # another connection, committed now
        return totals

    monkeypatch.setattr(repository, "stats_totals", totals_then_another_case_commits)
    seen = await stats.compute(pool, stats.Scope(region="630100"))
    assert seen["received"]["total"] == sum(seen["received"]["by_channel"].values()) == 1
    assert seen["received"]["by_channel"] == {"hotline": 1}
    monkeypatch.undo()
    after = await stats.compute(pool, stats.Scope(region="630100"))
    assert after["received"]["total"] == sum(after["received"]["by_channel"].values()) == 2
