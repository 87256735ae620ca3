"""Audit rows committed in groups (services/backbone/audit_store.GroupWriter): every request still waits for its
own row, concurrent requests share a commit, and a failed group fails exactly its own requests."""

from __future__ import annotations

import asyncio

import pytest

from services.backbone import audit_store
from services.backbone.db import BACKBONE_MIGRATIONS, create_pool, migrate


def entry(n: int, **over: object) -> dict[str, object]:
    return {"actor": "public", "role": "public", "org_unit": None, "action": "read", "case_id": f"LC{n:014d}",
            "method": "POST", "path": "/api/v1/public/progress", "status": 200, "client": "10.0.0.1",
            "forwarded_for": None, "detail": {"public": "ok"}, **over}


@pytest.fixture
async def pool(pg_admin, make_db):
    pool = await create_pool(await make_db(pg_admin), size=4)
    await migrate(pool, [("backbone", BACKBONE_MIGRATIONS)])
    yield pool
    await pool.close()


async def test_concurrent_rows_share_commits_and_each_is_written_before_its_caller_goes_on(pool):
    writer = audit_store.GroupWriter(pool, "supervision")
    seen: list[bool] = []

    async def request(n: int) -> None:
        await writer.write(entry(n))
        # the caller goes on only once its own row is committed (read on another connection)
        seen.append(await pool.fetchval("SELECT count(*) = 1 FROM audit_log WHERE case_id = $1", f"LC{n:014d}"))

    await asyncio.gather(*(request(n) for n in range(200)))
    assert all(seen) and len(seen) == 200
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE service = 'supervision'") == 200
    assert writer.groups < 50  # 200 rows, far fewer statements: the first alone, then what queued meanwhile
    row = await pool.fetchrow("SELECT * FROM audit_log WHERE case_id = 'LC00000000000007'")
    assert (row["role"], row["status"], row["detail"]) == ("public", 200, {"public": "ok"})


async def test_a_failed_group_fails_its_requests_and_the_next_group_is_written(pool):
    writer = audit_store.GroupWriter(pool, "supervision")
    await writer.write(entry(1))
    bad = await asyncio.gather(*(writer.write(entry(n, status="not a number")) for n in (2, 3)),
                               return_exceptions=True)
    assert all(isinstance(r, Exception) for r in bad)  # each refused request answers for itself (a 503)
    await writer.write(entry(4))  # the next group is tried afresh
    cases = {r["case_id"] for r in await pool.fetch("SELECT case_id FROM audit_log")}
    assert cases == {"LC00000000000001", "LC00000000000004"}
