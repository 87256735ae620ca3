"""Follow-up's use cases on real PostgreSQL, without a broker: a resolved case enters follow-up, calls are
recorded, and the case closes, reopens or is flagged."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from events.common import Agreement, Instalment
from events.intake import CaseFacts
from services.backbone.errors import Conflict, Invalid, NotFound
from services.calendar.model import local_date
from services.followup import api, calls, repository, scheduling
from services.followup.config import FollowupConfig
from tests import clock
from tests.usecases.conftest import world_fixture

#: every use case here starts, moves or meets clocks: run again at each shifted moment (tests/clock.py)
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.clock]

world = world_fixture("followup")
CONFIG = FollowupConfig.default()
CASE = "FU-2026-0001"


def agreement(world, *days_and_amounts: tuple[int, int]) -> Agreement:
    """An agreement paid in instalments due some days from the test's today."""
    today = local_date(world.now)
    return Agreement(amount_cny=sum(a for _, a in days_and_amounts) or 3000, terms="分期支付",
                     instalments=[Instalment(due_date=(today + timedelta(days=d)).isoformat(), amount_cny=a)
                                  for d, a in days_and_amounts])


async def resolve(world, *, agreement: Agreement | None = None, confirmed_by_court: bool = False,
                  case_id: str = CASE) -> dict:
    """Mediation resolved the case: follow-up plans its calls; the calls by (kind, seq)."""
    await world.run(lambda ctx: scheduling.case_resolved(
        ctx, case_id=case_id, source="mediation", org_unit="xining-chengbei", outcome="settled",
        resolved_at=world.now, agreement=agreement, confirmed_by_court=confirmed_by_court, config=CONFIG))
    return await calls_of(world, case_id)


async def calls_of(world, case_id: str = CASE) -> dict:
    """The case's calls as they are now, by (kind, seq)."""
    return {(c.kind, c.seq): c for c in await repository.case_calls(world.conn, case_id)}


async def record(world, call, *, now: datetime | None = None, **answers) -> dict:
    """Record a call, at the test's clock or at business time ``now``."""
    answers.setdefault("actor", "回访员")
    return await world.run(lambda ctx: calls.record_call(ctx, str(call.followup_id), config=CONFIG, **answers), now=now)


def on(world, day: date) -> datetime:
    """The test's instant moved to another Shanghai day (same time of day)."""
    return world.now + timedelta(days=(day - local_date(world.now)).days)


def published(world, event_type: str) -> list[dict]:
    return [json.loads(r.value)["data"] for r in world.records(event_type)]


async def clocks(world, case_id: str = CASE) -> dict[str, str]:
    rows = await world.conn.fetch("SELECT kind, state FROM deadlines WHERE case_id = $1 AND owner = 'followup'", case_id)
    return {r["kind"]: r["state"] for r in rows}


async def test_a_resolved_case_with_instalments_schedules_its_calls(world):
    deal = agreement(world, (8, 6000), (40, 6000))
    planned = await resolve(world, agreement=deal)

    assert set(planned) == {("first", 0), ("instalment", 1), ("instalment", 2)}
    assert {c.state for c in planned.values()} == {"scheduled"}
    for n, inst in enumerate(deal.instalments, start=1):
        due = date.fromisoformat(inst.due_date)
        assert planned[("instalment", n)].instalment_due == due
        assert planned[("instalment", n)].due_date == world.calendar.add_working_days(due, 1).day
        assert planned[("instalment", n)].amount == Decimal(inst.amount_cny)
    first_day = world.calendar.add_working_days(local_date(world.now), CONFIG.policy.first_call_working_days).day
    assert planned[("first", 0)].due_date == first_day
    case = await repository.case(world.conn, CASE)
    assert case is not None and (case.state, case.cycle, case.source) == ("monitoring", 1, "mediation")
    assert case.agreement["instalments"][0]["due_date"] == deal.instalments[0].due_date
    assert await clocks(world) == {"followup_first": "open", "instalment_check_1": "open", "instalment_check_2": "open"}
    assert len(world.events("followup.scheduled")) == 3
    assert {e["followup_id"] for e in published(world, "followup.scheduled")} == {
        str(c.followup_id) for c in planned.values()}

    await resolve(world, agreement=deal)  # redelivered: already followed up
    assert len(await repository.case_calls(world.conn, CASE)) == 3
    assert len(world.events("followup.scheduled")) == 3


