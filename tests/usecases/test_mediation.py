"""Mediation's use cases on real PostgreSQL, without a broker: a case arrives and goes to a mediator with room,
waits when nobody has room, is settled, failed or has its court window extended — and each refusal."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from events.common import Agreement, Claim, ClaimType, Instalment
from events.intake import CaseDispatched, CaseFacts, CaseRefs
from services.backbone import deadline as rules
from services.backbone.consumer import HandlerContext
from services.backbone.deadline_store import (
    ACTIVE_DEADLINE,
    ACTIVE_DEADLINES,
    INSERT_DEADLINE_ONCE,
    MEET_ACTIVE,
    MEET_MANY,
    handover_of,
)
from services.backbone.errors import Conflict, Invalid, NotFound
from services.backbone.models import from_row
from services.calendar.model import local_date
from services.mediation import assignment, clocks, outcomes, registry, sessions, views
from services.mediation import repository as repo
from services.mediation.config import default_config
from services.mediation.dispatches import open_case
from services.mediation.models import MediationSession
from tests.factories import employer, worker
from tests.usecases.conftest import UseCaseWorld, world_fixture

#: every use case here starts, moves or meets clocks: run again at each shifted moment (tests/clock.py)
pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.clock]

world = world_fixture("mediation")
CONFIG = default_config()
#: a district whose only station has no mediators of its own: the tests' mediators are the only ones
UNIT = "QH-XN-CB"


async def mediator(world: UseCaseWorld, mediator_id: str, *, capacity: int = 5, unit: str = UNIT) -> None:
    await world.run(lambda ctx: registry.add_mediator(ctx, mediator_id=mediator_id, name=f"调解员{mediator_id}",
                                                      org_unit=unit, capacity=capacity, specialties=["wage_arrears"],
                                                      hierarchy=CONFIG.hierarchy))


async def arrive(world: UseCaseWorld, case_id: str, *, unit: str = UNIT, refs: CaseRefs | None = None) -> str:
    """intake.case_dispatched to mediation; returns the case's state after the automatic assignment."""
    facts = CaseFacts(channel="hotline", received_at=world.now, region_code="630105", workers=[worker(1)],
                      employer=employer(), claims=[Claim(type=ClaimType.wage_arrears, amount_cny=Decimal("12800.00"))],
                      summary="拖欠三个月工资", refs=refs or CaseRefs())
    data = CaseDispatched(case_id=case_id, org_unit=unit, route="mediation", tier="general",
                          due_at=world.now + timedelta(days=5), facts=facts)
    await world.run(lambda ctx: open_case(ctx, data, CONFIG))
    return await state(world, case_id)


async def state(world: UseCaseWorld, case_id: str) -> str:
    record = await repo.get(world.conn, case_id)
    assert record is not None
    return record.state


async def accepted(world: UseCaseWorld, case_id: str) -> str:
    record = await repo.get(world.conn, case_id)
    assert record is not None and record.mediator_id is not None
    await world.run(lambda ctx: assignment.accept(ctx, case_id, mediator_id=record.mediator_id, config=CONFIG))
    return record.mediator_id


def agreement(**overrides: Any) -> Agreement:
    return Agreement(**{"amount_cny": Decimal("12800.00"), "terms": "一次性支付拖欠工资", **overrides})


async def test_an_arriving_case_goes_to_the_mediator_with_room(world):
    await mediator(world, "M-T-1", capacity=1)
    assert await arrive(world, "MC-1") == "offered"
    record = await repo.get(world.conn, "MC-1")
    assert record is not None and record.mediator_id == "M-T-1" and record.kind == "union"
    assert world.events() == ["mediation.case_opened", "mediation.mediator_assigned"]

    await world.run(lambda ctx: assignment.accept(ctx, "MC-1", mediator_id="M-T-1", config=CONFIG))
    assert await state(world, "MC-1") == "in_mediation"
    union = await world.conn.fetchrow("SELECT state, org_unit FROM deadlines WHERE case_id = 'MC-1' "
                                      "AND kind = 'union_mediation'")
    assert dict(union) == {"state": "open", "org_unit": UNIT}


