"""What a court may read of a case's papers (docs/adr/0006): "a court sees only what it needs". The court (or
bureau) that referred a case reads the 调解协议书 it confirms and the 委托调解反馈函 addressed to it — nothing else:
no 受理回执, no 法律援助决定书, no evidence (the list, a file, an upload); another court reads none of it, and a
union case not at all. Authentication on, real broker and PostgreSQL."""

from __future__ import annotations

import uuid
from contextlib import AsyncExitStack

import pytest
import pytest_asyncio

from events.intake import CaseRefs
from services.backbone import usecase
from services.intake.service import SPEC as INTAKE
from services.legal_aid.service import SPEC as LEGAL_AID
from services.mediation import outcomes
from services.mediation.service import SPEC as MEDIATION
from tests import clock
from tests.integration.conftest import running
from tests.integration.test_access import auth, new_case
from tests.usecases.test_mediation import accepted, agreement, arrive, mediator

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]
COURT, OTHER_COURT = "QH0103", "QH0104"


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def apps(kafka_bootstrap, embedded_pg):
    async with AsyncExitStack() as stack:
        yield {spec.name: await stack.enter_async_context(running(spec, kafka_bootstrap, embedded_pg.admin_dsn(),
                                                                  auth_required=True))
               for spec in (INTAKE, MEDIATION, LEGAL_AID)}


class Through:
    """The use-case helpers' world, on a running service's own database (each step its own unit of work)."""

    def __init__(self, runtime):
        self.runtime, self.conn, self.now = runtime, runtime.pool, clock.now()

    async def run(self, step):
        return await usecase.run(self.runtime, step)


async def referred(world: Through, outcome: str) -> str:
    case_id = f"LC-SCOPE-{uuid.uuid4().hex[:8]}"
    await mediator(world, f"M-S-{case_id[-8:]}")
    await arrive(world, case_id, refs=CaseRefs(court_code=COURT, court_case_no=f"(2026)青0103民诉前调{case_id[-6:]}号",
                                               referral_kind="pre_filing"))
    me = await accepted(world, case_id)
    if outcome == "settled":
        await world.run(lambda ctx: outcomes.settle(ctx, case_id, agreement=agreement(), representatives=[], actor=me))
    else:
        await world.run(lambda ctx: outcomes.fail(ctx, case_id, disputed_points=["加班费计算基数"], summary="",
                                                  to_legal_aid=False, actor=me))
    return case_id


async def test_the_referring_court_reads_the_agreement_and_the_feedback_letter_only(apps):
    world = Through(apps["mediation"].runtime)
    settled, failed = await referred(world, "settled"), await referred(world, "failed")
    court = auth("partner", None, subject="court-papers", partner=COURT)
    other = auth("partner", None, subject="other-court-papers", partner=OTHER_COURT)
    get = apps["mediation"].get

    r = await get(f"/api/v1/cases/{settled}/documents/agreement.pdf", headers=court)
    assert r.status_code == 200 and r.content.startswith(b"%PDF-")
    r = await get(f"/api/v1/cases/{failed}/documents/feedback-letter.pdf", headers=court)
    assert r.status_code == 200 and r.content.startswith(b"%PDF-")
    # another court: as if the case did not exist
    for case_id, kind in ((settled, "agreement"), (failed, "feedback-letter")):
        r = await get(f"/api/v1/cases/{case_id}/documents/{kind}.pdf", headers=other)
        assert r.status_code == 404 and "不存在" in r.json()["detail"], r.text

    # a union case (no court referred it): no court reads its agreement
    union = f"LC-SCOPE-{uuid.uuid4().hex[:8]}"
    await mediator(world, f"M-U-{union[-8:]}")
    await arrive(world, union)
    me = await accepted(world, union)
    await world.run(lambda ctx: outcomes.settle(ctx, union, agreement=agreement(), representatives=[], actor=me))
    assert (await get(f"/api/v1/cases/{union}/documents/agreement.pdf", headers=court)).status_code == 404
    assert (await get(f"/api/v1/cases/{union}/documents/agreement.pdf",
                      headers=auth("supervisor", "QH"))).status_code == 200


async def test_a_court_reads_no_evidence_no_receipt_and_no_legal_aid_decision(apps):
    case_id = await new_case(apps, "630103")
    court = auth("partner", None, subject="court-evidence", partner=COURT)
    refusals = [
        await apps["intake"].get(f"/api/v1/cases/{case_id}/attachments", headers=court),
        await apps["intake"].get(f"/api/v1/cases/{case_id}/attachments/{uuid.uuid4()}", headers=court),
        await apps["intake"].post(f"/api/v1/cases/{case_id}/attachments", headers=court,
                                  files={"file": ("a.png", b"\x89PNG\r\n\x1a\n" + b"0" * 64, "image/png")},
                                  data={"kind": "photo"}),
        await apps["intake"].get(f"/api/v1/cases/{case_id}/documents/receipt.pdf", headers=court),
        await apps["legal_aid"].get(f"/api/v1/cases/{case_id}/documents/legal-aid-decision.pdf", headers=court),
    ]
    # refused for the role, before anything is looked up: the answer says nothing about what exists
    assert [r.status_code for r in refusals] == [403] * 5, [r.text for r in refusals]
    assert all("合作单位" in r.json()["detail"] for r in refusals)
    clerk = await apps["intake"].get(f"/api/v1/cases/{case_id}/attachments", headers=auth("clerk", "QH"))
    assert clerk.status_code == 200 and clerk.json()["attachments"] == []
