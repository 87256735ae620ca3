"""A failed mediation through legal aid: eligibility, lawyer, the bureau's award, money recovered — over the
real broker and database."""

from __future__ import annotations

import json
import uuid
from datetime import date

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer

from services.backbone import kafka
from services.intake.domain.identifiers import make_id_number, make_uscc
from services.intake.service import SPEC as INTAKE
from services.legal_aid.service import SPEC as LEGAL_AID
from services.mediation.service import SPEC as MEDIATION
from tests import clock, identity
from tests.conftest import wait_until
from tests.integration.conftest import running_all

pytestmark = [pytest.mark.integration, pytest.mark.clock, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def stack(kafka_bootstrap, embedded_pg):
    async with running_all(kafka_bootstrap, embedded_pg.admin_dsn(), INTAKE, MEDIATION, LEGAL_AID) as services:
        yield services


async def bureau_sends(bootstrap: str, event_type: str, case_no: str, data: dict) -> None:
    event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "bureau/XNLZ", "type": event_type,
             "time": clock.now().isoformat(), "subject": case_no, "data": data}
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    value = json.dumps(event, ensure_ascii=False).encode()
    await producer.send_and_wait("bureau.events", value, key=case_no.encode(),
                                 headers=identity.kafka_signature(value, identity.BUREAU))
    await producer.stop()


async def test_failed_mediation_gets_legal_aid_a_lawyer_an_award_and_money_back(stack, kafka_bootstrap):
    intake, med, aid = stack
    body = {"channel": "window", "received_at": clock.now_iso(),
            "region_code": "630102", "summary": "农民工被拖欠工资，用人单位否认劳动关系", "actor": "窗口",
            "workers": [{"name": "马福祥", "id_number": make_id_number("632126", date(1983, 4, 9), 31),
                         "phone": "13709712345"}],
            "employer": {"name": "西宁某劳务派遣有限公司", "uscc": make_uscc("630102", 4242)},
            "claims": [{"type": "wage_arrears", "amount_cny": 36000}]}
    case_id = (await intake.post("/api/v1/cases", json=body)).json()["case_id"]

    async def offered():
        r = await med.get(f"/api/v1/mediation/cases/{case_id}")
        return r.json() if r.status_code == 200 and r.json()["mediator_id"] else None

    mediator = (await wait_until(offered, what="mediation case"))["mediator_id"]
    await med.post(f"/api/v1/mediation/cases/{case_id}/accept", json={"mediator_id": mediator})
    r = await med.post(f"/api/v1/mediation/cases/{case_id}/fail", json={
        "disputed_points": ["是否存在劳动关系"], "summary": "用人单位拒绝调解", "to_legal_aid": True, "actor": mediator})
    assert r.status_code == 200

    async def application():
        r = await aid.get(f"/api/v1/legal-aid/cases/{case_id}")
        return r.json() if r.status_code == 200 else None

    case = await wait_until(application, what="the legal-aid application")
    assert case["source"] == "mediation" and case["disputed_points"] == ["是否存在劳动关系"]
    kinds = {d["kind"]: d for d in case["deadlines"]}
    assert set(kinds) == {"tier", "legal_aid_decision"}  # tier adopted from mediation, 7-day decision started

    # waiting for the applicant's materials stops the 7-day clock
    r = await aid.post(f"/api/v1/legal-aid/cases/{case_id}/materials/request",
                       json={"what": "身份证复印件、工资欠条", "actor": "援助中心"})
    assert {d["kind"]: d for d in r.json()["deadlines"]}["legal_aid_decision"]["paused"]
    await aid.post(f"/api/v1/legal-aid/cases/{case_id}/materials/received", json={"actor": "援助中心"})

    assessment = (await aid.post(f"/api/v1/legal-aid/cases/{case_id}/applicant",
                                 json={"migrant_worker": True, "actor": "援助中心"})).json()
    assert assessment["means_test_skipped"] and assessment["recommendation"] == "approve"
    refused = await aid.post(f"/api/v1/legal-aid/cases/{case_id}/decision",
                             json={"decision": "denied", "reasons": ["收入超标"], "actor": "援助中心"})
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "decision"
    early = await aid.post(f"/api/v1/legal-aid/cases/{case_id}/lawyer", json={"actor": "援助中心"})
    assert early.status_code == 409
    r = await aid.post(f"/api/v1/legal-aid/cases/{case_id}/decision",
                       json={"decision": "approved", "reasons": ["农民工追索劳动报酬，免予经济困难审查"], "actor": "援助中心"})
    assert r.json()["state"] == "approved"
    assert {d["kind"]: d["state"] for d in r.json()["deadlines"]}["lawyer_assignment"] == "open"

    # conflict check: the best-fitting lawyer once represented the employer
    await aid.post("/api/v1/legal-aid/lawyers/L-CD-01/conflicts", json={"uscc": body["employer"]["uscc"],
                                                                       "note": "曾担任该公司常年法律顾问"})
    forced = await aid.post(f"/api/v1/legal-aid/cases/{case_id}/lawyer",
                            json={"actor": "援助中心", "lawyer_id": "L-CD-01"})
    assert forced.status_code == 409 and "利益冲突" in forced.json()["detail"]
    r = await aid.post(f"/api/v1/legal-aid/cases/{case_id}/lawyer", json={"actor": "援助中心"})
    case = r.json()
    assert case["state"] == "represented" and case["lawyer_id"] not in (None, "L-CD-01")
    assert {d["kind"]: d["state"] for d in case["deadlines"]} == {
        "tier": "met", "legal_aid_decision": "met", "lawyer_assignment": "met"}

    arbitration_no = f"西劳人仲案字〔{clock.today().year}〕第{uuid.uuid4().hex[:6]}号"
    await aid.post(f"/api/v1/legal-aid/cases/{case_id}/progress", json={
        "stage": "arbitration", "note": "已代为申请仲裁", "arbitration_case_no": arbitration_no, "actor": case["lawyer_id"]})
    await bureau_sends(kafka_bootstrap, "bureau.award_issued", arbitration_no, {
        "arbitration_case_no": arbitration_no, "issued_at": clock.now().isoformat(), "amount_awarded_cny": 35000})

    async def awarded():
        c = (await aid.get(f"/api/v1/legal-aid/cases/{case_id}")).json()
        return c if c["amount_awarded_cny"] is not None else None

    assert float((await wait_until(awarded, what="the bureau's award"))["amount_awarded_cny"]) == 35000
    r = await aid.post(f"/api/v1/legal-aid/cases/{case_id}/conclude", json={
        "outcome": "won", "method": "award", "amount_recovered_cny": 35000, "actor": case["lawyer_id"]})
    assert r.json()["state"] == "concluded"

    async def concluded():
        events = [json.loads(x.value) for x in await kafka.read_all(kafka_bootstrap, "legalaid.events")
                  if x.key == case_id.encode()]
        return next((e for e in events if e["type"] == "legalaid.case_concluded"), None)

    event = await wait_until(concluded, what="legalaid.case_concluded")
    assert event["data"]["amount_recovered_cny"] == 35000 and event["data"]["method"] == "award"
    page = await aid.get(f"/legal-aid/cases/{case_id}")
    assert page.status_code == 200 and "法律援助案件" in page.text