async def test_a_new_case_is_opened_and_offered_without_reading_its_row_back(world):
    """The insert returns the row the offer needs: no read before it (is it here?) and none after it; the same
    dispatch again finds the case there and changes nothing."""
    await mediator(world, "M-T-1")
    sent: list[str] = []

    def logged(query: Any) -> None:
        sent.append(query.query)

    world.conn.add_query_logger(logged)
    try:
        assert await arrive(world, "MC-1") == "offered"
        assert repo.LOCK_CASE not in sent and repo.CASE not in sent
        before = await repo.get(world.conn, "MC-1")
        assert await arrive(world, "MC-1") == "offered"
    finally:
        world.conn.remove_query_logger(logged)
    assert await repo.get(world.conn, "MC-1") == before
    assert world.events().count("mediation.mediator_assigned") == 1


async def test_a_case_nobody_has_room_for_waits_until_someone_has(world):
    await mediator(world, "M-T-1", capacity=1)
    await arrive(world, "MC-1")
    assert await arrive(world, "MC-2") == "awaiting_assignment"
    assert world.events("mediation.assignment_pending") == ["mediation.assignment_pending"]

    @contextlib.asynccontextmanager
    async def unit_of_work() -> AsyncIterator[HandlerContext]:
        async with world.conn.transaction():
            ctx = world.context()
            yield ctx
            await ctx.flush_deferred()  # as the runtime's unit of work does (its log entries)

    assert await assignment.offer_waiting(unit_of_work, world.conn, CONFIG) == 0  # still full: nothing said again
    assert world.events("mediation.assignment_pending") == ["mediation.assignment_pending"]
    await world.run(lambda ctx: registry.update_mediator(ctx, "M-T-1", capacity=2))
    assert await assignment.offer_waiting(unit_of_work, world.conn, CONFIG) == 1
    assert await state(world, "MC-2") == "offered"


async def test_a_declined_case_goes_to_another_mediator_and_the_wrong_one_cannot_accept(world):
    await mediator(world, "M-T-1")
    await mediator(world, "M-T-2")
    await arrive(world, "MC-1")
    first = (await repo.get(world.conn, "MC-1")).mediator_id
    other = "M-T-2" if first == "M-T-1" else "M-T-1"
    with pytest.raises(Conflict, match="只有被分派的调解员可以接收案件"):
        await world.run(lambda ctx: assignment.accept(ctx, "MC-1", mediator_id=other, config=CONFIG))
    assert await world.run(lambda ctx: assignment.decline(ctx, "MC-1", mediator_id=first, reason="亲属回避",
                                                          config=CONFIG)) == other
    with pytest.raises(Invalid) as refused:
        await world.run(lambda ctx: assignment.reassign(ctx, "MC-1", reason="工作调整", actor="督办", config=CONFIG,
                                                        mediator_id="M-ELSEWHERE"))
    assert [e.field for e in refused.value.errors] == ["mediator_id"]


async def test_a_case_moved_to_another_unit_takes_its_clocks_along(world):
    await mediator(world, "M-T-1")
    await arrive(world, "MC-1")
    await world.run(lambda ctx: ctx.deadlines.start(case_id="MC-1", kind=clocks.TIER, started_at=ctx.now,
                                                    due_at=ctx.now + timedelta(days=5), org_unit=UNIT))
    record = await repo.get(world.conn, "MC-1")
    data = CaseDispatched(case_id="MC-1", org_unit="QH-XN", route="mediation", tier="general",
                          due_at=record.due_at, facts=CaseFacts.model_validate(record.facts), attempt=2)
    await world.run(lambda ctx: open_case(ctx, data, CONFIG))
    assert await world.conn.fetchval("SELECT org_unit FROM deadlines WHERE case_id = 'MC-1'") == "QH-XN"
    assert (await repo.get(world.conn, "MC-1")).org_unit == "QH-XN"


