"""One bad item never blocks its neighbours, and an outage loses nothing — real broker and PostgreSQL.

Each place that could stall on one item: a batch that keeps failing, a database error caused by an event's
data, a parked event that no longer decodes, a deadline whose firing fails, an outbox row the broker refuses,
a broker that cannot be read in time (taken for a lost log)."""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer

from services.backbone import dlq, kafka, metrics
from services.backbone.db import BACKBONE_MIGRATIONS, create_pool, is_transient, migrate
from services.backbone.deadline_store import DeadlineStore, fire_due
from services.backbone.outbox import Record, Relay, encode_headers, enqueue
from services.backbone.runtime import Runtime
from services.process import runtime_for
from services.stack.kafka_proxy import KafkaProxy
from services.stack.postgres import EmbeddedPostgres
from tests import clock
from tests.conftest import runtime_settings, wait_until
from tests.factories import decided, referred
from tests.integration.ledger import ALWAYS_DEADLOCKS, CANNOT_ENCODE, ledger, prefix

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def produce_events(bootstrap: str, topic: str, events: list) -> None:
    from events.envelope import encode, kafka_headers

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for e in events:
            await producer.send_and_wait(topic, encode(e), key=(e.subject or "").encode(), headers=kafka_headers(e))
    finally:
        await producer.stop()


async def start(spec, bootstrap: str, dsn: str, **overrides) -> Runtime:
    runtime = runtime_for(spec, runtime_settings(bootstrap, **overrides), dsn=dsn)
    await runtime.start()
    return runtime


async def letters(bootstrap: str, topic: str) -> list[dlq.DeadLetter]:
    return await dlq.list_dead_letters(bootstrap, [f"{topic}.dlq"])


def gauge(name: str, service: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, {"service": service}) or 0.0


async def test_asyncpg_client_side_data_error_is_permanent_and_dead_letters_its_event_only(
        kafka_bootstrap, embedded_admin, make_db):
    import asyncpg

    assert not is_transient(asyncpg.exceptions.DataError("invalid input for query argument $1"))
    assert is_transient(asyncpg.InterfaceError("cannot perform operation: connection is closed"))
    p = prefix()
    runtime = await start(ledger(p), kafka_bootstrap, await make_db(embedded_admin))
    try:
        bad, good = referred(summary=CANNOT_ENCODE), referred()
        await produce_events(kafka_bootstrap, f"{p}.in", [bad, good])
        await wait_until(lambda: runtime.pool.fetchval("SELECT 1 FROM ledger_cases WHERE court_case_no = $1",
                                                       good.subject), what="the good event")
        [letter] = await wait_until(lambda: letters(kafka_bootstrap, f"{p}.in"), what="the bad one dead-lettered")
        assert json.loads(letter.value)["id"] == str(bad.id) and "DataError" in letter.reason
    finally:
        await runtime.stop()


async def test_a_batch_that_keeps_failing_is_reported_then_run_one_event_at_a_time(kafka_bootstrap, embedded_admin,
                                                                                     make_db):
    """An event that fails with a 'transient' fault every single time (here: a deadlock on every attempt)
    would hold its partition forever: after two failed rounds, with the database answering, the batch runs one
    event at a time and that event alone is dead-lettered."""
    p = prefix()
    runtime = await start(ledger(p), kafka_bootstrap, await make_db(embedded_admin), consumer_isolate_after_rounds=2)
    runtime.processor.retry_attempts = 2  # keep the rounds short
    try:
        stuck = referred(summary=ALWAYS_DEADLOCKS)
        after = [referred() for _ in range(3)]
        await produce_events(kafka_bootstrap, f"{p}.in", [stuck, *after])
        await wait_until(lambda: _true(gauge("laborcase_consumer_failing_rounds", "intake") >= 1),
                         what="the failing rounds reported")
        await wait_until(lambda: runtime.pool.fetchval("SELECT count(*) FROM ledger_cases WHERE court_case_no = "
                                                       "ANY($1)", [e.subject for e in after]), what="the others")
        [letter] = await wait_until(lambda: letters(kafka_bootstrap, f"{p}.in"), timeout=30,
                                    what="the event that kept failing dead-lettered")
        assert json.loads(letter.value)["id"] == str(stuck.id)
        assert "kept failing after 2 rounds" in letter.reason and letter.header("x-dlq-service") == "intake"
        await wait_until(lambda: _true(gauge("laborcase_consumer_failing_rounds", "intake") == 0),
                         what="the consumer back to normal")
        assert await runtime.pool.fetchval("SELECT sum(referrals) FROM ledger_cases") == 3
    finally:
        await runtime.stop()


