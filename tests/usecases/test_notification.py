"""Notification's use cases on real PostgreSQL, without a broker: exactly one message per (event, phone), held in
quiet hours until 08:00 with a controlled clock, opt-out honoured, a transient failure tried again until sent, a
permanent one failed with the provider's reason, staff notices."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta

import pytest

from events.common import Agreement
from events.deadlines import DeadlineSignal
from events.envelope import CloudEvent, new_event
from events.intake import CaseDispatched, CaseFacts, CaseReceived, QueryCodeIssued
from events.mediation import AssignmentAnswered, MediatorAssigned, SessionScheduled, Settled
from services.backbone.consumer import NotYetKnown
from services.calendar.model import SHANGHAI
from services.intake.domain.identifiers import make_id_number, make_uscc
from services.notification import optouts, repository, sending
from services.notification.config import TEMPLATES, catalog
from services.notification.gateways import GatewayFailure, RecordingGateway, Sent
from services.notification.handlers import handlers
from tests.usecases.conftest import world_fixture

pytestmark = pytest.mark.asyncio(loop_scope="session")

world = world_fixture("notification")
CATALOG = catalog(TEMPLATES)
HANDLERS = handlers(CATALOG, gateway="recording", shows_secrets=True)
CASE = "LC-2026-NT0001"
PHONES = ["13709710001", "13809710002"]


def shanghai(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


DAY = date(2026, 12, 3)
MORNING, EVENING = shanghai(DAY, 10), shanghai(DAY, 22, 30)


def event(event_type: str, data, *, at: datetime = MORNING) -> CloudEvent:
    return new_event(event_type, source="laborcase/test", data=data, subject=getattr(data, "case_id", None), time=at)


async def apply(world, e: CloudEvent, data, *, now: datetime = MORNING) -> None:
    await world.run(lambda ctx: HANDLERS[e.type](ctx, e, data), now=now)


async def query_code(world, *, phones=PHONES, now: datetime = MORNING, reason: str = "registered"):
    data = QueryCodeIssued(case_id=CASE, query_code="K7QF-82MX-PA", phones=phones, reason=reason, issued_at=now)
    e = event("intake.query_code_issued", data, at=now)
    await apply(world, e, data, now=now)
    return e, data


async def messages(world, case_id: str = CASE) -> list[dict]:
    return [dict(r) for r in await world.conn.fetch(
        "SELECT * FROM messages WHERE case_id = $1 ORDER BY created_at, phone", case_id)]


async def send(world, *, now: datetime, gateway=None) -> int:
    return await world.run(lambda ctx: sending.send_due(ctx, gateway=gateway or RecordingGateway(), catalog=CATALOG),
                           now=now)


async def recorded(world) -> list[dict]:
    return [dict(r) for r in await world.conn.fetch("SELECT * FROM recorded_sms ORDER BY id")]


def facts(phones=PHONES) -> CaseFacts:
    return CaseFacts(channel="hotline", received_at=MORNING, region_code="630102", summary="拖欠工资",
                     workers=[{"name": f"职工{n}", "id_number": make_id_number("630102", date(1990, 1, 1), 100 + n),
                               "phone": p} for n, p in enumerate(phones)],
                     employer={"name": "城东区某建筑公司", "uscc": make_uscc("630102", 4242)},
                     claims=[{"type": "wage_arrears", "amount_cny": 18600}])


async def test_one_message_per_event_and_phone_however_often_the_event_comes(world):
    e, data = await query_code(world)
    await apply(world, e, data)  # redelivered: the inbox would stop it; the unique (event, phone) does as well
    rows = await messages(world)
    assert [(r["phone"], r["state"], r["kind"]) for r in rows] == [(p, "queued", "received") for p in PHONES]
    assert "K7QF-82MX-PA" in rows[0]["text"] and rows[0]["text"].startswith("【")

    assert await send(world, now=MORNING + timedelta(seconds=1)) == 2
    assert await send(world, now=MORNING + timedelta(seconds=2)) == 0
    rows = await messages(world)
    assert {r["state"] for r in rows} == {"delivered"} and {r["attempts"] for r in rows} == {1}
    assert [r["params"] for r in rows] == [[CASE, ""]] * 2  # the code is not kept once the message is sent
    sms = await recorded(world)
    assert sorted(s["phone"] for s in sms) == PHONES and all("K7QF-82MX-PA" in s["text"] for s in sms)
    published = [json.loads(r.value)["data"] for r in world.records("notification.sent")]
    assert len(published) == 2 and all("phone" not in p and p["kind"] == "received" for p in published)


async def test_in_quiet_hours_a_message_is_held_until_eight(world):
    await query_code(world, now=EVENING)
    rows = await messages(world)
    eight = shanghai(DAY + timedelta(days=1), 8)
    assert {r["state"] for r in rows} == {"held"} and {r["not_before"] for r in rows} == {eight}
    for night in (shanghai(DAY, 23, 59), shanghai(DAY + timedelta(days=1), 3), eight - timedelta(seconds=1)):
        assert await send(world, now=night) == 0
    assert await recorded(world) == []
    assert await send(world, now=eight + timedelta(seconds=1)) == 2
    assert {r["state"] for r in await messages(world)} == {"delivered"}
    assert all(s["recorded_at"] >= eight for s in await recorded(world))


async def test_a_message_whose_time_comes_after_nine_waits_for_the_morning(world):
    await query_code(world, now=shanghai(DAY, 20, 59, ))
    assert await send(world, now=shanghai(DAY, 21, 0, )) == 2  # picked up at 21:00: held, not sent
    rows = await messages(world)
    assert {r["state"] for r in rows} == {"held"} and await recorded(world) == []


async def test_an_opted_out_phone_gets_nothing_and_the_record_says_why(world):
    await world.run(lambda ctx: optouts.opt_out(ctx, phone=PHONES[0], reason="职工来电要求退订", actor="受理员"))
    await query_code(world)
    rows = {r["phone"]: r for r in await messages(world)}
    assert rows[PHONES[0]]["state"] == "skipped" and rows[PHONES[0]]["reason"] == "该号码已退订短信通知"
    assert rows[PHONES[0]]["params"] == [CASE, ""]
    assert rows[PHONES[1]]["state"] == "queued"


async def test_an_opt_out_after_queuing_stops_the_held_message(world):
    await query_code(world, now=EVENING)
    await world.run(lambda ctx: optouts.opt_out(ctx, phone=PHONES[1], reason="", actor="督办人员"))
    await send(world, now=shanghai(DAY + timedelta(days=1), 8, 1))
    states = {r["phone"]: r["state"] for r in await messages(world)}
    assert states == {PHONES[0]: "delivered", PHONES[1]: "skipped"}
    assert [s["phone"] for s in await recorded(world)] == [PHONES[0]]
    again = await world.run(lambda ctx: optouts.opt_in(ctx, phone=PHONES[1], actor="督办人员"))
    assert again == {"phone": "138****0002", "opted_out": False}


class Flaky:
    """A provider that answers with the given failures first, then takes the message."""

    name, shows_secrets = "tencent", False

    def __init__(self, *failures: GatewayFailure):
        self.failures, self.calls = list(failures), 0

    async def send(self, conn, out, *, at):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return Sent("sent", f"sid-{self.calls}", 1)


async def test_a_transient_failure_is_tried_again_with_backoff_until_sent(world):
    await query_code(world, phones=[PHONES[0]])
    gateway = Flaky(GatewayFailure("LimitExceeded.PhoneNumberThirtySecondLimit: 30秒内发送过于频繁", transient=True))
    first = MORNING + timedelta(seconds=1)
    await send(world, now=first, gateway=gateway)
    [row] = await messages(world)
    assert row["state"] == "queued" and row["attempts"] == 1 and row["reason"].startswith("LimitExceeded")
    assert first + timedelta(seconds=1) <= row["not_before"] <= first + timedelta(seconds=3)
    assert await send(world, now=first + timedelta(milliseconds=500), gateway=gateway) == 0
    await send(world, now=first + timedelta(seconds=5), gateway=gateway)
    [row] = await messages(world)
    assert (row["state"], row["attempts"], row["reason"], row["provider_ref"]) == ("sent", 2, None, "sid-2")
    assert gateway.calls == 2


async def test_a_permanent_failure_is_failed_with_the_providers_reason(world):
    await query_code(world, phones=[PHONES[0]])
    gateway = Flaky(GatewayFailure("InvalidParameterValue.IncorrectPhoneNumber: 手机号格式错误", transient=False))
    await send(world, now=MORNING + timedelta(seconds=1), gateway=gateway)
    [row] = await messages(world)
    assert (row["state"], row["attempts"]) == ("failed", 1)
    assert row["reason"] == "InvalidParameterValue.IncorrectPhoneNumber: 手机号格式错误"
    assert row["params"] == [CASE, ""]
    [failed] = [json.loads(r.value)["data"] for r in world.records("notification.failed")]
    assert failed["reason"].startswith("InvalidParameterValue") and failed["attempts"] == 1
    assert await send(world, now=MORNING + timedelta(hours=1), gateway=gateway) == 0 and gateway.calls == 1


async def test_transient_failures_give_up_after_the_last_attempt(world):
    await query_code(world, phones=[PHONES[0]])
    busy = [GatewayFailure("InternalError.Timeout: 服务繁忙", transient=True) for _ in range(10)]
    gateway, now = Flaky(*busy), MORNING
    for _ in range(10):
        now += timedelta(minutes=11)
        await send(world, now=now, gateway=gateway)
    [row] = await messages(world)
    assert (row["state"], row["attempts"]) == ("failed", sending.MAX_ATTEMPTS) and gateway.calls == sending.MAX_ATTEMPTS


async def test_the_journey_of_a_case_tells_each_step_once(world):
    received = CaseReceived(case_id=CASE, facts=facts())
    await apply(world, event("intake.case_received", received), received)
    dispatched = CaseDispatched(case_id=CASE, org_unit="QH-XN-CD", route="mediation", tier="difficult",
                                due_at=MORNING + timedelta(days=7), facts=facts())
    offered = MediatorAssigned(case_id=CASE, mediator_id="M-CD-01", mediator_name="王淑芬", org_unit="QH-XN-CD",
                               reason="负荷最低")
    accepted = AssignmentAnswered(case_id=CASE, mediator_id="M-CD-01", at=MORNING)
    session = SessionScheduled(case_id=CASE, session_id="s1", scheduled_at=shanghai(date(2026, 12, 5), 14, 30),
                               location="城东区总工会调解室", actor="王淑芬")
    settled = Settled(case_id=CASE, settled_at=MORNING, agreement=Agreement(amount_cny=18600), actor="王淑芬")
    for e_type, data in (("intake.case_dispatched", dispatched), ("mediation.mediator_assigned", offered),
                         ("mediation.assignment_accepted", accepted), ("mediation.session_scheduled", session),
                         ("mediation.settled", settled)):
        await apply(world, event(e_type, data), data)
    texts = {}
    for r in await messages(world):
        texts.setdefault(r["kind"], []).append(r["text"])
    assert {k: len(v) for k, v in texts.items()} == {"dispatched": 2, "mediator_assigned": 2, "session_scheduled": 2,
                                                      "settled": 2}
    assert "城东区总工会" in texts["dispatched"][0] and "王淑芬" in texts["mediator_assigned"][0]
    assert "2026年12月5日 14:30" in texts["session_scheduled"][0] and "城东区总工会调解室" in texts["session_scheduled"][0]
    assert "18,600.00元" in texts["settled"][0]
    [notice] = (await repository.notices(world.conn, ["mediator:M-CD-01"]))[0]
    assert notice.kind == "case_assigned" and CASE in notice.text


async def test_an_event_before_the_phones_are_known_waits(world):
    dispatched = CaseDispatched(case_id="LC-2026-NT0404", org_unit="QH-XN-CD", route="mediation", tier="general",
                                due_at=MORNING, facts=facts())
    session = SessionScheduled(case_id="LC-2026-NT0404", session_id="s", scheduled_at=MORNING, location="调解室",
                               actor="x")
    with pytest.raises(NotYetKnown):
        await apply(world, event("mediation.session_scheduled", session), session)
    await apply(world, event("intake.case_dispatched", dispatched), dispatched)
    await apply(world, event("mediation.session_scheduled", session), session)
    assert {r["kind"] for r in await messages(world, "LC-2026-NT0404")} == {"dispatched", "session_scheduled"}


async def test_a_landline_is_recorded_as_unable_to_receive(world):
    await query_code(world, phones=["0971-8123456", PHONES[0]])
    states = {r["phone"]: (r["state"], r["reason"]) for r in await messages(world)}
    assert states == {"0971-8123456": ("skipped", "固定电话，无法接收短信"), PHONES[0]: ("queued", None)}


async def test_a_deadline_at_risk_is_told_to_the_mediator_else_the_unit(world):
    def signal(case_id: str, kind: str = "warning") -> DeadlineSignal:
        return DeadlineSignal(deadline_id="d-" + case_id, case_id=case_id, kind="union_mediation", owner="mediation",
                              state="open", started_at=MORNING, due_at=MORNING + timedelta(days=1),
                              warn_at=MORNING, at=MORNING, org_unit="QH-XN-CD")
    offered = MediatorAssigned(case_id=CASE, mediator_id="M-CD-01", mediator_name="王淑芬", org_unit="QH-XN-CD",
                               reason="")
    await apply(world, event("mediation.mediator_assigned", offered), offered)
    for case_id in (CASE, "LC-2026-NT0999"):
        data = signal(case_id)
        await apply(world, event("deadline.warning", data), data)
    mine, _ = await repository.notices(world.conn, ["mediator:M-CD-01"])
    units, unread = await repository.notices(world.conn, ["unit:QH-XN-CD"])
    kinds = {n.kind: n for n in mine}
    assert set(kinds) == {"deadline_warning", "case_assigned"} and "工会调解15日" in kinds["deadline_warning"].text
    assert [n.case_id for n in units] == ["LC-2026-NT0999"] and unread == 1


async def test_a_batch_reads_the_phones_of_all_its_cases_in_one_statement(world):
    other = "LC-2026-NT0002"
    received = CaseReceived(case_id=other, facts=facts(["13909710003"]))
    code = QueryCodeIssued(case_id=CASE, query_code="K7QF-82MX-PA", phones=PHONES, reason="registered",
                           issued_at=MORNING)
    dispatched = CaseDispatched(case_id=other, org_unit="QH-XN-CD", route="mediation", tier="general",
                                due_at=MORNING, facts=facts(["13909710003"]))
    sent: list[str] = []

    def logged(query) -> None:
        sent.append(query.query)

    world.conn.add_query_logger(logged)
    try:
        async def batch(ctx) -> None:  # one consumed batch: the handlers, then its end (world.run flushes)
            for e_type, data in (("intake.case_received", received), ("intake.query_code_issued", code),
                                 ("intake.case_dispatched", dispatched)):
                await HANDLERS[e_type](ctx, event(e_type, data), data)

        await world.run(batch)
    finally:
        world.conn.remove_query_logger(logged)
    assert sum(q == repository.PHONES for q in sent) == 1
    assert sum(q == repository.REMEMBER_PHONES for q in sent) == 1  # the phones learned: one statement too
    assert {(r["case_id"], r["phone"], r["kind"]) for r in await messages(world, CASE) + await messages(world, other)} \
        == {(CASE, PHONES[0], "received"), (CASE, PHONES[1], "received"), (other, "13909710003", "dispatched")}


async def test_a_batch_learns_its_cases_holders_and_writes_its_notices_in_one_statement_each(world):
    """Dispatch, the offer, its acceptance and a deadline warning of two cases in one consumed batch: what it learns
    of who holds each case is one statement, its notices another, and the acceptance and the warning read the
    mediator the same batch's offer named (nothing written yet)."""
    cases = ("LC-2026-NT0011", "LC-2026-NT0012")
    sent: list[str] = []
    steps = []
    for n, case_id in enumerate(cases):
        received = CaseReceived(case_id=case_id, facts=facts([f"1390971001{n}"]))
        dispatched = CaseDispatched(case_id=case_id, org_unit="QH-XN-CD", route="mediation", tier="general",
                                    due_at=MORNING, facts=facts([f"1390971001{n}"]))
        offered = MediatorAssigned(case_id=case_id, mediator_id=f"M-CD-1{n}", mediator_name=f"调解员{n}",
                                   org_unit="QH-XN-CD", reason="")
        accepted = AssignmentAnswered(case_id=case_id, mediator_id=f"M-CD-1{n}", at=MORNING)
        warned = DeadlineSignal(deadline_id=f"d-{case_id}", case_id=case_id, kind="union_mediation",
                                owner="mediation", state="open", started_at=MORNING,
                                due_at=MORNING + timedelta(days=1), warn_at=MORNING, at=MORNING, org_unit=None)
        steps += [("intake.case_received", received), ("intake.case_dispatched", dispatched),
                  ("mediation.mediator_assigned", offered), ("mediation.assignment_accepted", accepted),
                  ("deadline.warning", warned)]
    world.conn.add_query_logger(lambda query: sent.append(query.query))

    async def batch(ctx) -> None:
        for e_type, data in steps:
            await HANDLERS[e_type](ctx, event(e_type, data), data)

    await world.run(batch)
    assert sum(q == repository.LEARNED for q in sent) == 1
    assert sum(q == repository.INSERT_NOTICES for q in sent) == 1
    for n, case_id in enumerate(cases):
        held = await repository.case(world.conn, case_id)
        assert held is not None and (held.org_unit, held.mediator_id, held.mediator_name) == \
            ("QH-XN-CD", f"M-CD-1{n}", f"调解员{n}")
        told = {r["kind"]: r["text"] for r in await messages(world, case_id)}
        assert f"调解员{n}" in told["mediator_assigned"]
        mine, unread = await repository.notices(world.conn, [f"mediator:M-CD-1{n}"])
        assert sorted(x.kind for x in mine) == ["case_assigned", "deadline_warning"] and unread == 2