async def test_settling(world):
    await mediator(world, "M-T-1")
    await arrive(world, "MC-1")
    with pytest.raises(Conflict, match="不能登记调解成功"):  # offered, not yet signed for
        await world.run(lambda ctx: outcomes.settle(ctx, "MC-1", agreement=agreement(), representatives=[],
                                                    actor="M-T-1"))
    await accepted(world, "MC-1")
    today = local_date(world.now)
    bad = agreement(instalments=[Instalment(due_date=(today + timedelta(days=10)).isoformat(),
                                            amount_cny=Decimal("1000.00"))])
    with pytest.raises(Invalid) as refused:
        await world.run(lambda ctx: outcomes.settle(ctx, "MC-1", agreement=bad, representatives=["不相干的人"],
                                                    actor="M-T-1"))
    assert {e.field for e in refused.value.errors} == {"agreement.instalments", "representatives"}
    assert await state(world, "MC-1") == "in_mediation"

    settled = await world.run(lambda ctx: outcomes.settle(ctx, "MC-1", agreement=agreement(), representatives=[],
                                                          actor="M-T-1"))
    assert settled == "resolved"
    record = await repo.get(world.conn, "MC-1")
    assert record.outcome == "settled" and record.resolved_at is not None and record.agreement["amount_cny"] == 12800
    published = world.events()
    assert published.index("mediation.settled") < published.index("deadline.met") < published.index(
        "mediation.case_resolved")  # the union-mediation window is met with the settlement
    with pytest.raises(Conflict):
        await world.run(lambda ctx: outcomes.settle(ctx, "MC-1", agreement=agreement(), representatives=[],
                                                    actor="M-T-1"))


async def test_a_settlement_reads_its_clocks_once_and_writes_its_row_once(world):
    """调解成功 meets the union-mediation window and the tier clock: one read locks both, one statement writes both
    met, and the case's row is written resolved in the settlement's own update."""
    await mediator(world, "M-T-1")
    await arrive(world, "MC-1")
    await accepted(world, "MC-1")
    await world.run(lambda ctx: ctx.deadlines.start(case_id="MC-1", kind=clocks.TIER, started_at=ctx.now,
                                                    due_at=ctx.now + timedelta(days=5), org_unit=UNIT))
    sent: list[str] = []

    def logged(query: Any) -> None:
        sent.append(query.query)

    before = len(world.events("deadline.met"))
    world.conn.add_query_logger(logged)
    try:
        await world.run(lambda ctx: outcomes.settle(ctx, "MC-1", agreement=agreement(), representatives=[],
                                                    actor="M-T-1"))
    finally:
        world.conn.remove_query_logger(logged)
    assert sum(q == ACTIVE_DEADLINES for q in sent) == 1 and ACTIVE_DEADLINE not in sent
    assert sum(q == MEET_MANY for q in sent) == 1 and not any(q.startswith("UPDATE deadlines SET state=$5")
                                                                for q in sent)  # both met in one statement
    assert sum(q.startswith("UPDATE mediation_cases") for q in sent) == 1
    assert len(world.events("deadline.met")) - before == 2
    assert {r["kind"]: r["state"] for r in await world.conn.fetch(
        "SELECT kind, state FROM deadlines WHERE case_id = 'MC-1'")} == {clocks.TIER: "met", clocks.UNION: "met"}
    assert (await repo.get(world.conn, "MC-1")).resolved_at == world.now


async def test_failing_needs_the_disputed_points(world):
    await mediator(world, "M-T-1")
    await arrive(world, "MC-1")
    await accepted(world, "MC-1")
    with pytest.raises(Invalid, match="调解不成须列明争议焦点"):
        await world.run(lambda ctx: outcomes.fail(ctx, "MC-1", disputed_points=[" "], summary="", to_legal_aid=False,
                                                  actor="M-T-1"))
    await world.run(lambda ctx: outcomes.fail(ctx, "MC-1", disputed_points=["加班费计算基数"], summary="双方差距过大",
                                              to_legal_aid=False, actor="M-T-1"))
    record = await repo.get(world.conn, "MC-1")
    assert record.outcome == "failed" and record.disputed_points == ["加班费计算基数"]


