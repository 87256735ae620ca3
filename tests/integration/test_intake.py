"""Intake through HTTP and Kafka with the real broker and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import pytest_asyncio

from events.catalog import EVENTS
from services.backbone import dlq, kafka
from services.calendar.model import SHANGHAI
from services.calendar.rules import tier_rule
from services.calendar.seed import package_years, year_to_json
from services.intake.domain.identifiers import make_id_number, make_uscc
from services.intake.service import SPEC
from services.process import runtime_for, secured_app
from tests import clock, identity
from tests.conftest import runtime_settings, unique_case_numbers, wait_until

pytestmark = [pytest.mark.integration, pytest.mark.clock, pytest.mark.asyncio(loop_scope="session")]
CONTRACTS = Path(__file__).resolve().parents[2] / "contracts" / "schemas"


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def intake(kafka_bootstrap, embedded_pg):
    import asyncpg

    name = f"t_intake_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(embedded_pg.admin_dsn())
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    runtime = runtime_for(SPEC, runtime_settings(kafka_bootstrap), dsn=embedded_pg.admin_dsn(name))
    await runtime.start()
    await unique_case_numbers(runtime)
    app = secured_app(runtime, SPEC.routers(runtime))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as client:
        client.runtime = runtime  # type: ignore[attr-defined]
        yield client
    await runtime.stop()


_n = iter(range(1, 1_000_000))


def case_body(*, workers: int = 1, region: str = "630102", claims: list | None = None, **extra: Any) -> dict:
    n = next(_n)
    body = {
        "channel": "hotline",
        "received_at": clock.now_iso(),
        "region_code": region,
        "workers": [{"name": f"职工{n}-{i}",
                     "id_number": make_id_number("630102", date(1985, 3, 1 + i % 27), n * 7 + i),
                     "phone": f"13{n % 10}{(n * 100 + i):08d}"} for i in range(workers)],
        "employer": {"name": f"西宁市某商贸有限公司{n}", "uscc": make_uscc("630102", 5000 + n)},
        "claims": claims or [{"type": "wage_arrears", "amount_cny": 6800}],
        "summary": "拖欠两个月工资",
        "actor": "热线坐席01",
    }
    body.update(extra)
    return body


async def events_of(bootstrap: str, case_id: str, topic: str = "intake.events") -> list[dict]:
    return [json.loads(r.value) for r in await kafka.read_all(bootstrap, topic) if r.key == case_id.encode()]


async def test_hotline_case_is_triaged_dispatched_and_its_deadline_handed_over(intake, kafka_bootstrap):
    body = case_body()
    resp = await intake.post("/api/v1/cases", json=body)
    assert resp.status_code == 201, resp.text
    out = resp.json()
    expected_due, provisional = tier_rule("general", datetime.fromisoformat(body["received_at"])).due(
        intake.runtime.calendar)
    assert out["tier"] == "general" and datetime.fromisoformat(out["due_at"]) == expected_due
    assert out["org_unit"] == "QH-XN-CD" and out["org_unit_name"] == "城东区总工会" and out["route"] == "mediation"
    assert out["status"] == "dispatched" and out["provisional"] == provisional

    got = (await intake.get(f"/api/v1/intake/cases/{out['case_id']}")).json()
    assert got["status"] == "dispatched" and [a["action"] for a in got["audit"]] == ["received", "dispatched"]

    async def published():
        types = [e["type"] for e in await events_of(kafka_bootstrap, out["case_id"])]
        return types if "intake.query_code_set" in types else None

    types = await wait_until(published, what="intake events on the broker")
    assert types == ["intake.case_received", "intake.case_triaged", "deadline.started", "deadline.handed_over",
                     "intake.case_dispatched", "intake.query_code_set"]  # the code's hash, in the same transaction
    dispatched = next(e for e in await events_of(kafka_bootstrap, out["case_id"])
                      if e["type"] == "intake.case_dispatched")["data"]
    assert dispatched["deadline"]["kind"] == "tier"
    assert datetime.fromisoformat(dispatched["deadline"]["due_at"]) == expected_due
    state = await intake.runtime.pool.fetchval("SELECT state FROM deadlines WHERE case_id = $1", out["case_id"])
    assert state == "handed_over"


async def test_invalid_input_gets_precise_chinese_4xx(intake):
    resp = await intake.post("/api/v1/cases", json=case_body(region="639999"))
    assert resp.status_code == 422 and resp.headers["content-type"] == "application/problem+json"
    assert resp.json()["errors"][0]["field"] == "region_code" and "行政区划" in resp.json()["errors"][0]["reason"]

    naive = case_body()
    naive["received_at"] = "2026-03-02T09:30:00"
    resp = await intake.post("/api/v1/cases", json=naive)
    assert resp.status_code == 422
    assert resp.json()["errors"] == [{"field": "received_at",
                                      "reason": "必须带时区偏移（RFC 3339，如 2026-03-02T09:30:00+08:00）"}]

    negative = case_body(claims=[{"type": "wage_arrears", "amount_cny": -1}])
    resp = await intake.post("/api/v1/cases", json=negative)
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "claims[0].amount_cny"

    resp = await intake.post("/api/v1/cases", json=case_body(claims=[{"type": "bonus"}]))
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "claims[0].type"
    resp = await intake.post("/api/v1/cases", content=b"{", headers={"content-type": "application/json"})
    assert resp.status_code == 422 and resp.json()["errors"][0]["reason"] == "请求体不是有效的 JSON"


async def test_checksum_warning_needs_a_clerks_reason(intake):
    body = case_body()
    good = body["workers"][0]["id_number"]
    body["workers"][0]["id_number"] = good[:-1] + ("0" if good[-1] != "0" else "1")
    resp = await intake.post("/api/v1/cases", json=body)
    assert resp.status_code == 422
    problem = resp.json()
    assert problem["type"] == "urn:laborcase:problem:needs-override"
    assert problem["errors"][0]["field"] == "workers[0].id_number" and problem["errors"][0]["code"] == "id_checksum"
    body["overrides"] = [{"field": "workers[0].id_number", "reason": "已核对身份证原件，系统存量号码"}]
    resp = await intake.post("/api/v1/cases", json=body)
    assert resp.status_code == 201, resp.text
    warning = resp.json()["warnings"][0]
    assert warning["override_reason"] == "已核对身份证原件，系统存量号码" and warning["overridden_by"] == "热线坐席01"


async def test_same_worker_same_employer_links_to_the_open_case(intake):
    first = case_body()
    one = (await intake.post("/api/v1/cases", json=first)).json()
    again = dict(first, channel="online", claims=[{"type": "wage_arrears", "amount_cny": 7000},
                                                   {"type": "overtime", "amount_cny": 900}])
    resp = await intake.post("/api/v1/cases", json=again)
    assert resp.status_code == 200 and resp.json()["linked"] and resp.json()["case_id"] == one["case_id"]
    different_claim = dict(first, claims=[{"type": "work_injury"}])
    resp = await intake.post("/api/v1/cases", json=different_claim)
    assert resp.status_code == 201 and resp.json()["case_id"] != one["case_id"]


async def test_group_dispute_is_prioritised(intake):
    resp = await intake.post("/api/v1/cases", json=case_body(workers=12))
    assert resp.status_code == 201
    case = (await intake.get(f"/api/v1/intake/cases/{resp.json()['case_id']}")).json()
    assert case["group_dispute"] and case["tier"] == "difficult" and case["worker_count"] == 12
    refused = await intake.post("/api/v1/cases", json=case_body(workers=10, tier="general", tier_reason="简单"))
    assert refused.status_code == 422 and "至少" in refused.json()["detail"]


async def test_links_that_reach_ten_workers_make_a_group_dispute(intake):
    body = case_body(workers=6)
    case_id = (await intake.post("/api/v1/cases", json=body)).json()["case_id"]
    more = case_body(workers=5)
    more["employer"] = body["employer"]
    more["workers"] = body["workers"][:1] + more["workers"][:4]
    resp = await intake.post("/api/v1/cases", json=more)
    assert resp.json()["case_id"] == case_id and resp.json()["tier"] == "difficult"
    case = (await intake.get(f"/api/v1/intake/cases/{case_id}")).json()
    assert case["group_dispute"] and case["worker_count"] == 10
    assert [a["action"] for a in case["audit"]][-2:] == ["linked", "reclassified"]


async def test_clerk_override_and_reclassification_with_audit(intake):
    body = case_body(tier="complex", tier_reason="涉及多个用工主体")
    out = (await intake.post("/api/v1/cases", json=body)).json()
    received = datetime.fromisoformat(body["received_at"])
    assert out["tier"] == "complex"
    assert datetime.fromisoformat(out["due_at"]) == tier_rule("complex", received).due(intake.runtime.calendar)[0]
    resp = await intake.post(f"/api/v1/cases/{out['case_id']}/tier",
                             json={"tier": "difficult", "reason": "经核实仅一家用人单位", "actor": "主任"})
    assert resp.status_code == 200
    assert datetime.fromisoformat(resp.json()["due_at"]) == tier_rule("difficult", received).due(
        intake.runtime.calendar)[0]
    case = (await intake.get(f"/api/v1/intake/cases/{out['case_id']}")).json()
    audit = case["audit"][-1]
    assert audit["action"] == "reclassified" and audit["actor"] == "主任"
    assert audit["detail"]["from_tier"] == "complex" and audit["detail"]["to_tier"] == "difficult"
    resp = await intake.post("/api/v1/cases/LC00000000000000/tier",
                             json={"tier": "general", "reason": "不存在", "actor": "主任"})
    assert resp.status_code == 404


async def test_decline_goes_up_to_the_parent_unit(intake, kafka_bootstrap):
    out = (await intake.post("/api/v1/cases", json=case_body())).json()
    wrong = await intake.post(f"/api/v1/cases/{out['case_id']}/decline",
                              json={"org_unit": "QH-XN-CZ", "reason": "不是本单位", "actor": "张"})
    assert wrong.status_code == 409
    resp = await intake.post(f"/api/v1/cases/{out['case_id']}/decline",
                             json={"org_unit": "QH-XN-CD", "reason": "用人单位注册地在城中区", "actor": "城东区 王"})
    assert resp.status_code == 200 and resp.json()["org_unit"] == "QH-XN"
    case = (await intake.get(f"/api/v1/intake/cases/{out['case_id']}")).json()
    assert case["dispatch_attempt"] == 2

    async def redispatched():
        evs = [e for e in await events_of(kafka_bootstrap, out["case_id"]) if e["type"] == "intake.case_dispatched"]
        return evs if len(evs) == 2 else None

    evs = await wait_until(redispatched, what="re-dispatch")
    assert evs[1]["data"]["org_unit"] == "QH-XN" and evs[1]["data"]["attempt"] == 2
    assert evs[1]["data"].get("deadline") is None


async def test_answered_on_the_spot_resolves_in_intake(intake):
    resp = await intake.post("/api/v1/cases", json=case_body(
        route="answered", answer="已告知职工劳动合同法第三十条，用人单位应足额支付劳动报酬"))
    assert resp.status_code == 201 and resp.json()["status"] == "answered"
    deadline = await intake.runtime.pool.fetchrow("SELECT state, met_at FROM deadlines WHERE case_id = $1",
                                                  resp.json()["case_id"])
    assert deadline["state"] == "met"
    missing = await intake.post("/api/v1/cases", json=case_body(route="answered"))
    assert missing.status_code == 422 and missing.json()["errors"][0]["field"] == "answer"


async def test_sichuan_worker_in_beijing_goes_to_the_beijing_station(intake):
    body = case_body(region="110105")
    body["workers"][0]["id_number"] = make_id_number("511502", date(1992, 6, 1), next(_n))
    resp = await intake.post("/api/v1/cases", json=body)
    assert resp.json()["org_unit"] == "SC-BJ"
    other = case_body(region="110105")  # a Qinghai worker in Beijing: outside this system
    resp = await intake.post("/api/v1/cases", json=other)
    assert resp.json()["status"] == "referred_elsewhere"


def hand_built_referral(case_no: str, referred_at: str, region: str = "630103") -> dict:
    """A court's CloudEvent written from the published contract only, not from our models."""
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "court/QH0103",
        "type": "court.case_referred",
        "time": referred_at,
        "subject": case_no,
        "datacontenttype": "application/json",
        "dataschema": EVENTS["court.case_referred"].dataschema,
        "data": {
            "court_code": "QH0103",
            "court_case_no": case_no,
            "referral_kind": "post_filing",
            "procedure": "simplified",
            "region_code": region,
            "referred_at": referred_at,
            "workers": [{"name": "李四", "id_number": make_id_number("630103", date(1979, 11, 2), 77),
                         "phone": "13897001234"}],
            "employer": {"name": "西宁某物业服务有限公司", "uscc": make_uscc("630103", 88)},
            "claims": [{"type": "wage_arrears", "amount_cny": 15600.5}],
            "summary": "物业保洁员被拖欠工资",
        },
    }


