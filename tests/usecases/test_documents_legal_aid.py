"""Legal aid's decision document from real rows: none while under review, then the decision with its reasons."""

from __future__ import annotations

import pytest

from services.legal_aid import applications, decisions, documents
from services.legal_aid import repository as repo
from tests.documents import text_of
from tests.usecases.conftest import world_fixture
from tests.usecases.test_legal_aid import CONFIG, arrived

pytestmark = [pytest.mark.asyncio(loop_scope="session")]

world = world_fixture("legal_aid")


async def test_a_denial_is_printed_with_its_reasons_and_the_masked_id_number(world):
    case_id = await arrived(world, "LAD-1", claim="social_insurance")
    assert await documents.decision(world.conn, case_id, CONFIG) is None
    await world.run(lambda ctx: applications.record_applicant(ctx, case_id, migrant_worker=False, monthly_income=3500,
                                                              limitation_date=None, actor="援助中心", config=CONFIG))
    await world.run(lambda ctx: decisions.decide(ctx, case_id, decision="denied", reasons=["家庭人均月收入超过当地标准"],
                                                 actor="援助中心", config=CONFIG))
    text = text_of(await documents.decision(world.conn, case_id, CONFIG))
    case = await repo.get(world.conn, case_id)
    id_number = case.facts["workers"][0]["id_number"]
    for fact in ("不予法律援助决定书", "LAD-1", "马福祥", "家庭人均月收入超过当地标准", "异议", "36,000.00元",
                 id_number[:4] + "**********" + id_number[-4:]):
        assert fact in text, fact
    assert id_number not in text
    assert documents.kinds_of(case) == ["legal-aid-decision"]