async def test_a_reopened_case_is_listed_once_with_its_new_clock(world):
    await mediator(world, "M-T-1")
    await arrive(world, "MC-1")
    await world.run(lambda ctx: ctx.deadlines.start(case_id="MC-1", kind=clocks.TIER, started_at=ctx.now,
                                                    due_at=ctx.now + timedelta(days=5), org_unit=UNIT))
    await world.conn.execute("UPDATE deadlines SET warned = true WHERE case_id = 'MC-1' AND kind = 'tier'")  # 临期提醒
    await accepted(world, "MC-1")
    await world.run(lambda ctx: outcomes.settle(ctx, "MC-1", agreement=agreement(), representatives=[], actor="M-T-1"),
                    now=world.now + timedelta(days=1))
    later = world.now + timedelta(days=20)  # the agreement was not honoured, long after the first clock's due time
    await world.run(lambda ctx: outcomes.reopen(ctx, case_id="MC-1", route="mediation", reason="未按期付款",
                                                config=CONFIG), now=later)
    tiers = await world.conn.fetch("SELECT state, due_at FROM deadlines WHERE case_id = 'MC-1' AND kind = 'tier' "
                                   "ORDER BY started_at")
    assert [t["state"] for t in tiers] == ["met", "open"]

    rows = await repo.worklist(world.conn, org_unit=UNIT, mediator_id=None, include_resolved=False, limit=100)
    assert [r["case_id"] for r in rows] == ["MC-1"]
    assert (rows[0]["tier_state"], rows[0]["tier_due_at"]) == ("open", tiers[1]["due_at"])
    line = views.summary(rows[0], now=later)
    assert (line["overdue"], line["at_risk"]) == (False, False)  # the first cycle's warned, past-due clock is history
    every = await repo.worklist(world.conn, org_unit=UNIT, mediator_id=None, include_resolved=True, limit=100)
    assert [r["case_id"] for r in every] == ["MC-1"]


async def test_the_court_window_is_extended_once(world):
    await mediator(world, "M-T-1")
    refs = CaseRefs(court_code="QH0105", court_case_no="(2026)青0105民初1号", referral_kind="post_filing",
                    procedure="simplified")
    await arrive(world, "MC-1", refs=refs)
    await accepted(world, "MC-1")
    window = await world.conn.fetchval("SELECT due_at FROM deadlines WHERE case_id = 'MC-1' AND kind = 'court_entrusted'")
    due_at = await world.run(lambda ctx: clocks.extend_court_window(ctx, "MC-1", consent="双方书面同意", actor="M-T-1",
                                                                    config=CONFIG))
    assert due_at == window + timedelta(days=CONFIG.clocks.extension_days)
    assert world.events("mediation.window_extended") == ["mediation.window_extended"]
    with pytest.raises(Conflict, match="委托调解期限已延长过一次"):
        await world.run(lambda ctx: clocks.extend_court_window(ctx, "MC-1", consent="再次同意", actor="M-T-1",
                                                               config=CONFIG))


async def test_a_union_case_has_no_court_window_to_extend(world):
    await mediator(world, "M-T-1")
    await arrive(world, "MC-1")
    await accepted(world, "MC-1")
    with pytest.raises(Conflict, match="没有法院委托调解期限"):
        await world.run(lambda ctx: clocks.extend_court_window(ctx, "MC-1", consent="同意", actor="M-T-1",
                                                               config=CONFIG))


async def test_an_unknown_case_or_mediator_is_not_found(world):
    with pytest.raises(NotFound, match="调解案件 NOPE 不存在"):
        await world.run(lambda ctx: assignment.accept(ctx, "NOPE", mediator_id="M-T-1", config=CONFIG))
    with pytest.raises(NotFound):
        await world.run(lambda ctx: outcomes.settle(ctx, "NOPE", agreement=agreement(), representatives=[], actor="x"))
    with pytest.raises(NotFound):
        await world.run(lambda ctx: clocks.hold_clock(ctx, "NOPE", pause=True, reason="party_unreachable", actor="x"))
    with pytest.raises(NotFound, match="调解员 M-NOPE 不存在"):
        await world.run(lambda ctx: registry.update_mediator(ctx, "M-NOPE", capacity=3))


async def test_the_registry_refuses_an_unknown_unit_and_a_taken_number(world):
    await mediator(world, "M-T-1")
    with pytest.raises(Conflict, match="调解员编号 M-T-1 已存在"):
        await mediator(world, "M-T-1")
    with pytest.raises(Invalid, match="未知的工会单位"):
        await mediator(world, "M-T-9", unit="NOWHERE")
    assert await registry.sync_mediators(world.conn, CONFIG.hierarchy) > 0
    assert (await repo.mediator(world.conn, "M-CD-01")).org_unit == "QH-XN-CD"
    assert (await repo.mediator(world.conn, "M-T-1")).capacity == 5  # kept: seeding adds, never overwrites


# --- the worklist: the board's 临期 / 已超期, search and filters ---------------------------------------------