async def _true(value: bool) -> bool:
    return value


async def test_a_database_outage_longer_than_the_retry_budget_loses_nothing_across_partitions(kafka_bootstrap,
                                                                                            make_db):
    """Events on every partition of the topic, consumed in one batch, while PostgreSQL is down for longer
    than every retry together: nothing is dead-lettered (it is not the events' fault), nothing is lost,
    nothing applied twice once the database is back."""
    home = Path(tempfile.mkdtemp(prefix="laborcase-pg-outage-"))
    os.chmod(home, 0o755)
    pg = EmbeddedPostgres(home / "data", fsync=False)
    admin = pg.start()
    p = prefix()
    runtime = await start(ledger(p), kafka_bootstrap, await make_db(admin), consumer_isolate_after_rounds=2)
    runtime.processor.retry_attempts = 3
    try:
        first = referred()
        await produce_events(kafka_bootstrap, f"{p}.in", [first])
        await wait_until(lambda: runtime.pool.fetchval("SELECT count(*) FROM ledger_cases"), what="first event")
        pg.stop("fast")
        events = [referred() for _ in range(24)]
        await produce_events(kafka_bootstrap, f"{p}.in", events)
        spread = {r.partition for r in await kafka.read_all(kafka_bootstrap, f"{p}.in")}
        assert len(spread) > 1, spread  # the batch spans several partitions
        await asyncio.sleep(15)  # several rounds of bounded retries against a dead database
        pg.start()
        await wait_until(lambda: _eq(runtime.pool.fetchval("SELECT count(*) FROM ledger_cases"), 25),
                         timeout=90, what="all events applied after the database came back")
        assert await runtime.pool.fetchval("SELECT sum(referrals) FROM ledger_cases") == 25  # none twice
        assert await letters(kafka_bootstrap, f"{p}.in") == []  # none blamed for the outage
    finally:
        await runtime.stop()
        pg.destroy()


async def _eq(value_coro, expected) -> bool:
    return (await value_coro) == expected


async def test_a_parked_event_that_no_longer_decodes_is_dead_lettered_without_blocking_the_others(
        kafka_bootstrap, embedded_admin, make_db):
    p = prefix()
    runtime = await start(ledger(p), kafka_bootstrap, await make_db(embedded_admin))
    try:
        case = f"(2026)青0103民诉前调{uuid.uuid4().hex[:6]}号"
        await produce_events(kafka_bootstrap, f"{p}.in", [decided(case, "confirmed")])
        await wait_until(lambda: runtime.pool.fetchval("SELECT count(*) FROM parked"), what="event parked")
        # a damaged parked row: bytes that no longer decode, headers stored as a string instead of a list
        await runtime.pool.execute(
            'INSERT INTO parked (event_id, event_type, topic, "partition", "offset", key, value, headers, reason) '
            "VALUES ($1, 'court.confirmation_decided', $2, 0, 99, 'k', $3, $4::jsonb, 'test')",
            uuid.uuid4(), f"{p}.in", b'{"specversion": "1.0", "type": "court.confirm', json.dumps(
                encode_headers([("content-type", b"application/cloudevents+json")])))
        await produce_events(kafka_bootstrap, f"{p}.in", [referred(case)])
        assert await wait_until(lambda: runtime.pool.fetchval(
            "SELECT decision FROM ledger_cases WHERE court_case_no = $1", case), what="parked event applied") \
            == "confirmed"
        [letter] = await wait_until(lambda: letters(kafka_bootstrap, f"{p}.in"), what="the broken one dead-lettered")
        assert "no longer decodes" in letter.reason and letter.header("x-dlq-offset") == "99"
        assert await runtime.pool.fetchval("SELECT count(*) FROM parked") == 0
    finally:
        await runtime.stop()