async def test_phones_an_event_later_in_the_batch_makes_known_are_told(world):
    """A session is told about before the registration that names the phones comes, in the same batch: the
    phones learned are written before the messages read them."""
    late = "LC-2026-NT0003"
    session = SessionScheduled(case_id=late, session_id="s", scheduled_at=MORNING, location="调解室", actor="x")
    received = CaseReceived(case_id=late, facts=facts(["13909710005"]))

    async def batch(ctx) -> None:
        for e_type, data in (("mediation.session_scheduled", session), ("intake.case_received", received)):
            await HANDLERS[e_type](ctx, event(e_type, data), data)

    await world.run(batch)
    assert [r["phone"] for r in await messages(world, late)] == ["13909710005"]


async def test_a_case_without_phones_fails_its_batchs_end_and_waits_alone(world):
    nobody = SessionScheduled(case_id="LC-2026-NT0405", session_id="s", scheduled_at=MORNING, location="调解室",
                              actor="x")
    code = QueryCodeIssued(case_id=CASE, query_code="K7QF-82MX-PA", phones=PHONES, reason="registered",
                           issued_at=MORNING)
    pair = (("mediation.session_scheduled", nobody), ("intake.query_code_issued", code))

    async def both(ctx) -> None:
        for e_type, data in pair:
            await HANDLERS[e_type](ctx, event(e_type, data), data)

    with pytest.raises(NotYetKnown, match="LC-2026-NT0405"):
        await world.run(both)
    assert await messages(world) == []  # the batch's end failed as a whole; the consumer redoes each event alone
    for e_type, data in pair:  # as the consumer does in isolation: the one without phones waits, the other is told
        if data is nobody:
            with pytest.raises(NotYetKnown):
                await apply(world, event(e_type, data), data)
        else:
            await apply(world, event(e_type, data), data)
    assert len(await messages(world)) == 2