async def clock(world: UseCaseWorld, case_id: str, kind: str = clocks.TIER, *, warned: bool = False,
                state: str | None = None) -> None:
    await world.run(lambda ctx: ctx.deadlines.start(case_id=case_id, kind=kind, started_at=ctx.now,
                                                    due_at=ctx.now + timedelta(days=5), org_unit=UNIT))
    if warned:  # the 80 % point passed (deadline.warning: the board raises its warning alert)
        await world.conn.execute("UPDATE deadlines SET warned = true WHERE case_id = $1 AND kind = $2", case_id, kind)
    if state:
        await world.conn.execute("UPDATE deadlines SET state = $3 WHERE case_id = $1 AND kind = $2", case_id, kind,
                                 state)


async def flags(world: UseCaseWorld, **where: Any) -> dict[str, str]:
    rows = await repo.worklist(world.conn, where=repo.WorklistFilter(org_units=[UNIT], **where), limit=100,
                               order="case_id ASC")
    return {r["case_id"]: "overdue" if r["overdue"] else "at_risk" if r["at_risk"] else "" for r in rows}


async def test_the_worklist_colours_cases_as_the_supervisors_board_does(world):
    """The board (services/supervision/projection.py, _deadline) holds a warning alert open from a clock's
    deadline.warning until it is breached, met, cancelled, or extended; it counts 已超期 for an open case whose tier
    clock is breached (repository.OVERDUE_NOW). The worklist's 临期 / 已超期 are the same."""
    await mediator(world, "M-T-1", capacity=20)
    for n in range(1, 9):
        await arrive(world, f"MC-{n}")
    await clock(world, "MC-1")                                     # running, before its warning point
    await clock(world, "MC-2", warned=True)                        # past the warning point: the board warns
    await clock(world, "MC-3", warned=True)
    await world.run(lambda ctx: ctx.deadlines.pause(case_id="MC-3", kind=clocks.TIER, at=ctx.now,
                                                    reason="party_unreachable", actor="M-T-1"))  # paused: still warned
    await clock(world, "MC-4", warned=True, state="breached")      # breached: overdue, the warning is resolved
    await clock(world, "MC-5")
    await clock(world, "MC-5", clocks.UNION, warned=True)          # another of the case's clocks warns: the board too
    await clock(world, "MC-6", warned=True)
    await world.run(lambda ctx: ctx.deadlines.extend(case_id="MC-6", kind=clocks.TIER, at=ctx.now, actor="M-T-1",
                                                     due_at=ctx.now + timedelta(days=30), reason="双方同意"))
    await clock(world, "MC-7", warned=True)                        # met: the warning is resolved with the case
    await world.run(lambda ctx: outcomes.withdraw(ctx, "MC-7", reason="职工撤回申请", actor="M-T-1"))
    await clock(world, "MC-8", clocks.UNION, warned=True, state="breached")  # a window, not the tier: not 已超期

    assert await flags(world, include_resolved=True) == {
        "MC-1": "", "MC-2": "at_risk", "MC-3": "at_risk", "MC-4": "overdue", "MC-5": "at_risk", "MC-6": "",
        "MC-7": "", "MC-8": ""}
    assert await flags(world, due="at_risk") == {"MC-2": "at_risk", "MC-3": "at_risk", "MC-5": "at_risk"}
    assert await flags(world, due="overdue") == {"MC-4": "overdue"}
    line = views.summary((await repo.case_file(world.conn, "MC-4")) or {}, now=world.now)
    assert (line["overdue"], line["at_risk"]) == (True, False)


async def test_the_worklist_finds_cases_by_number_reference_worker_and_employer(world):
    await mediator(world, "M-T-1", capacity=20)
    await arrive(world, "MC-1", refs=CaseRefs(court_code="QH0105", court_case_no="(2026)青0105民诉前调77号",
                                              referral_kind="pre_filing"))
    await arrive(world, "MC-2")
    await accepted(world, "MC-2")
    await world.run(lambda ctx: outcomes.withdraw(ctx, "MC-2", reason="职工撤回申请", actor="M-T-1"))
    await arrive(world, "MC-3")

    async def found(text: str | None = None, **where: Any) -> list[str]:
        return list(await flags(world, text=text, **where))

    assert await found("民诉前调77") == ["MC-1"]
    assert await found("mc-3") == ["MC-3"]                         # case numbers in any case
    assert await found("职工1") == ["MC-1", "MC-3"]                 # the worker's name (MC-2 is finished)
    assert await found("示例建筑") == ["MC-1", "MC-3"]
    assert await found("100%") == []                               # LIKE wildcards are text
    assert await found(state="resolved") == ["MC-2"]               # finished cases only when asked for
    assert await found("职工1", include_resolved=True) == ["MC-1", "MC-2", "MC-3"]
    assert await found(tier="complex") == []
    assert await repo.worklist_count(world.conn, repo.WorklistFilter(org_units=[UNIT])) == 2
    assert await found(mediator_id="M-T-1") == ["MC-1", "MC-3"]


