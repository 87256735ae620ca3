"""Follow-up over the real broker and database: a settled case with two instalments, one missed, reopens."""

from __future__ import annotations

import json
import uuid
from datetime import date, timedelta

import pytest
import pytest_asyncio

from services.backbone import kafka
from services.followup.service import SPEC as FOLLOWUP
from services.intake.domain.identifiers import make_id_number, make_uscc
from services.intake.service import SPEC as INTAKE
from services.mediation.service import SPEC as MEDIATION
from services.security import tokens
from services.security.policy import Principal
from tests import clock
from tests.conftest import wait_until
from tests.integration.conftest import running_all

pytestmark = [pytest.mark.integration, pytest.mark.clock, pytest.mark.asyncio(loop_scope="session")]
_n = iter(range(1, 10**6))


def instalment(days_from_today: int, amount: int) -> dict:
    return {"due_date": (clock.today() + timedelta(days=days_from_today)).isoformat(), "amount_cny": amount}


def check_day(fu, due_date: str) -> str:
    """Follow-up checks an instalment one working day after it is due (policy), on the service's own calendar."""
    return fu.runtime.calendar.add_working_days(date.fromisoformat(due_date), 1).day.isoformat()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def stack(kafka_bootstrap, embedded_pg):
    async with running_all(kafka_bootstrap, embedded_pg.admin_dsn(), INTAKE, MEDIATION, FOLLOWUP) as services:
        yield services


async def settled_case(intake, med, *, instalments: list[dict]) -> str:
    n = next(_n)
    body = {"channel": "hotline", "received_at": clock.now_iso(),
            "region_code": "630105", "summary": "拖欠工资", "actor": "热线",
            "workers": [{"name": f"回访职工{n}", "id_number": make_id_number("630105", date(1988, 1, 2), 300 + n),
                         "phone": f"1370971{n:04d}"}],
            "employer": {"name": f"城北区某餐饮公司{n}", "uscc": make_uscc("630105", 6100 + n)},
            "claims": [{"type": "wage_arrears", "amount_cny": sum(i["amount_cny"] for i in instalments) or 3000}]}
    case_id = (await intake.post("/api/v1/cases", json=body)).json()["case_id"]

    async def offered():
        r = await med.get(f"/api/v1/mediation/cases/{case_id}")
        return r.json()["mediator_id"] if r.status_code == 200 and r.json()["mediator_id"] else None

    mediator = await wait_until(offered, what="mediation case")
    await med.post(f"/api/v1/mediation/cases/{case_id}/accept", json={"mediator_id": mediator})
    total = sum(i["amount_cny"] for i in instalments) or 3000
    r = await med.post(f"/api/v1/mediation/cases/{case_id}/settle", json={
        "agreement": {"amount_cny": total, "instalments": instalments, "terms": "分期支付"}, "actor": mediator})
    assert r.status_code == 200 and r.json()["state"] == "resolved", r.text
    return case_id


async def followup_case(fu, case_id: str, calls: int) -> dict:
    async def found():
        r = await fu.get(f"/api/v1/followup/cases/{case_id}")
        return r.json() if r.status_code == 200 and len(r.json()["calls"]) >= calls else None

    return await wait_until(found, what="follow-up to schedule the calls")


async def test_two_instalments_one_missed_reopens_the_case(stack, kafka_bootstrap):
    intake, med, fu = stack
    instalments = [instalment(0, 6000), instalment(40, 6000)]  # the first falls due today, the second later
    case_id = await settled_case(intake, med, instalments=instalments)
    case = await followup_case(fu, case_id, 3)
    calls = {(c["kind"], c["seq"]): c for c in case["calls"]}
    assert calls[("instalment", 1)]["due_date"] == check_day(fu, instalments[0]["due_date"])
    assert calls[("instalment", 2)]["due_date"] == check_day(fu, instalments[1]["due_date"])
    worklist = (await fu.get("/api/v1/followup/worklist")).json()["calls"]
    assert {c["followup_id"] for c in worklist} >= {c["followup_id"] for c in case["calls"]}

    first = calls[("first", 0)]["followup_id"]
    missing = await fu.post(f"/api/v1/followup/calls/{first}", json={"reached": True, "actor": "回访员"})
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "satisfaction"
    r = await fu.post(f"/api/v1/followup/calls/{first}", json={"reached": True, "satisfaction": 4, "comment": "满意",
                                                               "actor": "回访员"})
    assert r.json()["case_state"] == "monitoring"
    early = await fu.post(f"/api/v1/followup/calls/{calls[('instalment', 2)]['followup_id']}",
                          json={"reached": True, "paid": False, "actor": "回访员"})
    assert early.status_code == 422 and early.json()["errors"][0]["field"] == "paid", early.text
    r = await fu.post(f"/api/v1/followup/calls/{calls[('instalment', 2)]['followup_id']}",
                      json={"reached": True, "paid": True, "actor": "回访员"})  # paid ahead of time
    assert r.json()["case_state"] == "monitoring"
    r = await fu.post(f"/api/v1/followup/calls/{calls[('instalment', 1)]['followup_id']}",
                      json={"reached": True, "paid": False, "comment": "用人单位称资金困难", "actor": "回访员"})
    assert r.json()["case_state"] == "reopened"
    again = await fu.post(f"/api/v1/followup/calls/{calls[('instalment', 1)]['followup_id']}",
                          json={"reached": True, "paid": True, "actor": "回访员"})
    assert again.status_code == 409

    async def reopened():
        c = (await med.get(f"/api/v1/mediation/cases/{case_id}")).json()
        return c if c["state"] == "in_mediation" else None

    case = await wait_until(reopened, what="mediation to resume the case")
    assert [d["state"] for d in case["deadlines"] if d["kind"] == "tier"] == ["met", "open"]
    assert any(e["action"] == "reopened" for e in case["log"])
    listed = [c for c in (await med.get("/api/v1/mediation/worklist", params={"limit": 1000})).json()["cases"]
              if c["case_id"] == case_id]
    assert [c["due_at"] for c in listed] == [d["due_at"] for d in case["deadlines"] if d["state"] == "open"
                                             and d["kind"] == "tier"]  # once, with the reopened cycle's clock

    async def intake_open():
        c = (await intake.get(f"/api/v1/intake/cases/{case_id}")).json()
        return c["status"] == "dispatched" or None

    await wait_until(intake_open, what="intake to see the case open again")
    types = [json.loads(r.value)["type"] for r in await kafka.read_all(kafka_bootstrap, "followup.events")
             if r.key == case_id.encode()]
    assert types.count("followup.scheduled") == 3
    assert types[-4:] == ["followup.attempted", "followup.instalment_missed", "followup.escalated",
                          "followup.case_reopened"]


