"""The worker's door on real PostgreSQL: a query code with every registered case (hash only; the code for the SMS
on worker.notices), rotation, an online application that never joins someone else's case, the progress projection
(the same answer for an unknown case and a wrong code) and the rating once resolved."""

from __future__ import annotations

import itertools
import json
from datetime import timedelta
from decimal import Decimal

import pytest

from events.common import Channel, Claim, ClaimType
from events.intake import QueryCodeSet
from events.mediation import SessionScheduled
from services.backbone.errors import Conflict
from services.intake import query_codes
from services.intake.config import IntakeConfig
from services.intake.registration import Submission, register
from services.security import query_codes as codes
from services.supervision import progress
from tests.factories import employer, worker
from tests.usecases import test_supervision as sv
from tests.usecases.conftest import world_fixture

pytestmark = [pytest.mark.asyncio(loop_scope="session")]

intake_world = world_fixture("intake")
supervision_world = world_fixture("supervision")
CONFIG = IntakeConfig.default()
_n = itertools.count(8800)


def submission(world, *, channel: Channel = Channel.hotline, n: int | None = None, **extra) -> Submission:
    n = next(_n) if n is None else n
    values = {"channel": channel, "received_at": world.now, "region_code": "630102", "workers": [worker(n * 10)],
              "employer": employer(n), "claims": [Claim(type=ClaimType.wage_arrears, amount_cny=Decimal("6800"))],
              "summary": "拖欠工资", "actor": "热线坐席01"}
    values.update(extra)
    return Submission(**values)


def data(record) -> dict:
    return json.loads(record.value)["data"]


async def test_every_registered_case_gets_a_code_kept_only_as_a_hash(intake_world):
    w = intake_world
    sub = submission(w)
    out = await w.run(lambda ctx: register(ctx, sub, config=CONFIG))
    assert out.query_code and codes.normalized(out.query_code) == out.query_code
    assert out.as_json(CONFIG.hierarchy)["query_code"] == codes.shown(out.query_code)
    rows = await w.conn.fetch("SELECT * FROM query_codes WHERE case_id = $1", out.case_id)
    assert len(rows) == 1 and out.query_code not in rows[0]["code_hash"] and rows[0]["reason"] == "registered"
    assert await query_codes.valid(w.conn, out.case_id, codes.shown(out.query_code).lower())
    assert not await query_codes.valid(w.conn, out.case_id, codes.new_code())
    assert not await query_codes.valid(w.conn, "LC19990101000001", out.query_code)
    # the code in plain text goes to worker.notices only; intake.events carries the hash
    issued, = w.records("intake.query_code_issued")
    assert issued.topic == "worker.notices" and issued.key == out.case_id.encode()
    assert data(issued) | {"issued_at": None} == {"case_id": out.case_id, "query_code": out.query_code,
                                                  "phones": [sub.workers[0].phone], "reason": "registered",
                                                  "issued_at": None}
    hashed, = w.records("intake.query_code_set")
    assert hashed.topic == "intake.events" and out.query_code not in hashed.value.decode()
    assert data(hashed)["code_hash"] == rows[0]["code_hash"] and data(hashed)["replaces"] is False
    # the joining submission of the same worker at the desk brings a code of its own; the first still works
    again = await w.run(lambda ctx: register(ctx, replace_channel(sub, Channel.window), config=CONFIG))
    assert again.linked and again.case_id == out.case_id and again.query_code not in (None, out.query_code)
    assert await query_codes.valid(w.conn, out.case_id, out.query_code)
    assert await query_codes.valid(w.conn, out.case_id, again.query_code)


def replace_channel(sub: Submission, channel: Channel) -> Submission:
    from dataclasses import replace
    return replace(sub, channel=channel)