async def test_a_deadline_that_cannot_fire_is_retried_alone_and_the_others_fire(embedded_admin, make_db):
    pool = await create_pool(await make_db(embedded_admin), size=2)
    await migrate(pool, [("backbone", BACKBONE_MIGRATIONS)])
    now = clock.now()
    try:
        async with pool.acquire() as conn, conn.transaction():
            records: list[Record] = []
            store = DeadlineStore(conn, owner="mediation", topic="mediation.events", emit=records.append, now=now)
            for case in ("A", "BROKEN", "C"):
                await store.start(case_id=case, kind="tier", started_at=now - timedelta(days=2),
                                  due_at=now - timedelta(seconds=1))

        async def escalate(conn, deadline, signal, records):
            if deadline.case_id == "BROKEN":
                await conn.execute("SELECT 1/0")  # an escalation that fails on this case's data

        fired = await fire_due(pool, owner="mediation", topic="mediation.events", service="mediation", now=now,
                               on_fire=escalate)
        assert fired == 2
        rows = {r["case_id"]: r for r in await pool.fetch("SELECT case_id, state, next_fire_at, attributes "
                                                          "FROM deadlines")}
        assert rows["A"]["state"] == rows["C"]["state"] == "breached"
        broken = rows["BROKEN"]
        assert broken["state"] == "open" and broken["attributes"]["fire_failures"] == 1
        assert broken["next_fire_at"] == now + timedelta(seconds=30)
        signals = await pool.fetch("SELECT event_type, key FROM outbox WHERE event_type = 'deadline.breached'")
        assert sorted(r["key"] for r in signals) == [b"A", b"C"]
    finally:
        await pool.close()


async def test_the_relay_skips_and_reports_a_row_the_broker_refuses_and_its_lane_goes_on(kafka_bootstrap,
                                                                                        embedded_admin, make_db):
    pool = await create_pool(await make_db(embedded_admin), size=2)
    await migrate(pool, [("backbone", BACKBONE_MIGRATIONS)])
    topic = f"{prefix()}.out"
    await kafka.ensure_topics(kafka_bootstrap, {topic: 1})
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", max_request_size=16 * 1024)
    await producer.start()
    try:
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, [Record(topic, b"same-key", b"before"), Record(topic, b"same-key", b"x" * 64 * 1024),
                                 Record(topic, b"same-key", b"after")], service="intake")
        before = metrics.RELAY_SKIPPED.labels("intake", topic)._value.get()
        relay = Relay(pool, producer, "intake")
        assert await relay.publish_once() == 3
        assert await relay.publish_once() == 0  # the refused row is not tried again
        rows = await pool.fetch("SELECT length(value) AS n, published_at IS NOT NULL AS published, refusal "
                                "FROM outbox ORDER BY id")
        assert [(r["n"], r["published"]) for r in rows] == [(6, True), (64 * 1024, False), (5, True)]
        assert "MessageSizeTooLarge" in rows[1]["refusal"]
        assert metrics.RELAY_SKIPPED.labels("intake", topic)._value.get() == before + 1
        values = [r.value for r in await kafka.read_all(kafka_bootstrap, topic)]
        assert values == [b"before", b"after"]
    finally:
        await producer.stop()
        await pool.close()


class Unauthorized:
    """The broker behind ``producer``, where this service may not write ``denied`` (its ACLs, e.g. a dead-letter
    topic of a topic it no longer consumes): aiokafka raises before sending."""

    def __init__(self, producer: AIOKafkaProducer, denied: str):
        self.producer, self.denied = producer, denied

    async def send(self, topic: str, value: bytes, **kw):
        from aiokafka.errors import TopicAuthorizationFailedError

        if topic == self.denied:
            raise TopicAuthorizationFailedError(topic)
        return await self.producer.send(topic, value, **kw)


@pytest.mark.parametrize("denied_is_dead_letter", [True, False])
async def test_a_dead_letter_the_broker_will_not_take_from_this_service_does_not_hold_up_its_events(
        kafka_bootstrap, embedded_admin, make_db, denied_is_dead_letter):
    """A dead letter kept in the outbox for a topic the service may no longer write (re-published after the
    broker lost its log) is refused for good and reported; its lane goes on. Any other topic the service may not
    write is a configuration to mend: nothing is marked, the relay tries again."""
    pool = await create_pool(await make_db(embedded_admin), size=2)
    await migrate(pool, [("backbone", BACKBONE_MIGRATIONS)])
    topic = f"{prefix()}.out"
    denied = f"{prefix()}.in.dlq" if denied_is_dead_letter else f"{prefix()}.feedback"
    await kafka.ensure_topics(kafka_bootstrap, {topic: 1})
    producer = kafka.producer(kafka_bootstrap, idempotence=False, client_id="t")
    await producer.start()
    try:
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, [Record(topic, b"k", b"before"), Record(denied, b"k", b"denied"),
                                 Record(topic, b"k", b"after")], service="mediation")
        relay = Relay(pool, Unauthorized(producer, denied), "mediation")  # type: ignore[arg-type]
        if denied_is_dead_letter:
            assert await relay.publish_once() == 3
            assert await relay.publish_once() == 0
            rows = await pool.fetch("SELECT published_at IS NOT NULL AS published, refusal FROM outbox ORDER BY id")
            assert [r["published"] for r in rows] == [True, False, True]
            assert "TopicAuthorizationFailed" in rows[1]["refusal"]
            assert [r.value for r in await kafka.read_all(kafka_bootstrap, topic)] == [b"before", b"after"]
        else:
            with pytest.raises(Exception, match="TopicAuthorizationFailed"):
                await relay.publish_once()
            rows = await pool.fetch("SELECT published_at IS NOT NULL AS published, refusal FROM outbox ORDER BY id")
            assert [(r["published"], r["refusal"]) for r in rows] == [(False, None)] * 3  # all sent again
    finally:
        await producer.stop()
        await pool.close()


