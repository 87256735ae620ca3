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
from services.backbone.consumer import HandlerContext
from services.backbone.errors import Conflict, Invalid, NotFound
from services.calendar.model import local_date
from services.mediation import assignment, clocks, outcomes, registry, views
from services.mediation import repository as repo
from services.mediation.config import default_config
from services.mediation.dispatches import open_case
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


async def test_a_case_nobody_has_room_for_waits_until_someone_has(world):
    await mediator(world, "M-T-1", capacity=1)
    await arrive(world, "MC-1")
    assert await arrive(world, "MC-2") == "awaiting_assignment"
    assert world.events("mediation.assignment_pending") == ["mediation.assignment_pending"]

    @contextlib.asynccontextmanager
    async def unit_of_work() -> AsyncIterator[HandlerContext]:
        async with world.conn.transaction():
            yield world.context()

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