async def test_a_reached_first_call_needs_the_satisfaction(world):
    planned = await resolve(world)
    with pytest.raises(Invalid) as refused:
        await record(world, planned[("first", 0)], reached=True)
    assert [e.field for e in refused.value.errors] == ["satisfaction"]
    assert (await calls_of(world))[("first", 0)].state == "scheduled"


async def test_an_instalment_check_needs_to_know_whether_it_was_paid(world):
    planned = await resolve(world, agreement=agreement(world, (3, 2000)))
    with pytest.raises(Invalid) as refused:
        await record(world, planned[("instalment", 1)], reached=True)
    assert [e.field for e in refused.value.errors] == ["paid"]


async def test_a_call_is_recorded_once(world):
    planned = await resolve(world, agreement=agreement(world, (3, 2000)))
    answer = await record(world, planned[("first", 0)], reached=True, satisfaction=4, comment="满意")
    assert answer == {"case_id": CASE, "case_state": "monitoring"}
    with pytest.raises(Conflict):
        await record(world, planned[("first", 0)], reached=True, satisfaction=5)
    call = (await calls_of(world))[("first", 0)]
    assert (call.state, call.satisfaction, call.attempts) == ("done", 4, 1)


async def test_a_call_is_recorded_while_a_migration_adds_a_column_to_the_tables_it_reads_whole(world):
    """Recording a call reads the call and its case whole, as two composite values: a column added meanwhile (a
    migration in a rolling deploy, this connection knowing the rows' old shape) has the row read again, not the
    call refused."""
    planned = await resolve(world, agreement=agreement(world, (3, 2000)))
    assert await repository.locked_call_and_case(world.conn, planned[("first", 0)].followup_id) is not None
    await world.conn.execute("ALTER TABLE followups ADD COLUMN later text")
    await world.conn.execute("ALTER TABLE followup_cases ADD COLUMN later text")
    answer = await record(world, planned[("first", 0)], reached=True, satisfaction=4, comment="满意")
    assert answer == {"case_id": CASE, "case_state": "monitoring"}


async def test_an_unknown_call_is_not_found(world):
    with pytest.raises(NotFound):
        await world.run(lambda ctx: calls.record_call(ctx, str(uuid.uuid4()), reached=True, satisfaction=3,
                                                      actor="回访员", config=CONFIG))
    with pytest.raises(NotFound):
        await world.run(lambda ctx: calls.record_call(ctx, "not-a-call", reached=True, satisfaction=3,
                                                      actor="回访员", config=CONFIG))


async def test_a_paid_agreement_closes_the_case(world):
    planned = await resolve(world, agreement=agreement(world, (1, 2000)))
    first = await record(world, planned[("first", 0)], reached=True, satisfaction=2, comment="等待时间过长")
    assert first["case_state"] == "monitoring"
    last = await record(world, planned[("instalment", 1)], reached=True, paid=True)

    assert last == {"case_id": CASE, "case_state": "closed"}
    case = await repository.case(world.conn, CASE)
    assert case is not None and (case.state, case.satisfaction, case.flagged) == ("closed", 2, True)
    assert case.closed_at is not None
    assert await clocks(world) == {"followup_first": "met", "instalment_check_1": "met"}
    assert world.events("followup.instalment_paid") and world.events("followup.completed")
    assert published(world, "followup.flagged") == [
        {"case_id": CASE, "reason": "low_satisfaction", "satisfaction": 2, "comment": "等待时间过长"}]
    assert [e["satisfaction"] for e in published(world, "followup.case_closed")] == [2]