async def test_a_session_is_recorded_after_it_took_place_with_who_came_and_its_result(world):
    await mediator(world, "M-T-1")
    await arrive(world, "MC-1")
    await accepted(world, "MC-1")
    session_id = await world.run(lambda ctx: sessions.schedule_session(
        ctx, "MC-1", scheduled_at=ctx.now + timedelta(hours=2), location="调解室", actor="王淑芬"))
    with pytest.raises(Invalid) as refused:
        await world.run(lambda ctx: sessions.record_session(
            ctx, "MC-1", session_id, held_at=ctx.now + timedelta(days=1), parties_present=[" "], notes="",
            actor="王淑芬", result="maybe"))
    assert {(e.field, e.reason) for e in refused.value.errors} == {
        ("held_at", "召开时间不能晚于现在：调解会召开后再记录"), ("parties_present", "至少选择一方到场人员"),
        ("result", "请选择调解会结果")}
    await world.run(lambda ctx: sessions.record_session(
        ctx, "MC-1", session_id, held_at=ctx.now, parties_present=["职工1（职工）", "西宁市示例建筑有限公司1（用人单位）"],
        notes="双方就金额达成一致", actor="王淑芬", result="agreed"))
    held_file = await repo.case_file(world.conn, "MC-1")
    assert held_file is not None
    [held] = [from_row(MediationSession, r) for r in held_file["file_sessions"]]
    assert (held.result, held.parties_present) == ("agreed", ["职工1（职工）", "西宁市示例建筑有限公司1（用人单位）"])
    detail = await views.case_detail(world.conn, "MC-1", now=world.now)  # type: ignore[arg-type]
    line = detail["log_lines"][-1]
    assert (line["action"], line["actor"]) == ("召开调解会", "王淑芬")
    assert "到场：职工1（职工）、西宁市示例建筑有限公司1（用人单位）" in line["detail"] and "结果：达成一致" in line["detail"]
    accepted_line = next(e for e in detail["log_lines"] if e["action"] == "签收")
    assert accepted_line["actor"] == "调解员M-T-1"                   # the mediator by name, not by number


async def test_a_case_file_is_read_whole_in_one_statement(world):
    """The case page's file — its row, clocks, log, sessions and the names of every mediator it mentions — comes
    from one statement: the same as reading each part on its own."""
    await mediator(world, "M-T-1")
    await mediator(world, "M-T-2")
    await mediator(world, "M-T-3")
    await arrive(world, "MC-1")
    first = await accepted(world, "MC-1")
    await world.run(lambda ctx: ctx.deadlines.start(case_id="MC-1", kind=clocks.TIER, started_at=ctx.now,
                                                    due_at=ctx.now + timedelta(days=5), org_unit=UNIT))
    await world.run(lambda ctx: sessions.schedule_session(
        ctx, "MC-1", scheduled_at=ctx.now + timedelta(hours=2), location="调解室", actor="王淑芬"))
    await world.run(lambda ctx: assignment.reassign(ctx, "MC-1", reason="工作调整", actor="督办", config=CONFIG,
                                                    mediator_id="M-T-3" if first != "M-T-3" else "M-T-2"))
    await arrive(world, "MC-2")  # another case's file is not this one's
    await accepted(world, "MC-2")
    await world.run(lambda ctx: sessions.schedule_session(
        ctx, "MC-2", scheduled_at=ctx.now + timedelta(hours=3), location="别处", actor="王淑芬"))
    statements: list[str] = []

    class Counted:  # the connection, each statement sent through it noted
        def __getattr__(self, name: str) -> Any:
            method = getattr(world.conn, name)
            if name not in ("fetch", "fetchrow", "fetchval", "execute", "executemany"):
                return method

            def sent(query: str, *args: Any) -> Any:
                statements.append(query)
                return method(query, *args)

            return sent

    detail = await views.case_detail(Counted(), "MC-1", now=world.now)  # type: ignore[arg-type]
    assert len(statements) == 1, statements
    record = await repo.get(world.conn, "MC-1")
    assert detail["mediator_name"] == f"调解员{record.mediator_id}"
    taken_from = next(e for e in detail["log_lines"] if e["action"] == "改派")
    assert f"调解员{first}" in taken_from["detail"]  # whom it was taken from, by name
    assert [s["location"] for s in detail["sessions"]] == ["调解室"]
    assert [(d["kind"], d["state"]) for d in detail["deadlines"]] == [
        (r["kind"], r["state"]) for r in await world.conn.fetch(
            "SELECT kind, state FROM deadlines WHERE case_id = 'MC-1' AND owner = 'mediation' ORDER BY started_at")]
    assert [e["action"] for e in detail["log"]] == [
        r["action"] for r in await world.conn.fetch("SELECT action FROM case_log WHERE case_id = 'MC-1' ORDER BY id")]
    with pytest.raises(NotFound):
        await views.case_detail(world.conn, "MC-404", now=world.now)  # type: ignore[arg-type]
    # a table read whole gains a column while connections know its old shape (a migration in a rolling deploy):
    # the file is read again, not refused
    await world.conn.execute("ALTER TABLE sessions ADD COLUMN later text")
    assert await views.case_detail(world.conn, "MC-1", now=world.now) == detail  # type: ignore[arg-type]