async def test_a_broker_that_cannot_be_read_in_time_is_not_taken_for_a_lost_log(kafka_bootstrap, embedded_admin,
                                                                              make_db):
    p = prefix()
    runtime = await start(ledger(p), kafka_bootstrap, await make_db(embedded_admin))
    proxy = KafkaProxy(kafka_bootstrap, name="marker")
    await proxy.start()
    try:
        await produce_events(kafka_bootstrap, f"{p}.in", [referred()])
        await wait_until(lambda: runtime.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL"),
                         what="an event published")
        marker = await runtime.pool.fetchval("SELECT marker FROM broker_marker")
        assert await kafka.marker_state(kafka_bootstrap, marker) == "present"
        # the same broker, stalled: every fetch waits, nothing is answered in time
        stall = asyncio.ensure_future(proxy.cut(8, mode="stall"))
        await asyncio.sleep(0.2)
        assert await kafka.marker_state(proxy.bootstrap, marker, timeout=3) == "unknown"
        runtime.settings.kafka_bootstrap_servers = proxy.bootstrap
        assert await runtime.check_broker_generation() is False
        assert await runtime.pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
        await stall
        runtime.settings.kafka_bootstrap_servers = kafka_bootstrap
        # evidence: a marker nobody wrote is positively absent from a topic read whole
        assert await kafka.marker_state(kafka_bootstrap, uuid.uuid4()) == "absent"
    finally:
        await proxy.stop()
        await runtime.stop()


async def test_the_audit_log_is_archived_by_finished_month_and_otherwise_append_only(embedded_admin, make_db, tmp_path):
    import gzip

    import asyncpg

    from services.backbone.audit_archive import ArchiveRefused, archive_month

    dsn = await make_db(embedded_admin)
    pool = await create_pool(dsn, size=2)
    await migrate(pool, [("backbone", BACKBONE_MIGRATIONS)])
    today = clock.today()
    this_month = f"{today:%Y-%m}"
    last = today.replace(day=1) - timedelta(days=1)
    last_month = f"{last:%Y-%m}"
    try:
        insert = ("INSERT INTO audit_log (at, service, actor, role, action, case_id, method, path, status) "
                  "VALUES ($1, 'intake', 'clerk', 'clerk', 'read', $2, 'GET', '/x', 200)")
        from datetime import datetime

        from services.calendar.model import SHANGHAI
        # the last second of last month and the first of this one, in Shanghai time
        end_of_last = datetime(last.year, last.month, last.day, 23, 59, 59, tzinfo=SHANGHAI)
        await pool.execute(insert, end_of_last, "OLD-1")
        await pool.execute(insert, end_of_last - timedelta(days=3), "OLD-2")
        await pool.execute(insert, end_of_last + timedelta(seconds=1), "NEW-1")
        with pytest.raises(asyncpg.RaiseError, match="append-only"):
            await pool.execute("DELETE FROM audit_log WHERE case_id = 'OLD-1'")
        with pytest.raises(ArchiveRefused):
            await archive_month(dsn, month=this_month, out_dir=tmp_path, by="ops", service="intake", today=today)
        done = await archive_month(dsn, month=last_month, out_dir=tmp_path, by="ops", service="intake", today=today)
        assert done.rows == 2
        with gzip.open(done.file, "rt", encoding="utf-8") as f:
            assert sorted(json.loads(line)["case_id"] for line in f) == ["OLD-1", "OLD-2"]
        assert [r["case_id"] for r in await pool.fetch("SELECT case_id FROM audit_log")] == ["NEW-1"]
        assert await pool.fetchval("SELECT row_count FROM audit_archives WHERE month = $1", last_month) == 2
        with pytest.raises(ArchiveRefused):
            await archive_month(dsn, month=last_month, out_dir=tmp_path, by="ops", service="intake", today=today)
        with pytest.raises(asyncpg.RaiseError, match="append-only"):  # still append-only for everyone else
            await pool.execute("DELETE FROM audit_log")
    finally:
        await pool.close()