async def test_an_unreachable_worker_is_flagged_after_the_attempts(world):
    planned = await resolve(world)
    first = planned[("first", 0)]
    for attempt in range(1, CONFIG.policy.max_attempts):
        answer = await record(world, first, reached=False)
        retry = world.calendar.add_working_days(local_date(world.now), 1).day
        assert answer == {"case_id": CASE, "case_state": "monitoring", "next_attempt_date": retry.isoformat()}
        call = (await calls_of(world))[("first", 0)]
        assert (call.state, call.attempts, call.due_date) == ("scheduled", attempt, retry)
    assert not world.events("followup.flagged")

    answer = await record(world, first, reached=False)
    assert answer == {"case_id": CASE, "case_state": "unreachable"}
    call = (await calls_of(world))[("first", 0)]
    assert (call.state, call.reached, call.attempts) == ("unreachable", False, CONFIG.policy.max_attempts)
    assert [e["reason"] for e in published(world, "followup.flagged")] == ["unreachable"]
    assert len(world.events("followup.attempted")) == CONFIG.policy.max_attempts
    assert world.events("followup.case_closed")
    assert (await repository.case(world.conn, CASE)).state == "unreachable"  # type: ignore[union-attr]
    assert await clocks(world) == {"followup_first": "met"}


async def test_a_missed_instalment_reopens_the_case_and_a_new_resolution_starts_a_new_cycle(world):
    planned = await resolve(world, agreement=agreement(world, (8, 6000), (40, 6000)), confirmed_by_court=True)
    await record(world, planned[("first", 0)], reached=True, satisfaction=4)
    check = planned[("instalment", 1)]  # called on its check day, after the instalment fell due
    answer = await record(world, check, reached=True, paid=False, comment="资金困难", now=on(world, check.due_date))

    assert answer["case_state"] == "reopened"
    assert (await repository.case(world.conn, CASE)).state == "reopened"  # type: ignore[union-attr]
    states = {key: c.state for key, c in (await calls_of(world)).items()}
    assert states == {("first", 0): "done", ("instalment", 1): "done", ("instalment", 2): "cancelled"}
    assert await clocks(world) == {"followup_first": "met", "instalment_check_1": "met", "instalment_check_2": "cancelled"}
    assert [e["route"] for e in published(world, "followup.escalated")] == ["legal_aid"]
    assert world.events()[-2:] == ["followup.escalated", "followup.case_reopened"]

    later = world.now + timedelta(days=30)
    await world.run(lambda ctx: scheduling.case_resolved(
        ctx, case_id=CASE, source="legal_aid", org_unit="xining-chengbei", outcome="enforced", resolved_at=later,
        agreement=None, confirmed_by_court=False, config=CONFIG), now=later)
    case = await repository.case(world.conn, CASE)
    assert case is not None and (case.state, case.cycle, case.satisfaction) == ("monitoring", 2, 4)
    assert "followup_first_c2" in await clocks(world)


async def test_an_instalment_cannot_be_missed_before_it_is_due(world):
    planned = await resolve(world, agreement=agreement(world, (8, 6000), (40, 6000)))
    await record(world, planned[("first", 0)], reached=True, satisfaction=4)
    check = planned[("instalment", 1)]
    assert check.instalment_due is not None
    due = check.instalment_due
    events_before = world.events()

    for early in (world.now, on(world, due - timedelta(days=1))):
        with pytest.raises(Invalid) as refused:
            await record(world, check, reached=True, paid=False, comment="尚未支付", now=early)
        assert [e.field for e in refused.value.errors] == ["paid"]
        assert f"{due.month}月{due.day}日" in refused.value.errors[0].reason
        assert "尚未到期" in refused.value.errors[0].reason
    call = (await calls_of(world))[("instalment", 1)]
    assert (call.state, call.attempts, call.paid, call.reached, call.done_at) == ("scheduled", 0, None, None, None)
    assert (await repository.case(world.conn, CASE)).state == "monitoring"  # type: ignore[union-attr]
    assert await clocks(world) == {"followup_first": "met", "instalment_check_1": "open", "instalment_check_2": "open"}
    assert world.events() == events_before

    ahead = await record(world, planned[("instalment", 2)], reached=True, paid=True)  # paid ahead of time: fine
    assert ahead == {"case_id": CASE, "case_state": "monitoring"}

    answer = await record(world, check, reached=True, paid=False, comment="尚未支付", now=on(world, due))
    assert answer == {"case_id": CASE, "case_state": "reopened"}
    call = (await calls_of(world))[("instalment", 1)]
    assert (call.state, call.paid) == ("done", False)
    assert world.events()[-3:] == ["followup.instalment_missed", "followup.escalated", "followup.case_reopened"]