def validate_against_contract(event: dict) -> None:
    envelope = json.loads((CONTRACTS / "cloudevent.json").read_text())
    data = json.loads((CONTRACTS / "court.case_referred.v1.json").read_text())
    jsonschema.validate(event, envelope)
    jsonschema.validate(event["data"], data)


async def test_court_referral_from_a_stock_kafka_client_becomes_a_case(intake, kafka_bootstrap):
    from confluent_kafka import Producer

    case_no = f"({clock.today().year})青0103民初{next(_n)}号"
    referred_at = clock.now_iso(hours=-3)
    event = hand_built_referral(case_no, referred_at)
    validate_against_contract(event)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    delivered: list[Any] = []
    value = json.dumps(event, ensure_ascii=False).encode()
    # the court signs the record value with its key, as on the HTTP ingress (documented in the AsyncAPI contract)
    producer.produce("court.events", key=case_no.encode(), value=value,
                     headers=[("content-type", b"application/cloudevents+json"),
                              *identity.kafka_signature(value, identity.COURT)],
                     on_delivery=lambda err, msg: delivered.append(err))
    producer.flush(10)
    assert delivered == [None]

    async def case():
        found = (await intake.get("/api/v1/intake/cases", params={"ref": case_no})).json()["cases"]
        return found[0] if found else None

    got = await wait_until(case, timeout=30, what="the referral to become a case")
    expected = tier_rule("difficult", datetime.fromisoformat(referred_at)).due(intake.runtime.calendar)[0]
    assert got["tier"] == "difficult" and datetime.fromisoformat(got["due_at"]) == expected
    assert got["channel"] == "court" and got["court_case_no"] == case_no and got["org_unit"] == "QH-XN-CZ"