async def test_staff_rotate_a_code_and_every_earlier_one_stops_working(intake_world):
    w = intake_world
    out = await w.run(lambda ctx: register(ctx, submission(w), config=CONFIG))
    new = await w.run(lambda ctx: query_codes.rotate(ctx, out.case_id, actor="王受理"))
    assert new != out.query_code
    assert await query_codes.valid(w.conn, out.case_id, new)
    assert not await query_codes.valid(w.conn, out.case_id, out.query_code)
    rotated = [data(r) for r in w.records("intake.query_code_issued")][-1]
    assert rotated["reason"] == "rotated" and rotated["query_code"] == new
    assert [data(r)["replaces"] for r in w.records("intake.query_code_set")][-1] is True


async def test_an_online_application_never_joins_an_open_case_it_resembles(intake_world):
    w = intake_world
    n = next(_n)
    first = await w.run(lambda ctx: register(ctx, submission(w, n=n), config=CONFIG))
    online = submission(w, n=n, channel=Channel.online, actor="职工本人（网上）")
    out = await w.run(lambda ctx: register(ctx, online, config=CONFIG, visible=lambda _: False))
    assert not out.linked and out.case_id != first.case_id and out.query_code
    assert not await query_codes.valid(w.conn, first.case_id, out.query_code)  # no code to someone else's case
    flagged, = w.records("intake.duplicate_suspected")
    assert data(flagged)["other_case_id"] == first.case_id
    row = await w.conn.fetchrow("SELECT channel FROM cases WHERE case_id = $1", out.case_id)
    assert row["channel"] == "online"


# --- supervision: the projection made for the lookup, and the rating ------------------------------------------

async def _code(world, case_id: str, *, replaces: bool = False) -> str:
    code = codes.new_code()
    await sv.project(world, "intake.query_code_set", QueryCodeSet(
        case_id=case_id, code_hash=codes.hashed(case_id, code), reason="rotated" if replaces else "registered",
        replaces=replaces, issued_at=world.now), subject=case_id, at=world.now)
    return code


async def test_progress_is_read_from_its_projection_and_unknown_and_wrong_look_alike(supervision_world):
    w = supervision_world
    t0 = w.now - timedelta(days=3)
    code = await _code(w, "LC-P-1")
    await sv.received_and_dispatched(w, "LC-P-1", t0)
    await sv.project(w, "mediation.session_scheduled", SessionScheduled(
        case_id="LC-P-1", session_id="s1", scheduled_at=t0 + timedelta(days=1), location="城东区总工会调解室",
        actor="m-cd-1"), subject="LC-P-1", at=t0 + timedelta(hours=2))
    found = await progress.lookup(w.conn, "LC-P-1", codes.shown(code), "10.0.0.1")
    assert found.view is not None and found.view["status"] == "调解中"
    titles = [s["title"] for s in found.view["steps"]]
    assert titles[0].startswith("您的来件已登记受理") and titles[1] == "已转交城东区总工会办理（调解）"
    assert "城东区总工会调解室" in titles[2] and not found.view["can_rate"]
    body = json.dumps(found.view, ensure_ascii=False)
    assert "m-cd-1" not in body and "督办职工" not in body and "v1$" not in body and code not in body
    wrong = await progress.lookup(w.conn, "LC-P-1", codes.new_code(), "10.0.0.1")
    unknown = await progress.lookup(w.conn, "LC-NOPE-1", code, "10.0.0.1")
    assert wrong.view is None and unknown.view is None
    # a step arriving late (another topic) lands in time order; a redelivered one is not doubled
    rotated = await _code(w, "LC-P-1", replaces=True)
    assert (await progress.lookup(w.conn, "LC-P-1", code, "x")).view is None
    again = await progress.lookup(w.conn, "LC-P-1", rotated, "x")
    assert again.view is not None and [s["title"] for s in again.view["steps"]] == titles


