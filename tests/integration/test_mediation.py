"""The "法院+工会" loop over the real broker and database: a court referral through settlement, rejection and
confirmation; a failed mediation through feedback and hand-off to legal aid — read as a court would."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer

from services.backbone import kafka
from services.intake.domain.identifiers import make_id_number, make_uscc
from services.intake.service import SPEC as INTAKE
from services.mediation.service import SPEC as MEDIATION
from tests import clock, identity
from tests.conftest import wait_until
from tests.integration.conftest import running_all

pytestmark = [pytest.mark.integration, pytest.mark.clock, pytest.mark.asyncio(loop_scope="session")]
_n = iter(range(1, 10**6))


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def stack(kafka_bootstrap, embedded_pg):
    async with running_all(kafka_bootstrap, embedded_pg.admin_dsn(), INTAKE, MEDIATION) as services:
        yield services


async def court_sends(bootstrap: str, event_type: str, case_no: str, data: dict[str, Any]) -> dict:
    event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "court/QH0103", "type": event_type,
             "time": clock.now().isoformat(), "subject": case_no, "data": data}
    value = json.dumps(event, ensure_ascii=False).encode()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    await producer.send_and_wait("court.events", value, key=case_no.encode(),  # signed, as every partner must
                                 headers=[("content-type", b"application/cloudevents+json"),
                                          *identity.kafka_signature(value, identity.COURT)])
    await producer.stop()
    return event


async def refer(bootstrap: str, *, kind: str = "post_filing", procedure: str | None = "simplified",
                workers: int = 1, region: str = "630103") -> str:
    n = next(_n)
    case_no = f"({clock.today().year})青0103民{'初' if kind == 'post_filing' else '诉前调'}{9000 + n}号"
    data = {"court_code": "QH0103", "court_case_no": case_no, "referral_kind": kind, "region_code": region,
            "referred_at": clock.now().isoformat(),
            "workers": [{"name": f"工人{n}-{i}", "id_number": make_id_number("630103", date(1980, 2, 1 + i), 900 + n * 20 + i),
                         "phone": f"1380971{n:02d}{i:02d}"} for i in range(workers)],
            "employer": {"name": f"西宁某建设公司{n}", "uscc": make_uscc("630103", 7000 + n)},
            "claims": [{"type": "wage_arrears", "amount_cny": 48000}], "summary": "工程完工后拖欠工资"}
    if procedure:
        data["procedure"] = procedure
    await court_sends(bootstrap, "court.case_referred", case_no, data)
    return case_no


async def mediation_case(intake, med, case_no: str) -> dict:
    async def found():
        cases = (await intake.get("/api/v1/intake/cases", params={"ref": case_no})).json()["cases"]
        if not cases:
            return None
        r = await med.get(f"/api/v1/mediation/cases/{cases[0]['case_id']}")
        return r.json() if r.status_code == 200 and r.json()["state"] == "offered" else None

    return await wait_until(found, timeout=40, what=f"mediation case for {case_no}")


async def feedback(bootstrap: str, case_no: str) -> list[dict]:
    """What the court reads on court.feedback for its case number."""
    return [json.loads(r.value) for r in await kafka.read_all(bootstrap, "court.feedback") if r.key == case_no.encode()]


def day(days_from_today: int) -> str:
    return (clock.today() + timedelta(days=days_from_today)).isoformat()


def post(client, path: str, body: dict) -> Any:
    return client.post(path, json=body)


async def test_court_referral_settles_is_rejected_then_confirmed(stack, kafka_bootstrap):
    intake, med = stack
    case_no = await refer(kafka_bootstrap)
    case = await mediation_case(intake, med, case_no)
    case_id, mediator = case["case_id"], case["mediator_id"]
    assert case["kind"] == "court_post_filing" and case["org_unit"] == "QH-XN-CZ"
    assert mediator in ("M-CZ-01", "M-CZ-NC-01")
    assert [d["kind"] for d in case["deadlines"]] == ["tier"]  # adopted from intake

    wrong = await post(med, f"/api/v1/mediation/cases/{case_id}/accept", {"mediator_id": "M-CD-01"})
    assert wrong.status_code == 409 and "被分派" in wrong.json()["detail"]
    case = (await post(med, f"/api/v1/mediation/cases/{case_id}/accept", {"mediator_id": mediator})).json()
    assert case["state"] == "in_mediation"
    kinds = {d["kind"]: d for d in case["deadlines"]}
    assert set(kinds) == {"tier", "union_mediation", "court_entrusted"}
    signed = clock.now()
    court_due = datetime.fromisoformat(kinds["court_entrusted"]["due_at"])
    assert court_due.date() == (signed.astimezone(court_due.tzinfo) + timedelta(days=7)).date()  # simplified: 7 days

    s = await post(med, f"/api/v1/mediation/cases/{case_id}/sessions",
                   {"scheduled_at": (clock.now() + timedelta(days=1)).isoformat(), "location": "城中区调解室",
                    "actor": mediator})
    assert s.status_code == 201
    r = await post(med, f"/api/v1/mediation/cases/{case_id}/sessions/{s.json()['session_id']}/record",
                   {"held_at": clock.now().isoformat(), "parties_present": ["申请人", "被申请人代理人"],
                    "notes": "双方同意分两期支付", "actor": mediator})
    assert r.status_code == 200

    bad = await post(med, f"/api/v1/mediation/cases/{case_id}/settle", {"agreement": {
        "amount_cny": 48000, "instalments": [{"due_date": day(18), "amount_cny": 20000},
                                             {"due_date": day(49), "amount_cny": 20000}]}, "actor": mediator})
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "agreement.instalments"
    agreement = {"amount_cny": 48000, "terms": "分两期付清", "instalments": [
        {"due_date": day(18), "amount_cny": 20000}, {"due_date": day(49), "amount_cny": 28000}]}
    case = (await post(med, f"/api/v1/mediation/cases/{case_id}/settle",
                       {"agreement": agreement, "actor": mediator})).json()
    assert case["state"] == "awaiting_confirmation"
    assert all(d["paused"] for d in case["deadlines"] if d["state"] in ("open", "paused"))

    async def requested():
        got = [e["type"] for e in await feedback(kafka_bootstrap, case_no)]
        return got if "union.confirmation_requested" in got else None

    assert await wait_until(requested, what="the court to read the settlement") == [
        "union.mediation_settled", "union.confirmation_requested"]
    settled = (await feedback(kafka_bootstrap, case_no))[0]
    text = json.dumps(settled, ensure_ascii=False)
    assert settled["data"]["agreement"]["amount_cny"] == 48000 and "id_number" not in text and "phone" not in text

    await court_sends(kafka_bootstrap, "court.confirmation_decided", case_no, {
        "court_case_no": case_no, "decision": "rejected", "decided_at": clock.now().isoformat(),
        "reason": "分期履行条款约定不明确"})

    async def state(expected: str):
        c = (await med.get(f"/api/v1/mediation/cases/{case_id}")).json()
        return c if c["state"] == expected else None

    case = await wait_until(lambda: state("in_mediation"), what="rejection to reopen mediation")
    assert case["agreement"] is None
    assert not any(d["paused"] for d in case["deadlines"] if d["state"] in ("open", "paused"))
    assert any(e["action"] == "confirmation_rejected" and "不明确" in e["detail"]["reason"] for e in case["log"])

    await post(med, f"/api/v1/mediation/cases/{case_id}/settle", {"agreement": agreement, "actor": mediator})
    await court_sends(kafka_bootstrap, "court.confirmation_decided", case_no, {
        "court_case_no": case_no, "decision": "confirmed", "decided_at": clock.now().isoformat(), "reason": ""})
    case = await wait_until(lambda: state("resolved"), what="confirmation to resolve the case")
    assert case["outcome"] == "settled"
    assert {d["kind"]: d["state"] for d in case["deadlines"]} == {
        "tier": "met", "union_mediation": "met", "court_entrusted": "met"}

    async def resolved_event():
        events = [json.loads(r.value) for r in await kafka.read_all(kafka_bootstrap, "mediation.events")
                  if r.key == case_id.encode()]
        return next((e for e in events if e["type"] == "mediation.case_resolved"), None)

    resolved = await wait_until(resolved_event, what="mediation.case_resolved")
    assert resolved["data"]["confirmed_by_court"] and len(resolved["data"]["agreement"]["instalments"]) == 2


async def test_failed_mediation_feeds_back_to_court_and_hands_over_to_legal_aid(stack, kafka_bootstrap):
    intake, med = stack
    case_no = await refer(kafka_bootstrap, kind="pre_filing", procedure=None)
    case = await mediation_case(intake, med, case_no)
    case_id, mediator = case["case_id"], case["mediator_id"]
    await post(med, f"/api/v1/mediation/cases/{case_id}/accept", {"mediator_id": mediator})
    empty = await post(med, f"/api/v1/mediation/cases/{case_id}/fail", {"disputed_points": [" "], "actor": mediator})
    assert empty.status_code == 422 and empty.json()["errors"][0]["field"] == "disputed_points"
    r = await post(med, f"/api/v1/mediation/cases/{case_id}/fail", {
        "disputed_points": ["是否存在劳动关系", "欠薪数额"], "summary": "用人单位否认用工", "to_legal_aid": True,
        "actor": mediator})
    assert r.status_code == 200 and r.json()["outcome"] == "failed"
    assert {d["kind"]: d["state"] for d in r.json()["deadlines"]}["tier"] == "handed_over"

    async def failed():
        got = [e for e in await feedback(kafka_bootstrap, case_no) if e["type"] == "union.mediation_failed"]
        return got[0] if got else None

    letter = await wait_until(failed, what="the 委托调解反馈函 on court.feedback")
    assert letter["data"]["disputed_points"] == ["是否存在劳动关系", "欠薪数额"]

    async def handed():
        events = [json.loads(r.value) for r in await kafka.read_all(kafka_bootstrap, "mediation.events")
                  if r.key == case_id.encode()]
        return next((e for e in events if e["type"] == "mediation.handed_to_legal_aid"), None)

    handoff = await wait_until(handed, what="hand-off to legal aid")
    assert handoff["data"]["deadline"]["kind"] == "tier" and handoff["data"]["facts"]["workers"]


async def test_confirmation_before_settlement_is_parked_not_dropped(stack, kafka_bootstrap):
    intake, med = stack
    case_no = await refer(kafka_bootstrap)
    case = await mediation_case(intake, med, case_no)
    case_id, mediator = case["case_id"], case["mediator_id"]
    await post(med, f"/api/v1/mediation/cases/{case_id}/accept", {"mediator_id": mediator})
    await court_sends(kafka_bootstrap, "court.confirmation_decided", case_no, {
        "court_case_no": case_no, "decision": "confirmed", "decided_at": clock.now().isoformat(), "reason": ""})
    await wait_until(lambda: med.runtime.pool.fetchval("SELECT count(*) FROM parked WHERE event_type = "
                                                       "'court.confirmation_decided'"), what="parking")
    await post(med, f"/api/v1/mediation/cases/{case_id}/settle",
               {"agreement": {"amount_cny": 1000}, "actor": mediator})

    async def resolved():
        c = (await med.get(f"/api/v1/mediation/cases/{case_id}")).json()
        return c if c["state"] == "resolved" else None

    assert (await wait_until(resolved, what="the parked confirmation to apply"))["outcome"] == "settled"


async def test_decline_reassigns_and_group_dispute_needs_representatives(stack, kafka_bootstrap):
    intake, med = stack
    case_no = await refer(kafka_bootstrap, workers=11)
    case = await mediation_case(intake, med, case_no)
    case_id, first = case["case_id"], case["mediator_id"]
    r = await post(med, f"/api/v1/mediation/cases/{case_id}/decline", {"mediator_id": first, "reason": "与被申请人有亲属关系"})
    second = r.json()["mediator_id"]
    assert r.status_code == 200 and second not in (None, first)
    await post(med, f"/api/v1/mediation/cases/{case_id}/accept", {"mediator_id": second})
    r = await post(med, f"/api/v1/mediation/cases/{case_id}/settle",
                   {"agreement": {"amount_cny": 500000}, "actor": second})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "representatives"
    names = [w["name"] for w in r.json().get("facts", {}).get("workers", [])] or \
            [w["name"] for w in (await med.get(f"/api/v1/mediation/cases/{case_id}")).json()["facts"]["workers"]]
    r = await post(med, f"/api/v1/mediation/cases/{case_id}/settle",
                   {"agreement": {"amount_cny": 500000}, "representatives": names[:2], "actor": second})
    assert r.status_code == 200 and r.json()["representatives"] == names[:2]


async def test_mediator_registry_and_extension(stack, kafka_bootstrap):
    intake, med = stack
    r = await post(med, "/api/v1/mediation/mediators", {"mediator_id": "M-CZ-09", "name": "新调解员",
                                                          "org_unit": "QH-XN-CZ", "capacity": 3})
    assert r.status_code == 201
    assert (await post(med, "/api/v1/mediation/mediators", {"mediator_id": "M-CZ-09", "name": "x",
                                                            "org_unit": "QH-XN-CZ", "capacity": 3})).status_code == 409
    r = await med.patch("/api/v1/mediation/mediators/M-CZ-09", json={"active": False})
    assert r.json()["active"] is False
    case_no = await refer(kafka_bootstrap, procedure="ordinary")
    case = await mediation_case(intake, med, case_no)
    await post(med, f"/api/v1/mediation/cases/{case['case_id']}/accept", {"mediator_id": case["mediator_id"]})
    before = {d["kind"]: d for d in (await med.get(f"/api/v1/mediation/cases/{case['case_id']}")).json()["deadlines"]}
    r = await post(med, f"/api/v1/mediation/cases/{case['case_id']}/extend",
                   {"consent": "双方当事人书面同意延长", "actor": case["mediator_id"]})
    after = {d["kind"]: d for d in r.json()["deadlines"]}
    delta = datetime.fromisoformat(after["court_entrusted"]["due_at"]) - datetime.fromisoformat(
        before["court_entrusted"]["due_at"])
    assert delta == timedelta(days=30)
    again = await post(med, f"/api/v1/mediation/cases/{case['case_id']}/extend",
                       {"consent": "再次延长", "actor": case["mediator_id"]})
    assert again.status_code == 409
    # the worker cannot be reached: the clock stops for a listed reason only, and the pause shifts the due time
    bad = await post(med, f"/api/v1/mediation/cases/{case['case_id']}/pause", {"reason": "lunch", "actor": "x"})
    assert bad.status_code == 422
    paused = await post(med, f"/api/v1/mediation/cases/{case['case_id']}/pause",
                        {"reason": "party_unreachable", "actor": case["mediator_id"]})
    assert {d["kind"]: d for d in paused.json()["deadlines"]}["tier"]["paused"]
    assert (await post(med, f"/api/v1/mediation/cases/{case['case_id']}/pause",
                       {"reason": "party_unreachable", "actor": case["mediator_id"]})).status_code == 409
    resumed = await post(med, f"/api/v1/mediation/cases/{case['case_id']}/resume",
                         {"reason": "已联系上职工", "actor": case["mediator_id"]})
    tier = {d["kind"]: d for d in resumed.json()["deadlines"]}["tier"]
    assert not tier["paused"] and tier["due_at"] >= before["tier"]["due_at"]
    page = await med.get("/mediation", params={"unit": "QH-XN-CZ", "q": case["case_id"]})
    assert page.status_code == 200 and case["case_id"] in page.text and "调解工作台" in page.text
    page = await med.get(f"/mediation/cases/{case['case_id']}")
    assert page.status_code == 200 and "法院委托调解期限" in page.text


async def test_a_case_waiting_for_a_mediator_is_offered_when_one_has_room(stack, kafka_bootstrap):
    """城西区 has one mediator; at capacity 1 the second case waits (a settled court case still awaits the court's
    confirmation and keeps its mediator busy), and is offered as soon as the mediator has room again."""
    intake, med = stack
    assert (await med.patch("/api/v1/mediation/mediators/M-CX-01", json={"capacity": 1})).status_code == 200
    try:
        first = await mediation_case(intake, med, await refer(kafka_bootstrap, region="630104"))
        second_no = await refer(kafka_bootstrap, region="630104")

        async def waiting():
            cases = (await intake.get("/api/v1/intake/cases", params={"ref": second_no})).json()["cases"]
            r = await med.get(f"/api/v1/mediation/cases/{cases[0]['case_id']}") if cases else None
            return r.json() if r is not None and r.status_code == 200 and r.json()["state"] == "awaiting_assignment" \
                else None

        second = await wait_until(waiting, timeout=40, what="the second case waiting for a mediator")
        await asyncio.sleep(4)  # the waiting queue runs every 3 s: still nobody with room
        assert (await med.get(f"/api/v1/mediation/cases/{second['case_id']}")).json()["state"] == "awaiting_assignment"
        await post(med, f"/api/v1/mediation/cases/{first['case_id']}/accept", {"mediator_id": first["mediator_id"]})
        settled = await post(med, f"/api/v1/mediation/cases/{first['case_id']}/settle",
                             {"agreement": {"amount_cny": 30000}, "actor": first["mediator_id"]})
        assert settled.status_code == 200 and settled.json()["state"] == "awaiting_confirmation"
        await asyncio.sleep(4)
        assert (await med.get(f"/api/v1/mediation/cases/{second['case_id']}")).json()["state"] == "awaiting_assignment"
        assert (await med.patch("/api/v1/mediation/mediators/M-CX-01", json={"capacity": 2})).status_code == 200

        async def offered():
            r = (await med.get(f"/api/v1/mediation/cases/{second['case_id']}")).json()
            return r if r["state"] == "offered" else None

        now = await wait_until(offered, timeout=15, what="the waiting case offered to the mediator with room")
        assert now["mediator_id"] == "M-CX-01"
        log = (await med.get(f"/api/v1/mediation/cases/{second['case_id']}")).json()
        pending = [e for e in log.get("log", []) if e.get("action") == "assignment_pending"]
        assert len(pending) == 1  # said once when it started to wait, not every round
    finally:
        await med.patch("/api/v1/mediation/mediators/M-CX-01", json={"capacity": 10})