def registered(case_id: str, *names: str, employer: str = "西宁某建筑公司", summary: str = "拖欠工资") -> CaseFacts:
    from services.intake.domain.identifiers import make_id_number, make_uscc

    return CaseFacts(channel="hotline", received_at=clock.now(), region_code="630105", summary=summary,
                     workers=[{"name": n, "id_number": make_id_number("630105", date(1990, 1, 1), 100 + i),
                               "phone": f"1390971{i:04d}"} for i, n in enumerate(names)],
                     employer={"name": employer, "uscc": make_uscc("630105", 4321)},
                     claims=[{"type": "wage_arrears", "amount_cny": 5000}])


async def told(world, case_id: str, *names: str) -> None:
    """Intake's event about ``case_id`` and its workers, applied in a batch of its own."""
    async def batch(ctx) -> None:
        scheduling.remember_facts(ctx, case_id=case_id, facts=registered(case_id, *names))

    await world.run(batch)


async def test_the_workers_online_rating_is_kept_on_a_followed_up_case_and_ignored_elsewhere(world):
    await resolve(world)
    await world.run(lambda ctx: calls.worker_rated(ctx, CASE, score=2, comment="拖得太久"))
    case = await repository.case(world.conn, CASE)
    assert case is not None and (case.satisfaction, case.comment) == (2, "网上评价：拖得太久")
    await world.run(lambda ctx: calls.worker_rated(ctx, "LC-2026-FU0404", score=5, comment=""))  # not here
    assert await repository.case(world.conn, "LC-2026-FU0404") is None


async def test_the_caller_learns_who_to_ring_from_intake(world):
    """Intake's registration (and a later dispatch, with more workers) tells follow-up who the case is about."""
    await told(world, CASE, "韩国栋")
    await told(world, CASE, "韩国栋", "李四")
    known = await repository.facts(world.conn, CASE)
    assert known is not None and [w["name"] for w in known.workers] == ["韩国栋", "李四"]
    assert known.workers[0]["phone"] == "13909710000" and known.employer == "西宁某建筑公司"
    assert set(known.workers[0]) == {"name", "phone"}  # the ID number stays with intake


async def test_a_batchs_facts_are_written_once_the_last_event_of_a_case_winning(world):
    """Intake registers a case and dispatches it in the same batch: its facts are one row, written with the other
    cases' in one statement when the batch's work is done."""
    other = "LC-2026-FU0002"
    sent: list[str] = []

    def logged(query) -> None:
        sent.append(query.query)

    async def batch(ctx) -> None:
        scheduling.remember_facts(ctx, case_id=CASE, facts=registered(CASE, "韩国栋"))
        scheduling.remember_facts(ctx, case_id=other, facts=registered(other, "王芳"))
        scheduling.remember_facts(ctx, case_id=CASE, facts=registered(CASE, "韩国栋", "李四"))

    world.conn.add_query_logger(logged)
    try:
        await world.run(batch)
    finally:
        world.conn.remove_query_logger(logged)
    assert sum(q == repository.REMEMBER_FACTS for q in sent) == 1
    mine, theirs = await repository.facts(world.conn, CASE), await repository.facts(world.conn, other)
    assert mine is not None and [w["name"] for w in mine.workers] == ["韩国栋", "李四"]
    assert theirs is not None and [w["name"] for w in theirs.workers] == ["王芳"]