async def test_the_workers_view_of_one_batch_is_what_its_events_give_one_by_one(supervision_world):
    """A batch's worker's view is written in two statements for all its cases: steps merged by id in time order, the
    newest word on whether the worker may rate, the last unit, and the query codes — rotated or added — as the
    events would have left them applied one at a time."""
    w = supervision_world
    t0 = w.now - timedelta(days=3)
    await sv.received_and_dispatched(w, "LC-B-1", t0)
    first = codes.hashed("LC-B-1", codes.new_code())
    await sv.project(w, "intake.query_code_set", QueryCodeSet(
        case_id="LC-B-1", code_hash=first, reason="registered", replaces=False, issued_at=t0), subject="LC-B-1", at=t0)
    before = await w.conn.fetchrow("SELECT * FROM public_progress WHERE case_id = 'LC-B-1'")
    joined, rotated, after = (codes.hashed("LC-B-1", codes.new_code()) for _ in range(3))
    other = codes.hashed("LC-B-2", codes.new_code())

    def code(case_id, code_hash, replaces, minutes):
        at = t0 + timedelta(minutes=minutes)
        return ("intake.query_code_set", QueryCodeSet(case_id=case_id, code_hash=code_hash, replaces=replaces,
                                                       reason="rotated" if replaces else "registered", issued_at=at),
                case_id, at)

    batch = [code("LC-B-1", joined, False, 10), code("LC-B-1", joined, False, 11), code("LC-B-2", other, False, 12)]
    await sv.project_batch(w, batch)
    row = await w.conn.fetchrow("SELECT * FROM public_progress WHERE case_id = 'LC-B-1'")
    assert row["code_hashes"] == [first, joined] and row["steps"] == before["steps"]  # added once; steps kept
    assert row["org_unit"] == before["org_unit"] and row["resolved"] is False
    assert (await w.conn.fetchval("SELECT code_hashes FROM public_progress WHERE case_id = 'LC-B-2'")) == [other]
    await sv.project_batch(w, [code("LC-B-1", rotated, True, 20), code("LC-B-1", after, False, 21)])
    assert await w.conn.fetchval("SELECT code_hashes FROM public_progress WHERE case_id = 'LC-B-1'") == [rotated, after]
    # the resolution and a late, older step in one batch: the step lands in time order, the resolution holds
    await sv.settled(w, "LC-B-1", t0 + timedelta(hours=1))
    resolved = await w.conn.fetchrow("SELECT resolved, resolved_changed_at, steps FROM public_progress "
                                     "WHERE case_id = 'LC-B-1'")
    assert resolved["resolved"] is True
    ats = [s["at"] for s in resolved["steps"]]
    assert ats == sorted(ats) and len({s["id"] for s in resolved["steps"]}) == len(ats)


async def test_a_resolved_case_is_rated_once_and_feeds_the_statistics(supervision_world):
    w = supervision_world
    t0 = w.now - timedelta(days=5)
    code = await _code(w, "LC-R-1")
    await sv.received_and_dispatched(w, "LC-R-1", t0)
    with pytest.raises(Conflict, match="办结后"):
        await w.run(lambda ctx: progress.rate(ctx, "LC-R-1", score=5, comment="", org_unit=None))
    await sv.settled(w, "LC-R-1", t0 + timedelta(hours=1))
    view = (await progress.lookup(w.conn, "LC-R-1", code, "x")).view
    assert view is not None and view["can_rate"] and view["status"] == "已办结"
    assert "王调解员" in " ".join(s["title"] for s in view["steps"])
    await w.run(lambda ctx: progress.rate(ctx, "LC-R-1", score=4, comment="调解员很耐心", org_unit=sv.UNIT))
    rated, = [r for r in w.records("supervision.worker_rated")]
    assert data(rated)["score"] == 4 and data(rated)["case_id"] == "LC-R-1"
    assert await w.conn.fetchval("SELECT satisfaction FROM cases WHERE case_id = 'LC-R-1'") == 4
    with pytest.raises(Conflict, match="已评价"):
        await w.run(lambda ctx: progress.rate(ctx, "LC-R-1", score=1, comment="", org_unit=None))
    view = (await progress.lookup(w.conn, "LC-R-1", code, "x")).view
    assert view is not None and not view["can_rate"] and view["rating"]["score"] == 4