async def test_partner_ingress_over_http(intake):
    case_no = f"({clock.today().year})青0103民诉前调{next(_n)}号"
    event = hand_built_referral(case_no, clock.now_iso())
    ct = {"content-type": "application/cloudevents+json"}

    def post(body: bytes, headers: dict[str, str] = ct) -> Any:
        return intake.post("/api/v1/events", content=body, headers=headers | identity.http_signature(body))

    resp = await post(json.dumps(event).encode())
    assert resp.status_code == 202, resp.text
    assert resp.json()["topic"] == "court.events"
    again = await post(json.dumps(event).encode())
    assert again.status_code == 409 and again.json()["type"] == "urn:laborcase:problem:replayed"

    async def case():
        return (await intake.get("/api/v1/intake/cases", params={"ref": case_no})).json()["cases"]

    assert len(await wait_until(case, what="ingress event to become a case")) == 1

    bad = json.loads(json.dumps(event)) | {"id": str(uuid.uuid4())}
    bad["data"]["referral_kind"] = "post_filing"
    del bad["data"]["procedure"]
    resp = await post(json.dumps(bad).encode())
    assert resp.status_code == 422 and "procedure" in resp.json()["detail"]
    resp = await post(b"{oops")
    assert resp.status_code == 400
    resp = await post(json.dumps(event | {"type": "union.mediation_settled"}).encode())
    assert resp.status_code == 422
    resp = await post(b"x", {"content-type": "text/plain"})
    assert resp.status_code == 415


