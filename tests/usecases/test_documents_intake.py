"""Intake's receipt from a registered case: the case number, times, unit and the masked ID number."""

from __future__ import annotations

import pytest

from services.intake import documents
from services.intake.registration import register
from tests.documents import text_of
from tests.usecases.conftest import world_fixture
from tests.usecases.test_intake import CONFIG, case_row, submission

pytestmark = [pytest.mark.asyncio(loop_scope="session")]

world = world_fixture("intake")


async def test_a_registered_case_has_a_receipt(world):
    sub = submission(world)
    out = await world.run(lambda ctx: register(ctx, sub, config=CONFIG))
    assert await documents.available(world.conn, out.case_id) == ["receipt"]
    text = text_of(await documents.receipt(world.conn, out.case_id, CONFIG))
    row = await case_row(world, out.case_id)
    id_number = sub.workers[0].id_number
    for fact in ("劳动争议受理回执", out.case_id, sub.workers[0].name, sub.employer.name, "欠薪6,800.00元", "12351热线",
                 "一般问题", "城东区总工会", id_number[:4] + "**********" + id_number[-4:]):
        assert fact in text, fact
    assert id_number not in text and row["status"] in ("received", "dispatched")
    assert await documents.receipt(world.conn, "LC-NONE", CONFIG) is None