async def test_denial_objection_and_urgent_aid(stack, kafka_bootstrap):
    intake, _, aid = stack
    body = {"channel": "hotline", "received_at": clock.now_iso(),
            "region_code": "630103", "summary": "工伤后单位拒绝赔偿", "actor": "热线",
            "workers": [{"name": "韩永红", "id_number": make_id_number("630103", date(1990, 8, 8), 55),
                         "phone": "13897000055"}],
            "employer": {"name": "西宁某机械厂", "uscc": make_uscc("630103", 4343)},
            "claims": [{"type": "work_injury", "amount_cny": 80000}]}
    out = (await intake.post("/api/v1/cases", json=body)).json()
    assert out["route"] == "legal_aid"
    case_id = out["case_id"]

    async def application():
        r = await aid.get(f"/api/v1/legal-aid/cases/{case_id}")
        return r.json() if r.status_code == 200 else None

    case = await wait_until(application, what="legal-aid application from dispatch")
    assert case["source"] == "dispatch"
    assessment = (await aid.post(f"/api/v1/legal-aid/cases/{case_id}/applicant", json={
        "migrant_worker": False, "monthly_income_per_capita": 5200,
        "limitation_date": clock.today().isoformat(), "actor": "援助中心"})).json()
    assert assessment["recommendation"] == "deny" and assessment["urgent"]
    r = await aid.post(f"/api/v1/legal-aid/cases/{case_id}/lawyer", json={"actor": "援助中心"})
    assert r.status_code == 200 and r.json()["urgent"] and r.json()["state"] == "represented"  # Art. 44
    r = await aid.post(f"/api/v1/legal-aid/cases/{case_id}/decision",
                       json={"decision": "approved", "reasons": ["先行援助后补审：情况紧急"], "actor": "援助中心"})
    assert r.json()["decision"] == "approved"