async def test_a_handed_over_clock_is_adopted_once_in_one_statement(world):
    """A dispatch's clock adopted: one statement (no read first); adopted again (the dispatch redelivered): the
    clock as it is, nothing written, no second start signal."""
    intake_clock = rules.hand_over(rules.start(case_id="MC-H", kind="tier_deadline", owner="intake",
                                               started_at=world.now, due_at=world.now + timedelta(days=5),
                                               warn_ratio=0.8, provisional=False, org_unit=None, attributes={}))
    handover = handover_of(intake_clock)
    sent: list[str] = []
    world.conn.add_query_logger(lambda query: sent.append(query.query))
    first = await world.run(lambda ctx: ctx.deadlines.adopt(handover, case_id="MC-H", org_unit=UNIT, at=world.now))
    assert [q for q in sent if "deadlines" in q] == [INSERT_DEADLINE_ONCE]
    again = await world.run(lambda ctx: ctx.deadlines.adopt(handover, case_id="MC-H", org_unit=UNIT,
                                                            at=world.now + timedelta(hours=1)))
    assert again == first and again.id == intake_clock.id and again.owner == "mediation"
    assert await world.conn.fetchval("SELECT count(*) FROM deadlines WHERE case_id = 'MC-H'") == 1
    assert world.events() == ["deadline.started"]


async def test_a_routes_check_reads_the_case_once_under_the_lock_its_use_case_takes(world):
    """A write route's right to act is checked on the row its use case locks (repo.checked), and the use case's
    own read (repo.held) takes that row: one locked read, none before the transaction. A refused check leaves
    nothing for a later read; a case that is not here is checked as None."""
    await mediator(world, "M-T-1")
    await arrive(world, "MC-1")
    seen: list[Any] = []
    sent: list[str] = []
    world.conn.add_query_logger(lambda query: sent.append(query.query))

    async def act(ctx: HandlerContext) -> Any:
        await repo.checked(ctx, "MC-1", seen.append)
        return await repo.held(ctx, "MC-1")

    _, case = await world.run(act)
    locked = [q for q in sent if "mediation_cases" in q]
    assert locked == [repo.LOCK_CASE_UNHELD] and repo.CASE_SCOPE not in sent  # no one else holds it: one statement
    assert seen == [repo.CaseScope(UNIT, "M-T-1", "offered", None)] and case.state == "offered"

    def refuse(held: Any) -> None:
        raise NotFound("不在范围内")

    async def refused(ctx: HandlerContext) -> None:
        with contextlib.suppress(NotFound):
            await repo.checked(ctx, "MC-1", refuse)
        assert not ctx.batch_memo

    await world.run(refused)
    await world.run(lambda ctx: repo.checked(ctx, "MC-404", seen.append))
    assert seen[-1] is None


