"""The clerk's desk on real PostgreSQL: the preview (登记预览) says what registering would do and writes nothing,
shows the possible duplicates within the clerk's scope only, and the clerk's explicit choice — join one of them
or register a new case — is followed and checked."""

from __future__ import annotations

import itertools
from dataclasses import replace
from decimal import Decimal

import pytest

from events.common import Channel, Claim, ClaimType, Tier
from services.backbone.caselog import entries
from services.backbone.errors import Invalid
from services.intake.config import IntakeConfig
from services.intake.domain.duplicates import DuplicateChoice
from services.intake.registration import Submission, preview, register
from services.intake.repository import desk_cases
from tests.factories import employer, worker
from tests.usecases.conftest import world_fixture

pytestmark = [pytest.mark.asyncio(loop_scope="session"), pytest.mark.clock]

world = world_fixture("intake")
CONFIG = IntakeConfig.default()
_n = itertools.count(8100)
EVERYWHERE = {"visible": lambda unit: True}


def submission(world, **extra) -> Submission:
    n = next(_n)
    values = {"channel": Channel.window, "received_at": world.now, "region_code": "630102",
              "workers": [worker(n * 10), worker(n * 10 + 1)], "employer": employer(n),
              "claims": [Claim(type=ClaimType.wage_arrears, amount_cny=Decimal("6800"))],
              "summary": "拖欠两个月工资", "actor": "窗口受理员", "registered_by": "clerk"}
    values.update(extra)
    return Submission(**values)


async def count(world) -> int:
    return await world.conn.fetchval("SELECT count(*) FROM cases")


async def test_the_preview_answers_tier_due_route_and_unit_and_writes_nothing(world):
    sub = submission(world, claims=[Claim(type=ClaimType.wage_arrears, amount_cny=Decimal("26800"))])
    before = await count(world)
    shown = await world.run(lambda ctx: preview(ctx, sub, config=CONFIG, **EVERYWHERE))
    assert shown.plan.decision.tier == Tier.difficult and shown.plan.route == "mediation"
    assert shown.plan.unit is not None and shown.plan.unit.code == "QH-XN-CD"
    assert shown.duplicates == [] and await count(world) == before and world.events() == []
    body = shown.as_json(CONFIG)
    assert body["org_unit_name"] == "城东区总工会" and body["tier"] == "difficult"
    # registering the same body gives the same tier, due time and unit
    out = await world.run(lambda ctx: register(ctx, sub, config=CONFIG, **EVERYWHERE))
    assert (out.tier, out.due_at, out.org_unit) == ("difficult", shown.due_at, "QH-XN-CD")


async def test_the_preview_refuses_what_registering_refuses(world):
    sub = submission(world)
    bad = sub.workers[1].model_copy(update={"id_number": sub.workers[1].id_number[:-1] + (
        "0" if sub.workers[1].id_number[-1] != "0" else "1")})
    with pytest.raises(Invalid) as refused:
        await world.run(lambda ctx: preview(ctx, replace(sub, workers=[sub.workers[0], bad]), config=CONFIG))
    assert refused.value.code == "needs-override"
    assert [e.field for e in refused.value.errors] == ["workers[1].id_number"]
    shown = await world.run(lambda ctx: preview(ctx, replace(
        sub, workers=[sub.workers[0], bad], overrides={"workers[1].id_number": "已核对身份证原件"}), config=CONFIG))
    assert shown.warnings[0].override_reason == "已核对身份证原件"
    with pytest.raises(Invalid) as tier:
        await world.run(lambda ctx: preview(ctx, replace(sub, tier=Tier.complex, tier_reason=" "), config=CONFIG))
    assert [e.field for e in tier.value.errors] == ["tier"]


async def test_an_answer_on_the_spot_is_previewed_and_registered_as_answered(world):
    sub = submission(world, route="answered", answer="已告知《劳动合同法》第三十条，建议先与单位协商")
    shown = await world.run(lambda ctx: preview(ctx, sub, config=CONFIG))
    assert shown.plan.route == "answered" and shown.plan.resolved_in_intake
    out = await world.run(lambda ctx: register(ctx, sub, config=CONFIG))
    assert out.status == "answered" and world.events("intake.case_answered")


