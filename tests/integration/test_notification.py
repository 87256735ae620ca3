"""Notification over the real broker and database: one case's journey (registered with its query code,
dispatched, a mediator, a session, an agreement, the follow-up call, closed) tells each of its workers each step
once, by the recording gateway; a redelivered query-code event sends nothing twice."""

from __future__ import annotations

import asyncio
import json
import uuid
from contextlib import AsyncExitStack
from datetime import date, datetime

import pytest
import pytest_asyncio
from aiokafka import AIOKafkaProducer

from events.envelope import encode, new_event
from events.intake import QueryCodeIssued
from services.backbone import kafka
from services.calendar.model import SHANGHAI
from services.followup.service import SPEC as FOLLOWUP
from services.intake.domain.identifiers import make_id_number, make_uscc
from services.intake.service import SPEC as INTAKE
from services.mediation.service import SPEC as MEDIATION
from services.notification import service as notification_service
from services.notification.service import SPEC as NOTIFICATION
from services.notification.wakeup import QUEUED
from tests import clock
from tests.conftest import wait_until
from tests.integration.conftest import running

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

JOURNEY = ["received", "dispatched", "mediator_assigned", "session_scheduled", "settled", "followup_due", "closed"]


def daytime_offset() -> float:
    """Notification's business clock at 10:00 Shanghai today, whatever time the suite runs (quiet hours are
    tested in tests/usecases with a controlled clock; here every message must go at once)."""
    now = clock.now()
    local = now.astimezone(SHANGHAI)
    ten = datetime(local.year, local.month, local.day, 10, tzinfo=SHANGHAI)
    return clock.CLOCK.offset.total_seconds() + (ten - now).total_seconds()


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def stack(kafka_bootstrap, embedded_pg):
    admin = embedded_pg.admin_dsn()
    async with AsyncExitStack() as services:
        started = [await services.enter_async_context(running(spec, kafka_bootstrap, admin))
                   for spec in (INTAKE, MEDIATION, FOLLOWUP)]
        notification = await services.enter_async_context(
            running(NOTIFICATION, kafka_bootstrap, admin, clock_offset_seconds=daytime_offset()))
        yield (*started, notification)


async def publish_query_code(bootstrap: str, case_id: str, phones: list[str], event_id: uuid.UUID,
                             reason: str = "registered") -> None:
    """What intake's worker's door publishes on worker.notices when it registers a case (the agreed contract)."""
    event = new_event("intake.query_code_issued", source="laborcase/intake", subject=case_id, event_id=event_id,
                      data=QueryCodeIssued(case_id=case_id, query_code="K7QF-82MX-PA", phones=phones,
                                           reason=reason, issued_at=clock.now()))
    await send_raw(bootstrap, case_id, encode(event))