async def test_referral_for_an_unknown_region_is_dead_lettered(intake, kafka_bootstrap):
    case_no = f"({clock.today().year})青0103民诉前调{next(_n)}号"
    event = hand_built_referral(case_no, clock.now_iso(), region="639999")
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    value = json.dumps(event).encode()
    await producer.send_and_wait("court.events", value, key=case_no.encode(),
                                 headers=identity.kafka_signature(value, identity.COURT))
    await producer.stop()

    async def letter():
        for item in await dlq.list_dead_letters(kafka_bootstrap, ["court.events.dlq"]):
            if item.key == case_no.encode() and item.header("x-dlq-service") == "intake":
                return item
        return None

    found = await wait_until(letter, what="the dead letter")
    assert found.reason.startswith("invalid: ") and "unknown_region" in found.reason
    assert json.loads(found.value)["id"] == event["id"]


async def test_calendar_year_loaded_by_the_operator_reaches_other_services(intake, kafka_bootstrap, embedded_pg,
                                                                           make_db):
    from services.mediation.service import SPEC as MEDIATION

    mediation = runtime_for(MEDIATION, runtime_settings(kafka_bootstrap), dsn=await make_db(embedded_pg.admin_dsn()))
    await mediation.start()
    # A notice for a year no test clock reaches: the event goes to every service reading intake.events on the
    # shared test broker, and must not change the calendar that other tests' deadlines are computed on.
    year = clock.today().year + 6
    saturday = next(date(year, 2, d) for d in range(1, 8) if date(year, 2, d).weekday() == 5)
    holiday = saturday + timedelta(days=2)  # the Monday after it
    try:
        notice = {"year": year, "source": f"国务院办公厅关于{year}年部分节假日安排的通知（测试）",
                  "holidays": [f"{year}-01-01", holiday.isoformat()], "workdays": [saturday.isoformat()]}
        resp = await intake.put(f"/api/v1/intake/calendar/{year}", json=notice)
        assert resp.status_code == 200 and resp.json()["year"] == year
        assert (await intake.get(f"/api/v1/intake/calendar/{year}")).json()["holidays"][0] == f"{year}-01-01"
        await wait_until(lambda: mediation.pool.fetchval("SELECT 1 FROM calendar_years WHERE year = $1", year),
                         what="mediation to store the year from calendar.year_loaded")
        assert not mediation.calendar.is_working_day(holiday)
        assert mediation.calendar.is_working_day(saturday)
        weekday = (holiday + timedelta(days=1)).isoformat()
        bad = await intake.put(f"/api/v1/intake/calendar/{year}", json={"year": year, "workdays": [weekday]})
        assert bad.status_code == 422
    finally:
        await mediation.stop()