async def test_paid_agreement_closes_and_unreachable_worker_is_flagged(stack):
    intake, med, fu = stack
    case_id = await settled_case(intake, med, instalments=[instalment(1, 2000)])
    calls = {c["kind"]: c for c in (await followup_case(fu, case_id, 2))["calls"]}
    await fu.post(f"/api/v1/followup/calls/{calls['first']['followup_id']}",
                  json={"reached": True, "satisfaction": 2, "comment": "等待时间过长", "actor": "回访员"})
    r = await fu.post(f"/api/v1/followup/calls/{calls['instalment']['followup_id']}",
                      json={"reached": True, "paid": True, "actor": "回访员"})
    assert r.json()["case_state"] == "closed"
    case = (await fu.get(f"/api/v1/followup/cases/{case_id}")).json()
    assert case["flagged"] and case["satisfaction"] == 2

    async def intake_closed():
        return (await intake.get(f"/api/v1/intake/cases/{case_id}")).json()["status"] == "closed" or None

    await wait_until(intake_closed, what="intake to close the case")

    other = await settled_case(intake, med, instalments=[])
    first = (await followup_case(fu, other, 1))["calls"][0]["followup_id"]
    for _ in range(2):
        r = await fu.post(f"/api/v1/followup/calls/{first}", json={"reached": False, "actor": "回访员"})
        assert r.json()["next_attempt_date"]
    r = await fu.post(f"/api/v1/followup/calls/{first}", json={"reached": False, "actor": "回访员"})
    assert r.json()["case_state"] == "unreachable"
    page = await fu.get("/followup")
    assert page.status_code == 200 and "回访工作台" in page.text


async def test_a_call_out_of_the_callers_scope_answers_as_a_missing_one_and_records_nothing(stack):
    """Recording a call: the caller's right to write its case is checked on the rows the recording locks. A clerk
    of another province gets exactly the answer a call that does not exist gets, and nothing is written; a
    supervisor, who reads but does not call, is refused by role before anything is read."""
    intake, med, fu = stack
    case_id = await settled_case(intake, med, instalments=[])
    first = (await followup_case(fu, case_id, 1))["calls"][0]["followup_id"]

    def as_(role: str, unit: str) -> dict[str, str]:
        return {"authorization": f"Bearer {tokens.issue(Principal(f'{role}-{unit}', role, unit, None, ''))}"}

    body = {"reached": True, "satisfaction": 5, "actor": "回访员"}
    foreign = await fu.post(f"/api/v1/followup/calls/{first}", json=body, headers=as_("clerk", "SC"))
    missing = await fu.post(f"/api/v1/followup/calls/{uuid.uuid4()}", json=body, headers=as_("clerk", "SC"))
    assert foreign.status_code == missing.status_code == 404 and foreign.json() == missing.json()
    assert (await fu.post(f"/api/v1/followup/calls/{first}", json=body,
                          headers=as_("supervisor", "QH"))).status_code == 403
    case = (await fu.get(f"/api/v1/followup/cases/{case_id}")).json()
    assert case["state"] == "monitoring" and case["calls"][0]["state"] == "scheduled"
    mine = await fu.post(f"/api/v1/followup/calls/{first}", json=body, headers=as_("clerk", "QH"))
    assert mine.status_code == 200 and mine.json()["case_state"] == "closed"


async def test_a_call_id_that_is_no_call_is_refused_before_anything_is_read(stack):
    """A path that cannot name a call (not a UUID, or a very long hostile string) answers the missing call's 404."""
    _, _, fu = stack
    body = {"reached": True, "satisfaction": 5, "actor": "回访员"}
    missing = await fu.post(f"/api/v1/followup/calls/{uuid.uuid4()}", json=body)
    for bad in ("not-a-call", "x" * 4000, "%27%3B--"):
        r = await fu.post(f"/api/v1/followup/calls/{bad}", json=body)
        assert r.status_code == 404 and r.json()["detail"] == missing.json()["detail"], r.text
