"""The worker's progress lookup over HTTP, through the edge: the common case answered on supervision's fast path
(services/backbone/http.FastPath) and everything else by the FastAPI route, with the same answers and audit rows."""

from __future__ import annotations

import pytest

from services.security import query_codes as codes
from services.supervision import repository
from services.supervision.fold import CodeChange
from services.supervision.service import SPEC
from tests.integration.conftest import running

PATH = "/api/v1/public/progress"


@pytest.fixture
async def door(kafka_bootstrap, embedded_admin):
    async with running(SPEC, kafka_bootstrap, embedded_admin) as client:
        yield client


async def seed(pool, case_id: str) -> str:
    code = codes.new_code()
    async with pool.acquire() as conn:
        step = {"id": "e1", "at": "2026-03-02T02:00:00+00:00", "rank": 0, "title": "您的来件已登记受理"}
        await repository.write_public_views(conn, {case_id: [step]}, {}, {case_id: "630102000"},
                                            {case_id: CodeChange().then(codes.hashed(case_id, code), False)})
    return code


async def audit(pool, case_id: str) -> list[dict]:
    rows = await pool.fetch("SELECT role, status, detail FROM audit_log WHERE case_id = $1 ORDER BY id", case_id)
    return [{"role": r["role"], "status": r["status"], "detail": r["detail"]} for r in rows]


async def failures(pool, case_id: str) -> int:
    return await pool.fetchval("SELECT coalesce(max(failures), 0) FROM login_throttle WHERE key = $1",
                               f"public-case:{case_id}") or 0


async def test_right_code_is_answered_on_the_fast_path_with_the_contract_and_an_audit_row(door):
    pool = door.runtime.pool
    code = await seed(pool, "LC20260302990001")
    r = await door.post(PATH, json={"case_id": " lc20260302990001 ", "query_code": codes.shown(code).lower()})
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    body = r.json()
    assert body == {"case_id": "LC20260302990001", "status": body["status"], "resolved": False, "can_rate": False,
                    "rating": None, "steps": [{"at": "2026-03-02T10:00:00+08:00", "title": "您的来件已登记受理"}]}
    assert "org_unit" not in body and "traceparent" in r.headers  # the edge still wraps the fast path
    assert await audit(pool, "LC20260302990001") == [{"role": "public", "status": 200, "detail": {"public": "ok"}}]


async def test_what_the_fast_path_declines_the_route_answers_once(door):
    pool = door.runtime.pool
    code = await seed(pool, "LC20260302990002")
    wrong = await door.post(PATH, json={"case_id": "LC20260302990002", "query_code": codes.new_code()})
    unknown = await door.post(PATH, json={"case_id": "LC20260302999999", "query_code": code})
    assert wrong.status_code == unknown.status_code == 404 and wrong.content == unknown.content
    assert await failures(pool, "LC20260302990002") == 1  # declined, then counted by the route: once, not twice
    assert (await audit(pool, "LC20260302990002"))[-1]["detail"] == {"public": "not_found"}
    malformed = await door.post(PATH, content=b'{"case_id": "LC20260302990002"', headers={"content-type": "application/json"})
    extra = await door.post(PATH, json={"case_id": "LC20260302990002", "query_code": code, "admin": True})
    assert malformed.status_code == extra.status_code == 422
    assert malformed.headers["content-type"].startswith("application/problem+json")
    # a form post is not the fast path's: the route answers it as it always did
    form = await door.post(PATH, data={"case_id": "LC20260302990002", "query_code": code})
    assert form.status_code == 422


async def test_a_locked_case_number_is_refused_even_with_the_right_code(door):
    pool = door.runtime.pool
    code = await seed(pool, "LC20260302990003")
    for _ in range(5):
        await door.post(PATH, json={"case_id": "LC20260302990003", "query_code": codes.new_code()})
    r = await door.post(PATH, json={"case_id": "LC20260302990003", "query_code": code})
    assert r.status_code == 429 and "尝试次数过多" in r.json()["detail"]
