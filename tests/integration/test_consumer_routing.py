"""The consumer's routing on FastStream's TestKafkaBroker: the runtime's own subscriber (``consumer_broker``)
with real PostgreSQL behind it and no Kafka broker. Every consumed topic reaches the event processor, each
record goes to the handler of its type, a record of an unknown type is dead-lettered with the reason, and a
record of a catalogued type this service does not handle is passed over. The flows over the real broker stay
in test_backbone.py and the services' tests; this tier pins the wiring fast."""

from __future__ import annotations

import pytest
from faststream.kafka import TestKafkaBroker

from events.envelope import encode, kafka_headers, new_event
from events.intake import CaseFacts, CaseReceived, CaseRefs
from services.backbone.outbox import decode_headers
from services.backbone.runtime import Runtime
from tests.conftest import runtime_settings
from tests.factories import court_referral, filed, referred
from tests.integration.ledger import ledger, prefix

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def headers_of(event) -> dict[str, str]:
    return {k: v.decode() for k, v in kafka_headers(event)}


@pytest.fixture
async def opened(make_db, pg_admin):
    p = prefix()
    runtime = Runtime(ledger(p), runtime_settings("127.0.0.1:1"), dsn=await make_db(pg_admin))
    await runtime.open()  # the database and the processor; no broker
    try:
        yield p, runtime
    finally:
        await runtime.pool.close()


async def outbox(runtime: Runtime) -> list[dict]:
    rows = await runtime.pool.fetch("SELECT topic, event_type, value, headers FROM outbox ORDER BY id")
    return [dict(r) for r in rows]


async def test_each_record_reaches_the_handler_of_its_type(opened):
    p, runtime = opened
    broker, _ = runtime.consumer_broker()
    first, second = referred(), referred()
    async with TestKafkaBroker(broker) as test:
        for event in (first, second):
            await test.publish(encode(event), topic=f"{p}.in", key=event.subject.encode(), headers=headers_of(event))
    cases = {r["court_case_no"] for r in await runtime.pool.fetch("SELECT court_case_no FROM ledger_cases")}
    assert cases == {first.data["court_case_no"], second.data["court_case_no"]}
    published = [r for r in await outbox(runtime) if r["event_type"] == "intake.case_received"]
    assert [r["topic"] for r in published] == [f"{p}.out", f"{p}.out"]
    assert await runtime.pool.fetchval("SELECT count(*) FROM inbox") == 2


async def test_a_redelivered_record_changes_nothing(opened):
    p, runtime = opened
    broker, _ = runtime.consumer_broker()
    event = referred()
    async with TestKafkaBroker(broker) as test:
        for _ in range(2):
            await test.publish(encode(event), topic=f"{p}.in", key=event.subject.encode(), headers=headers_of(event))
    assert await runtime.pool.fetchval("SELECT referrals FROM ledger_cases") == 1
    assert len([r for r in await outbox(runtime) if r["event_type"] == "intake.case_received"]) == 1


async def test_unknown_types_are_dead_lettered_and_unhandled_types_passed_over(opened):
    p, runtime = opened
    broker, _ = runtime.consumer_broker()
    unhandled = new_event("intake.case_received", source="laborcase/test",
                          data=CaseReceived(case_id="X-2", facts=_facts()), subject="X-2")
    async with TestKafkaBroker(broker) as test:
        await test.publish(b'{"specversion": "1.0", "type": "court.something_new"}', topic=f"{p}.in",
                           headers={"ce_type": "court.something_new", "content-type": "application/cloudevents+json"})
        await test.publish(encode(unhandled), topic=f"{p}.in", headers=headers_of(unhandled))
        await test.publish(b"not json at all", topic=f"{p}.in")
    dead = [r for r in await outbox(runtime) if r["topic"] == f"{p}.in.dlq"]
    # the unknown type and the bytes that are no event are dead-lettered, by this service; the unhandled type is not
    assert [r["value"] for r in dead] == [b'{"specversion": "1.0", "type": "court.something_new"}', b"not json at all"]
    for row in dead:
        headers = dict(decode_headers(row["headers"]))
        assert headers["x-dlq-service"] == b"intake" and headers["x-dlq-topic"] == f"{p}.in".encode()
        assert headers["x-dlq-reason"]
    assert await runtime.pool.fetchval("SELECT count(*) FROM ledger_cases") == 0


def _facts() -> CaseFacts:
    r = court_referral()
    return CaseFacts(channel="court", received_at=r.referred_at, region_code=r.region_code, workers=r.workers,
                     employer=r.employer, claims=r.claims, summary=r.summary,
                     refs=CaseRefs(court_code=r.court_code, court_case_no=r.court_case_no))