async def test_provisional_deadline_is_recomputed_when_the_year_arrives(intake):
    """A year without data: Mon–Fri, provisional, an operator alert; loading the year recomputes it."""
    runtime = intake.runtime
    full = runtime.calendar
    runtime.use_calendar(type(full)({y: d for y, d in full.years.items() if y != 2026}))
    try:
        received = datetime(2026, 9, 29, 10, tzinfo=SHANGHAI)
        async with runtime.unit_of_work() as ctx:
            rule = tier_rule("difficult", received)
            due_at, provisional = await ctx.due(rule, case_id="calendar-test")
            assert provisional and due_at == datetime(2026, 10, 6, 23, 59, 59, tzinfo=SHANGHAI)  # Mon–Fri guess
            await ctx.deadlines.start(case_id="calendar-test", kind="tier", started_at=received, due_at=due_at,
                                      provisional=True, rule=rule)
            alerts = [r for r in ctx.records if r.event_type == "calendar.year_missing"]
        assert len(alerts) == 1
        year_2026 = next(y for y in package_years() if y.year == 2026)
        resp = await intake.put("/api/v1/intake/calendar/2026", json=year_to_json(year_2026))
        assert resp.status_code == 200
        row = await runtime.pool.fetchrow("SELECT due_at, provisional FROM deadlines WHERE case_id = 'calendar-test'")
        assert not row["provisional"] and row["due_at"] == datetime(2026, 10, 12, 23, 59, 59, tzinfo=SHANGHAI)
        assert await runtime.pool.fetchval("SELECT resolved_at IS NOT NULL FROM calendar_alerts WHERE year = 2026")
    finally:
        runtime.use_calendar(full)


async def test_the_same_registration_sent_twice_at_once_is_registered_once(intake):
    """A double click (or a retry racing the first request): one case, one query code, one answer replayed."""
    body = case_body()
    key = {"Idempotency-Key": uuid.uuid4().hex}
    one, two = await asyncio.gather(*(intake.post("/api/v1/cases", json=body, headers=key) for _ in range(2)))
    assert {one.status_code, two.status_code} == {201}
    assert one.json()["case_id"] == two.json()["case_id"]
    assert sorted([one.json()["replayed"], two.json()["replayed"]]) == [False, True]
    pool = intake.runtime.pool  # type: ignore[attr-defined]
    case_id = one.json()["case_id"]
    assert await pool.fetchval("SELECT count(*) FROM query_codes WHERE case_id = $1", case_id) == 1
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE key = convert_to($1, 'UTF8') AND event_type = "
                               "'intake.query_code_issued'", case_id) == 1

    changed = await intake.post("/api/v1/cases", json=dict(body, summary="另一件事"), headers=key)
    assert changed.status_code == 422 and changed.json()["errors"][0]["field"] == "Idempotency-Key"
    bad = await intake.post("/api/v1/cases", json=body, headers={"Idempotency-Key": "short"})
    assert bad.status_code == 422 and "Idempotency-Key" in bad.json()["detail"]


async def test_an_online_application_resent_after_a_lost_answer_is_one_case(intake):
    body = {k: v for k, v in case_body().items() if k in ("region_code", "workers", "employer", "claims", "summary")}
    body["consent"] = True
    key = {"Idempotency-Key": uuid.uuid4().hex}
    first = await intake.post("/api/v1/public/applications", json=body, headers=key)
    again = await intake.post("/api/v1/public/applications", json=body, headers=key)
    assert first.status_code == again.status_code == 201, first.text
    assert again.json()["case_id"] == first.json()["case_id"] and again.json()["replayed"]
    assert first.json()["query_code"] and again.json()["query_code"] is None