async def test_the_worklist_separates_today_and_the_overdue_from_later_calls(world):
    today = local_date(world.now)
    await told(world, CASE, "韩国栋")
    planned = await resolve(world, agreement=agreement(world, (-20, 1000), (30, 1000)))
    overdue_call, later_call = planned[("instalment", 1)], planned[("instalment", 2)]
    assert overdue_call.due_date < today < later_call.due_date

    async def shown(period: str, q: str | None = None) -> list[tuple[str, int]]:
        first, last = api.period_bounds(period, today)
        items, total = await repository.worklist(world.conn, None, 25, first=first, last=last, q=q)
        assert total == len(items)
        return [(i.call.kind, i.call.seq) for i in items]

    assert ("instalment", 1) in await shown("today") and ("instalment", 1) in await shown("overdue")
    assert ("instalment", 2) not in await shown("today") and ("instalment", 2) in await shown("later")
    assert set(await shown("all")) == {("first", 0), ("instalment", 1), ("instalment", 2)}
    assert set(await shown("all", q="韩国")) == set(await shown("all", q=CASE.lower())) == set(await shown("all"))
    assert await shown("all", q="别的公司") == []
    items, _ = await repository.worklist(world.conn, None, 25, q="建筑")
    assert items[0].workers == [{"name": "韩国栋", "phone": "13909710000"}] and items[0].summary == "拖欠工资"
    items, total = await repository.worklist(world.conn, None, 1, offset=1, order="f.due_date DESC")
    assert total == 3 and len(items) == 1


async def test_a_caller_out_of_scope_is_refused_without_waiting_for_the_calls_lock(usecase_make_db, pg_admin):
    """Another request is recording on the case (its rows locked). A caller out of scope is refused at once, as
    for a call that is not there; a caller who may record it waits, checked on the rows as last committed, then
    again on them as they now are."""
    import asyncio
    import contextlib

    import asyncpg

    from services.backbone.consumer import HandlerContext
    from tests.usecases.conftest import Enough, _database, another_writer_holding, scope_checks

    pool, calendar = await _database(usecase_make_db, pg_admin, "followup")
    case_id, followup_id = f"FU-LOCK-{uuid.uuid4().hex[:8]}", uuid.uuid4()
    await pool.execute("INSERT INTO followup_cases (case_id, source, org_unit, outcome, resolved_at, state) "
                       "VALUES ($1, 'mediation', 'xining-chengbei', 'settled', now(), 'monitoring')", case_id)
    await pool.execute("INSERT INTO followups (followup_id, case_id, cycle, kind, seq, due_date, state) "
                       "VALUES ($1, $2, 1, 'first', 0, current_date, 'scheduled')", followup_id, case_id)

    async def recorded(check: Any) -> None:
        async with pool.acquire() as conn, conn.transaction():
            ctx = HandlerContext(conn, "followup", "followup.events", 0.8, calendar, now=clock.now())
            await calls.record_call(ctx, str(followup_id), reached=True, satisfaction=4, actor="回访员", config=CONFIG,
                                    check=check)

    holder, tx = await another_writer_holding(pool, repository.CALL_AND_CASE_FOR_UPDATE, followup_id)
    try:
        refused, out_of_scope = scope_checks(refuse=lambda: NotFound(calls.MISSING))
        with pytest.raises(NotFound):
            await asyncio.wait_for(recorded(out_of_scope), 5)  # at once, not after the writer's commit
        assert [s.case_id for s in refused] == [case_id]

        seen, in_scope = scope_checks()
        waiting = asyncio.ensure_future(recorded(in_scope))
        await asyncio.sleep(0.5)
        assert not waiting.done() and [s.org_unit for s in seen] == ["xining-chengbei"]
        await holder.execute("UPDATE followup_cases SET org_unit = 'xining-chengdong' WHERE case_id = $1", case_id)
        await tx.commit()
        with pytest.raises(Enough):
            await asyncio.wait_for(waiting, 5)
        assert [s.org_unit for s in seen] == ["xining-chengbei", "xining-chengdong"]
    finally:
        with contextlib.suppress(asyncpg.InterfaceError):  # committed already, when the test got that far
            await tx.rollback()
        await pool.release(holder)
        await pool.execute("DELETE FROM followups WHERE case_id = $1", case_id)
        await pool.execute("DELETE FROM followup_cases WHERE case_id = $1", case_id)
