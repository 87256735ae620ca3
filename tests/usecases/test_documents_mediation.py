"""Mediation's documents from real rows: no agreement before the settlement, then its amount and instalments;
a failed court case's feedback letter with the disputed points and no ID number."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from events.common import Instalment
from events.intake import CaseRefs
from services.calendar.model import local_date
from services.mediation import documents, outcomes
from services.mediation import repository as repo
from tests.documents import text_of
from tests.usecases.conftest import world_fixture
from tests.usecases.test_mediation import CONFIG, accepted, agreement, arrive, mediator

pytestmark = [pytest.mark.asyncio(loop_scope="session")]

world = world_fixture("mediation")


async def test_the_agreement_exists_once_settled_and_shows_every_instalment(world):
    await mediator(world, "M-D-1")
    await arrive(world, "MD-1")
    await accepted(world, "MD-1")
    assert await documents.agreement(world.conn, "MD-1", CONFIG) is None
    assert documents.kinds_of(await repo.get(world.conn, "MD-1")) == []
    today = local_date(world.now)
    due = [today + timedelta(days=d) for d in (10, 40)]
    settled = agreement(amount_cny=Decimal("12800.00"), terms="一次性出具离职证明", instalments=[
        Instalment(due_date=due[0].isoformat(), amount_cny=Decimal("6400.00")),
        Instalment(due_date=due[1].isoformat(), amount_cny=Decimal("6400.00"))])
    await world.run(lambda ctx: outcomes.settle(ctx, "MD-1", agreement=settled, representatives=[], actor="M-D-1"))
    pdf = await documents.agreement(world.conn, "MD-1", CONFIG)
    assert pdf is not None and pdf == await documents.agreement(world.conn, "MD-1", CONFIG)
    text = text_of(pdf)
    record = await repo.get(world.conn, "MD-1")
    worker = record.facts["workers"][0]
    for fact in ("MD-1", worker["name"], worker["id_number"], record.facts["employer"]["name"], "12,800.00元",
                 "壹万贰仟捌佰元整", "6,400.00元", f"{due[0].year}年{due[0].month}月{due[0].day}日",
                 f"{due[1].year}年{due[1].month}月{due[1].day}日", "一次性出具离职证明", "调解员M-D-1"):
        assert fact in text, fact
    assert documents.kinds_of(record) == ["agreement"]
    assert await documents.feedback_letter(world.conn, "MD-1", CONFIG) is None  # a settled union case has none


async def test_a_failed_court_case_has_a_feedback_letter_without_id_numbers(world):
    await mediator(world, "M-D-2")
    await arrive(world, "MD-2", refs=CaseRefs(court_code="QH0103", court_case_no="(2026)青0103民诉前调77号",
                                              referral_kind="pre_filing"))
    await accepted(world, "MD-2")
    assert await documents.feedback_letter(world.conn, "MD-2", CONFIG) is None
    await world.run(lambda ctx: outcomes.fail(ctx, "MD-2", disputed_points=["加班费计算基数", "是否存在劳动关系"],
                                              summary="双方差距过大", to_legal_aid=False, actor="M-D-2"))
    text = text_of(await documents.feedback_letter(world.conn, "MD-2", CONFIG))
    record = await repo.get(world.conn, "MD-2")
    worker = record.facts["workers"][0]
    for fact in ("委托调解反馈函", "(2026)青0103民诉前调77号", "MD-2", worker["name"], "加班费计算基数", "是否存在劳动关系",
                 "调解员M-D-2"):
        assert fact in text, fact
    assert worker["id_number"] not in text and worker["id_number"][-4:] not in text
    assert record.facts["employer"]["uscc"] not in text
    assert documents.kinds_of(record) == ["feedback-letter"]
    assert await documents.agreement(world.conn, "MD-2", CONFIG) is None