async def send_raw(bootstrap: str, case_id: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait("worker.notices", value, key=case_id.encode(),
                                     headers=[("content-type", b"application/cloudevents+json")])
    finally:
        await producer.stop()


async def test_one_case_tells_each_worker_each_step_once(stack, kafka_bootstrap):
    intake, med, fu, note = stack
    phones = ["13709718801", "13709718802"]
    body = {"channel": "hotline", "received_at": clock.now_iso(), "region_code": "630102", "summary": "拖欠工资",
            "actor": "热线", "workers": [{"name": f"通知职工{n}", "id_number": make_id_number("630102", date(1989, 3, 4),
                                                                                         700 + n), "phone": p}
                                         for n, p in enumerate(phones)],
            "employer": {"name": "城东区某物流公司", "uscc": make_uscc("630102", 7788)},
            "claims": [{"type": "wage_arrears", "amount_cny": 9000}]}
    r = await intake.post("/api/v1/cases", json=body)
    assert r.status_code == 201, r.text
    case_id, code = r.json()["case_id"], r.json()["query_code"]  # intake tells the code on worker.notices itself

    async def offered():
        r = await med.get(f"/api/v1/mediation/cases/{case_id}")
        return r.json()["mediator_id"] if r.status_code == 200 and r.json()["mediator_id"] else None

    mediator = await wait_until(offered, what="a mediator offered the case")
    assert (await med.post(f"/api/v1/mediation/cases/{case_id}/accept", json={"mediator_id": mediator})).is_success
    r = await med.post(f"/api/v1/mediation/cases/{case_id}/sessions", json={
        "scheduled_at": clock.now_iso(days=2), "location": "城东区总工会调解室", "actor": mediator})
    assert r.status_code == 201, r.text
    r = await med.post(f"/api/v1/mediation/cases/{case_id}/settle", json={
        "agreement": {"amount_cny": 9000, "instalments": [], "terms": "一次性支付"}, "actor": mediator})
    assert r.status_code == 200, r.text

    async def first_call():
        r = await fu.get(f"/api/v1/followup/cases/{case_id}")
        return r.json()["calls"][0]["followup_id"] if r.status_code == 200 and r.json()["calls"] else None

    call = await wait_until(first_call, what="follow-up to plan the first call")
    r = await fu.post(f"/api/v1/followup/calls/{call}", json={"reached": True, "satisfaction": 5, "actor": "回访员"})
    assert r.json()["case_state"] == "closed", r.text

    async def told():
        r = await note.get("/api/v1/notification/messages", params={"q": case_id, "limit": 100})
        rows = r.json()["messages"]
        done = [m for m in rows if m["state"] == "delivered"]
        return rows if len(done) >= len(JOURNEY) * len(phones) else None

    rows = await wait_until(told, timeout=60, what="every step told to both workers")

    kinds = sorted((m["kind"], m["phone"]) for m in rows)
    assert kinds == sorted((k, p) for k in JOURNEY for p in ("137****8801", "137****8802"))
    assert {m["state"] for m in rows} == {"delivered"} and {m["attempts"] for m in rows} == {1}
    text = {m["kind"]: m["text"] for m in rows}
    assert code.replace("-", "") in text["received"].replace("-", "") and "城东区总工会" in text["dispatched"]
    assert "调解员" in text["mediator_assigned"] and "城东区总工会调解室" in text["session_scheduled"]
    assert "9,000.00元" in text["settled"] and "已结案" in text["closed"]

    pool = note.runtime.pool
    recorded = await pool.fetch("SELECT s.message_id, count(*) AS n FROM recorded_sms s JOIN messages m "
                                "USING (message_id) WHERE m.case_id = $1 GROUP BY s.message_id", case_id)
    assert len(recorded) == len(JOURNEY) * len(phones) and {r["n"] for r in recorded} == {1}
    waited = await pool.fetchval("SELECT max(extract(epoch FROM sent_at - created_at)) FROM messages "
                                 "WHERE case_id = $1", case_id)
    assert waited < 5, f"a message waited {waited:.1f} s in the queue"
    sent = [json.loads(r.value)["data"] for r in await kafka.read_all(kafka_bootstrap, "notification.events")
            if r.key == case_id.encode()]
    assert len(sent) == len(JOURNEY) * len(phones) and all("phone" not in s for s in sent)

    # the same event again, then a new code: once the new one is told, the duplicate has been read (same key,
    # same partition, in order) and told nobody anything
    issued = next(r.value for r in await kafka.read_all(kafka_bootstrap, "worker.notices") if r.key == case_id.encode())
    code_event = uuid.UUID(json.loads(issued)["id"])
    await send_raw(kafka_bootstrap, case_id, issued)
    await publish_query_code(kafka_bootstrap, case_id, phones, uuid.uuid4(), reason="rotated")

    async def rotated():
        return await pool.fetchval("SELECT count(*) FROM messages WHERE case_id = $1 AND kind = 'code_rotated' "
                                   "AND state = 'delivered'", case_id) == len(phones)

    await wait_until(rotated, what="the new code told")
    assert await pool.fetchval("SELECT count(*) FROM messages WHERE event_id = $1", code_event) == len(phones)
    assert await pool.fetchval("SELECT count(*) FROM recorded_sms s JOIN messages m USING (message_id) "
                               "WHERE m.event_id = $1", code_event) == len(phones)


async def test_a_broken_record_on_worker_notices_is_dead_lettered_and_the_next_one_told(stack, kafka_bootstrap):
    from services.backbone import dlq

    note = stack[3]
    case_id, tag = f"LC-DLQ-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
    await producer.start()
    try:  # same key, same partition: the broken record comes first
        await producer.send_and_wait("worker.notices", b'{"specversion": "1.0", "id": "' + tag.encode() + b'", ',
                                     key=case_id.encode())
    finally:
        await producer.stop()
    await publish_query_code(kafka_bootstrap, case_id, ["13709718803"], uuid.uuid4())

    async def told():
        r = await note.get("/api/v1/notification/messages", params={"q": case_id})
        return [m for m in r.json()["messages"] if m["state"] == "delivered"]

    assert (await wait_until(told, what="the valid event after the broken one told"))[0]["kind"] == "received"

    async def dead():
        return [d for d in await dlq.list_dead_letters(kafka_bootstrap, ["worker.notices.dlq"])
                if d.key == case_id.encode() and d.header("x-dlq-service") == "notification"]

    [letter] = await wait_until(dead, what="the broken record dead-lettered")
    assert tag.encode() in letter.value


async def test_a_queued_message_goes_when_its_transaction_commits_not_at_the_senders_next_look(stack,
                                                                                             kafka_bootstrap):
    """The sender looks for due messages only every ``poll_seconds``; a message queued to go now rings it when the
    consumer's transaction commits (services/notification/wakeup.py). With the look an hour away, the message
    still goes."""
    *_, note = stack
    settings = notification_service.SETTINGS
    every = settings.poll_seconds
    settings.poll_seconds = 3600
    try:
        await asyncio.sleep(every + 0.5)  # the sender's current wait (the old setting) ends; the next is an hour
        case_id = f"TEST-BELL-{uuid.uuid4().hex[:8]}"
        await publish_query_code(kafka_bootstrap, case_id, ["13709718855"], uuid.uuid4())

        async def sent():
            return await note.runtime.pool.fetchval(
                "SELECT count(*) FROM messages WHERE case_id = $1 AND state = 'delivered'", case_id) == 1

        await wait_until(sent, what="the message sent on the bell, not at the next look an hour away")
    finally:
        settings.poll_seconds = every
        QUEUED.ring()  # the sender's hour-long wait ends now, whatever the other tests need