async def test_the_preview_offers_the_open_case_of_the_same_dispute_within_scope_only(world):
    first = submission(world)
    one = await world.run(lambda ctx: register(ctx, first, config=CONFIG, **EVERYWHERE))
    again = replace(first, workers=[first.workers[0], worker(next(_n) * 10)])
    shown = await world.run(lambda ctx: preview(ctx, again, config=CONFIG, **EVERYWHERE))
    assert [c.case_id for c in shown.duplicates] == [one.case_id]
    assert shown.matched_workers[one.case_id] == [first.workers[0].name]
    hidden = await world.run(lambda ctx: preview(ctx, again, config=CONFIG, visible=lambda unit: False))
    assert hidden.duplicates == [] and one.case_id not in repr(hidden.as_json(CONFIG))


async def test_the_clerk_links_to_the_offered_case(world):
    first = submission(world)
    one = await world.run(lambda ctx: register(ctx, first, config=CONFIG, **EVERYWHERE))
    again = replace(first, workers=[first.workers[0]], duplicate=DuplicateChoice("link", one.case_id))
    two = await world.run(lambda ctx: register(ctx, again, config=CONFIG, **EVERYWHERE))
    assert two.linked and two.case_id == one.case_id and world.events("intake.case_linked")


async def test_the_clerk_registers_a_new_case_despite_a_possible_duplicate(world):
    first = submission(world)
    one = await world.run(lambda ctx: register(ctx, first, config=CONFIG, **EVERYWHERE))
    again = replace(first, duplicate=DuplicateChoice("new", one.case_id, "另一段劳动关系的欠薪"))
    two = await world.run(lambda ctx: register(ctx, again, config=CONFIG, **EVERYWHERE))
    assert not two.linked and two.case_id != one.case_id and not world.events("intake.case_linked")
    log = await entries(world.conn, two.case_id)
    not_linked = [e for e in log if e["action"] == "not_linked"]
    assert not_linked and not_linked[0]["detail"]["other_cases"] == [one.case_id]
    assert not_linked[0]["detail"]["reason"] == "另一段劳动关系的欠薪"


async def test_a_link_to_a_case_that_is_not_a_duplicate_in_scope_is_refused(world):
    first = submission(world)
    one = await world.run(lambda ctx: register(ctx, first, config=CONFIG, **EVERYWHERE))
    other = submission(world)  # another worker, another employer
    before = await count(world)
    with pytest.raises(Invalid) as refused:
        await world.run(lambda ctx: register(ctx, replace(other, duplicate=DuplicateChoice("link", one.case_id)),
                                             config=CONFIG, **EVERYWHERE))
    assert [(e.field, e.code) for e in refused.value.errors] == [("duplicate.case_id", "not_a_duplicate")]
    with pytest.raises(Invalid):  # the same dispute, but outside the clerk's scope: not offered, not joinable
        await world.run(lambda ctx: register(ctx, replace(first, duplicate=DuplicateChoice("link", one.case_id)),
                                             config=CONFIG, visible=lambda unit: False))
    with pytest.raises(Invalid):
        await world.run(lambda ctx: register(ctx, replace(first, duplicate=DuplicateChoice("link")), config=CONFIG))
    assert await count(world) == before


async def test_the_desk_lists_the_clerks_own_registrations(world):
    mine = await world.run(lambda ctx: register(ctx, submission(world), config=CONFIG))
    theirs = await world.run(lambda ctx: register(ctx, submission(world, registered_by="clerk-2"), config=CONFIG))
    rows, total = await desk_cases(world.conn, registered_by="clerk", units=[], me="clerk", status=None, q=None,
                                   order="received_at DESC", limit=25, offset=0)
    assert mine.case_id in [r.case_id for r in rows] and theirs.case_id not in [r.case_id for r in rows]
    assert total == len(rows)
    rows, _ = await desk_cases(world.conn, registered_by=None, units=["QH-XN-CD"], me="clerk", status=None,
                               q=theirs.case_id.lower(), order="due_at", limit=25, offset=0)
    assert [r.case_id for r in rows] == [theirs.case_id]