async def test_a_use_cases_refusal_is_dead_lettered_with_its_reason(opened):
    p, runtime = opened
    broker, _ = runtime.consumer_broker()
    gone = filed("GONE-1")
    async with TestKafkaBroker(broker) as test:
        await test.publish(encode(gone), topic=f"{p}.in", key=b"GONE-1", headers=headers_of(gone))
    (dead,) = [r for r in await outbox(runtime) if r["topic"] == f"{p}.in.dlq"]
    reason = dict(decode_headers(dead["headers"]))["x-dlq-reason"].decode()
    assert reason == "invalid: not-found: 案件 GONE-1 不存在"
    assert await runtime.pool.fetchval("SELECT count(*) FROM inbox") == 0


async def test_the_subscriber_waits_for_records_once_and_never_sleeps_after_an_empty_wait(opened, monkeypatch):
    """FastStream's batch subscriber sleeps ``batch_timeout_ms`` after an empty ``getmany``; an event arriving
    during that sleep waited for it. The runtime's subscriber makes one wait of its own length and returns."""
    _, runtime = opened
    _, subscriber = runtime.consumer_broker()
    s = runtime.settings

    async def no_sleep(*args, **kwargs):
        raise AssertionError("the subscriber slept after an empty wait")

    monkeypatch.setattr("anyio.sleep", no_sleep)
    monkeypatch.setattr("asyncio.sleep", no_sleep)

    class Consumer:
        def __init__(self, batches):
            self.batches, self.waits = list(batches), []

        async def getmany(self, *partitions, timeout_ms=0, max_records=None):
            self.waits.append((timeout_ms, max_records))
            return self.batches.pop(0)

    consumer = Consumer([{}, {"tp0": ["r1", "r2"], "tp1": ["r3"]}])
    assert await subscriber.get_msg(consumer) == ()
    assert await subscriber.get_msg(consumer) == ("r1", "r2", "r3")
    assert consumer.waits == [(s.consumer_batch_timeout_ms, s.consumer_batch_size)] * 2


async def test_a_batch_is_handled_without_a_worker_thread(opened, monkeypatch):
    """A parameter FastStream resolves from its context with a plain function (``msg: KafkaMessage``) was run in a
    worker thread by fast_depends, a thread hop for every batch: the handler reads the batch from the context."""
    import anyio.to_thread

    hops: list[object] = []
    real = anyio.to_thread.run_sync

    async def counted(func, *args, **kwargs):
        hops.append(func)
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    p, runtime = opened
    broker, _ = runtime.consumer_broker()
    event = referred()
    async with TestKafkaBroker(broker) as test:
        await test.publish(encode(event), topic=f"{p}.in", key=event.subject.encode(), headers=headers_of(event))
    assert await runtime.pool.fetchval("SELECT referrals FROM ledger_cases") == 1  # the batch was handled
    assert hops == []


async def test_a_batch_passed_over_commits_with_the_next_that_changes_something(opened, monkeypatch):
    """Only a batch that changed something commits its offsets at once (consumer.CommitPace): one of records this
    service passes over goes with the next commit — here, the next batch's."""
    from faststream.kafka.message import KafkaAckableMessage

    commits: list[int] = []

    async def ack(self) -> None:
        commits.append(len(self.raw_message) if isinstance(self.raw_message, tuple | list) else 1)

    monkeypatch.setattr(KafkaAckableMessage, "ack", ack)
    p, runtime = opened
    runtime._pace.clock = lambda: 100.0  # no time passes: only a change commits
    runtime._pace.committed()
    broker, _ = runtime.consumer_broker()
    unhandled = new_event("intake.case_received", source="laborcase/test",
                          data=CaseReceived(case_id="X-3", facts=_facts()), subject="X-3")
    event = referred()
    async with TestKafkaBroker(broker) as test:
        await test.publish(encode(unhandled), topic=f"{p}.in", headers=headers_of(unhandled))
        assert commits == []  # passed over: nothing to commit yet
        await test.publish(encode(event), topic=f"{p}.in", key=event.subject.encode(), headers=headers_of(event))
        assert commits == [1]  # the applied event's batch commits (and with it every position read before)
        await test.publish(b"not json at all", topic=f"{p}.in")
        assert commits == [1, 1]  # a dead letter is a change too
    assert await runtime.pool.fetchval("SELECT referrals FROM ledger_cases") == 1