@pytest.mark.parametrize("paused", [False, True])
async def test_meeting_a_clock_is_one_statement_and_writes_what_the_rule_says(world, paused):
    """``DeadlineStore.meet`` reads, locks and writes the clock in one statement; the row it leaves is what
    ``rules.meet`` makes of the clock (a paused one included: its pause ends, on time counts the pause)."""
    start = world.now

    async def begin(ctx: HandlerContext) -> Any:
        d = await ctx.deadlines.start(case_id="MC-M", kind="union_mediation", started_at=start,
                                      due_at=start + timedelta(days=15), org_unit=UNIT)
        if paused:
            d = await ctx.deadlines.pause(case_id="MC-M", kind="union_mediation", at=start + timedelta(days=1),
                                          reason="party_unreachable", actor="调解员")
        return d

    before = await world.run(begin)
    sent: list[str] = []
    world.conn.add_query_logger(lambda query: sent.append(query.query))
    at = start + timedelta(days=16)
    met = await world.run(lambda ctx: ctx.deadlines.meet(case_id="MC-M", kind="union_mediation", at=at,
                                                         actor="调解员", reason="settled"))
    assert [q for q in sent if "deadlines" in q] == [MEET_ACTIVE]
    expected = rules.meet(before, at=at)
    assert met == expected and met[1] is paused  # late unless the pause moved the due time past ``at``
    row = await world.conn.fetchrow("SELECT state, met_at, paused_at, next_fire_at, paused_seconds, due_at "
                                    "FROM deadlines WHERE case_id = 'MC-M'")
    d = expected[0]
    assert dict(row) == {"state": "met", "met_at": at, "paused_at": None, "next_fire_at": None,
                         "paused_seconds": d.paused_seconds, "due_at": d.due_at}
    assert await world.run(lambda ctx: ctx.deadlines.meet(case_id="MC-M", kind="union_mediation", at=at)) is None


async def test_a_caller_out_of_scope_is_refused_without_waiting_for_the_cases_lock(usecase_make_db, pg_admin):
    """Another request is writing the case (its row locked). A caller out of scope is refused at once, as for a
    case that is not there: no wait tells them the case exists and is being written. A caller who may write it
    waits for the lock, checked first on the row as last committed, then again on the row as it now is."""
    import asyncio
    import uuid

    import asyncpg

    from tests import clock
    from tests.usecases.conftest import Enough, _database, another_writer_holding, scope_checks

    pool, calendar = await _database(usecase_make_db, pg_admin, "mediation")
    case_id = f"MC-LOCK-{uuid.uuid4().hex[:8]}"
    await pool.execute("INSERT INTO mediation_cases (case_id, org_unit, kind, state, tier, due_at, received_at, facts) "
                       "VALUES ($1, 'QH-XN-CD', 'union', 'awaiting_assignment', 'general', now(), now(), '{}')",
                       case_id)

    async def checked(check: Any) -> None:
        async with pool.acquire() as conn, conn.transaction():
            ctx = HandlerContext(conn, "mediation", "mediation.events", 0.8, calendar, now=clock.now())
            await repo.checked(ctx, case_id, check)

    holder, tx = await another_writer_holding(pool, repo.LOCK_CASE, case_id)
    try:
        refused, out_of_scope = scope_checks(refuse=lambda: NotFound(repo.missing(case_id)))
        with pytest.raises(NotFound):
            await asyncio.wait_for(checked(out_of_scope), 5)  # at once, not after the writer's commit
        assert [s.org_unit for s in refused] == ["QH-XN-CD"]

        seen, in_scope = scope_checks()
        waiting = asyncio.ensure_future(checked(in_scope))
        await asyncio.sleep(0.5)
        assert not waiting.done() and [s.mediator_id for s in seen] == [None]  # checked, now waiting
        await holder.execute("UPDATE mediation_cases SET mediator_id = 'm-after' WHERE case_id = $1", case_id)
        await tx.commit()
        with pytest.raises(Enough):
            await asyncio.wait_for(waiting, 5)
        assert [s.mediator_id for s in seen] == [None, "m-after"]  # checked again on the row as the writer left it
    finally:
        with contextlib.suppress(asyncpg.InterfaceError):  # committed already, when the test got that far
            await tx.rollback()
        await pool.release(holder)
        await pool.execute("DELETE FROM mediation_cases WHERE case_id = $1", case_id)
