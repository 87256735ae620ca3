"""The backbone against the real broker (Tansu) and PostgreSQL (embedded and configured)."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import uuid
from collections import defaultdict
from pathlib import Path

import asyncpg
import pytest
from aiokafka import AIOKafkaProducer

from events.envelope import encode, kafka_headers
from events.intake import CaseFacts, CaseReceived
from services.backbone import dlq, kafka
from services.backbone.db import create_pool, snapshot
from services.backbone.outbox import Record, Relay, enqueue, record_of
from services.backbone.runtime import Runtime
from services.process import runtime_for
from services.stack.broker import LocalBroker
from services.stack.postgres import EmbeddedPostgres
from tests import clock
from tests.conftest import runtime_settings, wait_until
from tests.factories import court_referral, decided, filed, referred
from tests.integration.ledger import counter, ledger, prefix

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def produce(bootstrap: str, topic: str, items: list[tuple[bytes | None, bytes, list]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for key, value, headers in items:
            await producer.send_and_wait(topic, value, key=key, headers=headers)
    finally:
        await producer.stop()


async def produce_events(bootstrap: str, topic: str, events: list) -> None:
    await produce(bootstrap, topic, [((e.subject or "").encode(), encode(e), kafka_headers(e)) for e in events])


async def start(spec, bootstrap: str, dsn: str, **overrides) -> Runtime:
    runtime = runtime_for(spec, runtime_settings(bootstrap, **overrides), dsn=dsn)
    await runtime.start()
    return runtime


async def run_cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The real ``laborcase`` command, in a thread so the event loop (and the runtime) keeps going."""
    return await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "services.cli", *args],
                                   capture_output=True, text=True, env=env, check=True)


def ordered_per_key(records) -> dict[bytes, list[str]]:
    """First occurrence of each event id, per key, in the order the topic holds them."""
    seen: set[str] = set()
    out: dict[bytes, list[str]] = defaultdict(list)
    for r in sorted(records, key=lambda r: (r.partition, r.offset)):
        event_id = json.loads(r.value)["id"]
        if event_id not in seen:
            seen.add(event_id)
            out[r.key].append(event_id)
    return out


async def test_outbox_publishes_only_committed_changes_in_order_even_when_relay_dies(
    kafka_bootstrap, pg_admin, make_db
):
    """Rolled-back changes publish nothing; committed ones always do, in order per key, even when the
    relay dies between publishing and marking (it re-publishes; the duplicates are harmless)."""
    from services.backbone.db import BACKBONE_MIGRATIONS, create_pool, migrate

    dsn = await make_db(pg_admin)
    topic = f"{prefix()}.out"
    await kafka.ensure_topics(kafka_bootstrap, {topic: 4})
    pool = await create_pool(dsn, size=4)
    await migrate(pool, [("backbone", BACKBONE_MIGRATIONS)])

    def event_for(case: str, n: int):
        data = CaseReceived(case_id=case, facts=CaseFacts.model_validate(
            {"channel": "hotline", "received_at": "2026-03-02T09:00:00+08:00", "region_code": "630102",
             "workers": [court_referral().workers[0].model_dump()],
             "employer": court_referral().employer.model_dump(), "claims": [{"type": "other"}],
             "summary": f"#{n}"}))
        from events.envelope import new_event
        return new_event("intake.case_received", source="test", data=data, subject=case)

    # a change that rolls back publishes nothing
    rolled_back = event_for("case-rolled-back", 0)
    with pytest.raises(RuntimeError):
        async with pool.acquire() as conn, conn.transaction():
            await enqueue(conn, [record_of(rolled_back, topic=topic)], service="intake")
            raise RuntimeError("the state change failed")

    # committed changes for three cases, interleaved, over several transactions
    expected: dict[bytes, list[str]] = defaultdict(list)
    for n in range(30):
        case = f"case-{n % 3}"
        event = event_for(case, n)
        async with pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT 1")  # the state change would be here
            await enqueue(conn, [record_of(event, topic=topic)], service="intake")
        expected[case.encode()].append(str(event.id))

    producer = kafka.producer(kafka_bootstrap, idempotence=False, client_id="test")
    await producer.start()

    async def crash(rows):
        raise SystemExit("relay killed between publish and mark")

    dying = Relay(pool, producer, "intake", batch_size=20, lease_seconds=0.5, after_publish=crash)
    with pytest.raises(SystemExit):
        await dying.publish_once()
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 30
    await asyncio.sleep(0.6)  # the dead relay's lease expires
    survivor = Relay(pool, producer, "intake", batch_size=1000)
    assert await survivor.publish_once() == 30
    assert await pool.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL") == 0
    await producer.stop()

    records = await kafka.read_all(kafka_bootstrap, topic)
    assert len(records) == 50  # 20 published twice, nothing lost
    assert str(rolled_back.id) not in {json.loads(r.value)["id"] for r in records}
    assert ordered_per_key(records) == expected
    await pool.close()


async def test_redelivered_event_changes_nothing(kafka_bootstrap, pg_admin, make_db):
    p = prefix()
    runtime = await start(ledger(p), kafka_bootstrap, await make_db(pg_admin))
    try:
        event = referred("(2026)青0103民诉前调1号")
        again = referred("(2026)青0103民诉前调1号")  # same case, a different event: a real second referral
        await produce_events(kafka_bootstrap, f"{p}.in", [event, event, again, event])

        async def referrals():
            return await runtime.pool.fetchval(
                "SELECT referrals FROM ledger_cases WHERE court_case_no = $1", event.subject)

        assert await wait_until(lambda: _eq(referrals, 2), what="both distinct referrals applied")
        await asyncio.sleep(1)
        assert await referrals() == 2
        assert await runtime.pool.fetchval("SELECT count(*) FROM outbox") == 2
        assert await runtime.pool.fetchval("SELECT count(*) FROM inbox") == 2
    finally:
        await runtime.stop()


async def _eq(fn, value):
    return (await fn()) == value


async def test_poison_events_are_dead_lettered_and_replayed(kafka_bootstrap, embedded_admin, make_db, tmp_path):
    p = prefix()
    topic = f"{p}.in"
    runtime = await start(ledger(p), kafka_bootstrap, await make_db(embedded_admin))
    try:
        good = referred("(2026)青0103民诉前调7号")
        bad_schema = json.loads(encode(referred("(2026)青0103民诉前调8号")))
        bad_schema["data"]["region_code"] = "63"  # not a 6-digit code
        unknown = json.loads(encode(good)) | {"id": str(uuid.uuid4()), "type": "court.case_teleported"}
        refused = filed("BAD-1")
        await produce(kafka_bootstrap, topic, [
            (b"x", b'{"specversion": "1.0", "id": ', [("content-type", b"application/cloudevents+json")]),
            (b"y", json.dumps(unknown).encode(), []),
            (b"z", json.dumps(bad_schema).encode(), []),
            (b"BAD-1", encode(refused), kafka_headers(refused)),
            (good.subject.encode(), encode(good), kafka_headers(good)),
        ])
        # the consumer went on with the next event
        await wait_until(lambda: runtime.pool.fetchval(
            "SELECT 1 FROM ledger_cases WHERE court_case_no = $1", good.subject), what="good event processed")

        async def letters():
            found = await dlq.list_dead_letters(kafka_bootstrap, [f"{topic}.dlq"])
            return found if len(found) >= 4 else None

        found = await wait_until(letters, what="four dead letters")
        reasons = sorted(letter.reason.split(":")[0] for letter in found)
        assert reasons == ["invalid", "malformed", "schema_violation", "unknown_type"]
        by_reason = {letter.reason.split(":")[0]: letter for letter in found}
        assert "region_code" in by_reason["schema_violation"].reason
        assert by_reason["malformed"].value == b'{"specversion": "1.0", "id": '  # original bytes kept
        assert by_reason["schema_violation"].header("x-dlq-topic") == topic

        # an operator fixes the payload and replays it with the CLI
        fixed = bad_schema
        fixed["data"]["region_code"] = "630102"
        fixed_file = tmp_path / "fixed.json"
        fixed_file.write_text(json.dumps(fixed, ensure_ascii=False))
        env = os.environ | {"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap}
        listing = await run_cli(["dlq", "list", "--topic", f"{topic}.dlq"], env)
        assert listing.stdout.count("\n") == 4
        done = await run_cli(["dlq", "replay", by_reason["schema_violation"].id, "--value-file", str(fixed_file)], env)
        assert "replayed" in done.stdout
        await wait_until(lambda: runtime.pool.fetchval(
            "SELECT 1 FROM ledger_cases WHERE court_case_no = $1", fixed["data"]["court_case_no"]),
            what="replayed event processed")
    finally:
        await runtime.stop()


async def test_event_about_unknown_case_is_parked_then_processed(kafka_bootstrap, pg_admin, make_db):
    p = prefix()
    runtime = await start(ledger(p), kafka_bootstrap, await make_db(pg_admin))
    try:
        case = "(2026)青0103民诉前调21号"
        await produce_events(kafka_bootstrap, f"{p}.in", [decided(case, "confirmed")])
        await wait_until(lambda: runtime.pool.fetchval("SELECT count(*) FROM parked"), what="event parked")
        assert await runtime.pool.fetchval("SELECT count(*) FROM ledger_cases") == 0
        await produce_events(kafka_bootstrap, f"{p}.in", [referred(case)])
        assert await wait_until(lambda: runtime.pool.fetchval(
            "SELECT decision FROM ledger_cases WHERE court_case_no = $1", case), what="parked event applied") \
            == "confirmed"
        assert await runtime.pool.fetchval("SELECT count(*) FROM parked") == 0
    finally:
        await runtime.stop()


async def test_database_down_consumer_retries_and_commits_nothing(kafka_bootstrap, make_db):
    pg = EmbeddedPostgres(Path(tempfile.mkdtemp(prefix="laborcase-pg-down-")) / "data", fsync=False)
    admin = pg.start()
    p = prefix()
    runtime = await start(ledger(p), kafka_bootstrap, await make_db(admin))
    group = "laborcase.intake"
    try:
        first = referred()
        await produce_events(kafka_bootstrap, f"{p}.in", [first])
        await wait_until(lambda: runtime.pool.fetchval("SELECT count(*) FROM ledger_cases"), what="first event")
        committed_before = await committed_total(kafka_bootstrap, group, f"{p}.in")

        pg.stop("fast")
        events = [referred() for _ in range(5)]
        await produce_events(kafka_bootstrap, f"{p}.in", events)
        await asyncio.sleep(4)  # the consumer is retrying against a dead database
        assert await committed_total(kafka_bootstrap, group, f"{p}.in") == committed_before

        pg.start()
        await wait_until(lambda: _eq(lambda: runtime.pool.fetchval("SELECT count(*) FROM ledger_cases"), 6),
                         timeout=60, what="all events applied after the database came back")
        await wait_until(lambda: _eq(lambda: committed_total(kafka_bootstrap, group, f"{p}.in"),
                                     committed_before + 5), timeout=30, what="offsets committed")
        assert await runtime.pool.fetchval("SELECT sum(referrals) FROM ledger_cases") == 6
    finally:
        await runtime.stop()
        pg.destroy()


async def committed_total(bootstrap: str, group: str, topic: str) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        total = 0
        for partition in consumer.partitions_for_topic(topic) or ():
            total += await consumer.committed(TopicPartition(topic, partition)) or 0
        return total
    finally:
        await consumer.stop()


async def test_restart_with_empty_broker_loses_nothing(embedded_admin, make_db):
    """The local broker forgets everything; the databases do not. Nothing may be lost or doubled."""
    p = prefix()
    ledger_db, counter_db = await make_db(embedded_admin), await make_db(embedded_admin)
    broker = LocalBroker()
    bootstrap = broker.start()
    a = await start(ledger(p), bootstrap, ledger_db)
    b = await start(counter(p), bootstrap, counter_db)
    try:
        await produce_events(bootstrap, f"{p}.in", [referred() for _ in range(5)])
        await wait_until(lambda: _eq(lambda: b.pool.fetchval("SELECT count(*) FROM received"), 5),
                         what="five effects downstream")
    finally:
        await a.stop()
        await b.stop()
        broker.stop()

    # a change committed while the broker was gone, not yet published
    pool = await asyncpg.create_pool(ledger_db, min_size=1, max_size=1)
    late = referred()
    async with pool.acquire() as conn, conn.transaction():
        data = CaseReceived(case_id="late", facts=CaseFacts(
            channel="court", received_at=late.time, region_code="630102",
            workers=court_referral().workers, employer=court_referral().employer,
            claims=court_referral().claims))
        from events.envelope import new_event
        await enqueue(conn, [record_of(new_event("intake.case_received", source="test", data=data, subject="late"),
                                      topic=f"{p}.out")], service="intake")
    await pool.close()

    broker = LocalBroker()  # empty: a restarted Tansu
    bootstrap = broker.start()
    a = await start(ledger(p), bootstrap, ledger_db)
    b = await start(counter(p), bootstrap, counter_db)
    try:
        await produce_events(bootstrap, f"{p}.in", [referred() for _ in range(3)])
        await wait_until(lambda: _eq(lambda: b.pool.fetchval("SELECT count(*) FROM received"), 9),
                         what="3 new + 1 late effects, and the 5 old ones not doubled")
        await asyncio.sleep(2)
        assert await b.pool.fetchval("SELECT count(*) FROM received") == 9
        assert await b.pool.fetchval("SELECT count(DISTINCT case_id) FROM received") == 9
        republished = await kafka.read_all(bootstrap, f"{p}.out")
        assert len({json.loads(r.value)["id"] for r in republished}) == 9  # the old events are back on the broker
    finally:
        await a.stop()
        await b.stop()
        broker.stop()


async def test_records_keep_foreign_bytes(kafka_bootstrap, embedded_admin, make_db):
    """Dead letters travel through the outbox with the original bytes and headers intact."""
    from services.backbone.db import BACKBONE_MIGRATIONS, create_pool, migrate

    pool = await create_pool(await make_db(embedded_admin), size=2)
    await migrate(pool, [("backbone", BACKBONE_MIGRATIONS)])
    topic = f"{prefix()}.in.dlq"
    await kafka.ensure_topics(kafka_bootstrap, {topic: 1})
    raw = bytes(range(256))
    async with pool.acquire() as conn, conn.transaction():
        await enqueue(conn, [Record(topic, b"k", raw, (("h", b"\x00\xff"),))], service="intake")
    producer = kafka.producer(kafka_bootstrap, idempotence=False, client_id="t")
    await producer.start()
    await Relay(pool, producer, "intake").publish_once()
    await producer.stop()
    (record,) = await kafka.read_all(kafka_bootstrap, topic)
    assert record.value == raw and record.key == b"k" and list(record.headers) == [("h", b"\x00\xff")]
    await pool.close()


@pytest.mark.clock
async def test_metrics_show_lag_backlog_and_deadlines_due_or_late(kafka_bootstrap, embedded_admin, make_db):
    """What an operator alerts on: consumer lag, outbox backlog, deadlines due soon and deadlines the scanner missed."""
    from prometheus_client import generate_latest

    p = prefix()
    runtime = await start(ledger(p), kafka_bootstrap, await make_db(embedded_admin))
    service = runtime.spec.name
    try:
        await produce_events(kafka_bootstrap, f"{p}.in", [referred(f"(2026)青0103民诉前调{n}号") for n in range(3)])
        assert await wait_until(lambda: _eq(lambda: runtime.pool.fetchval("SELECT count(*) FROM inbox"), 3),
                                what="three events consumed")
        assert await wait_until(lambda: _eq(lambda: runtime.pool.fetchval(
            "SELECT count(*) FROM outbox WHERE published_at IS NULL"), 0), what="their effects published")
        insert = ("INSERT INTO deadlines (id, case_id, kind, owner, state, started_at, due_at, warn_at, warn_ratio, "
                  "warned, next_fire_at) SELECT gen_random_uuid(), $1 || g, 'tier', 'elsewhere', 'open', t0, "
                  "t0 + $2::text::interval, t0 + $2::text::interval, 0.8, true, t0 + $2::text::interval "
                  "FROM generate_series(1, $3) g, (SELECT $4::timestamptz AS t0) now")
        now = clock.now()  # the business clock the runtime reads
        await runtime.pool.execute(insert, "LATE", "-1 hour", 2, now)  # another owner's: this scanner leaves them
        await runtime.pool.execute(insert, "SOON", "2 hours", 3, now)
        await runtime.pool.execute(insert, "LATER", "20 days", 4, now)
        await runtime.pool.execute("ANALYZE deadlines")
        await runtime._housekeeping()
        text = generate_latest().decode()

        def value(metric: str, **labels: str) -> float:
            want = [f'{k}="{v}"' for k, v in {"service": service, **labels}.items()]
            lines = [ln for ln in text.splitlines() if ln.startswith(f"{metric}{{") and all(w in ln for w in want)]
            assert lines, f"{metric} {labels} not exported: " + "\n".join(ln for ln in text.splitlines() if metric in ln)
            return float(lines[0].rsplit(" ", 1)[1])

        assert value("laborcase_deadlines_late") == 2
        assert value("laborcase_deadlines_due_24h") == 5
        assert value("laborcase_deadlines_open") == 9  # planner estimate, exact after ANALYZE on a small table
        assert value("laborcase_outbox_backlog") == 0
        assert value("laborcase_consumer_lag", topic=f"{p}.in") == 0
        assert value("laborcase_events_consumed_total", topic=f"{p}.in", outcome="processed") == 3
    finally:
        await runtime.stop()


async def test_api_answers_503_while_the_runtime_starts_and_probes_still_answer(kafka_bootstrap, embedded_admin, make_db):
    """A restarted service's HTTP server is up before its runtime: requests get a retryable 503, not a 500."""
    import httpx

    from services.process import secured_app

    p = prefix()
    runtime = runtime_for(ledger(p), runtime_settings(kafka_bootstrap), dsn=await make_db(embedded_admin))
    app = secured_app(runtime, ())
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://svc") as client:
        r = await client.get("/api/v1/audit/intake")
        assert r.status_code == 503 and r.headers["retry-after"] == "1" and "正在启动" in r.json()["detail"]
        assert (await client.get("/healthz")).status_code == 200
        await runtime.start()
        try:
            assert (await client.get("/api/v1/audit/intake")).status_code != 503
        finally:
            await runtime.stop()


async def test_events_a_service_does_not_handle_are_skipped_by_their_type_header(kafka_bootstrap, embedded_admin,
                                                                                 make_db):
    """A catalogued type the service has no handler for is passed over unread (even a body that would not parse);
    a type header naming no catalogued type still gets the body parsed and, here, dead-lettered."""
    p = prefix()
    topic = f"{p}.in"
    runtime = await start(ledger(p), kafka_bootstrap, await make_db(embedded_admin))
    try:
        good = referred("(2026)青0103民诉前调21号")
        await produce(kafka_bootstrap, topic, [
            (b"skipped", b"not even json", [("ce_type", b"mediation.settled")]),
            (b"unknown", b"not even json", [("ce_type", b"court.case_teleported")]),
            (good.subject.encode(), encode(good), kafka_headers(good)),
        ])
        await wait_until(lambda: runtime.pool.fetchval(
            "SELECT 1 FROM ledger_cases WHERE court_case_no = $1", good.subject), what="good event processed")

        async def letters():
            found = await dlq.list_dead_letters(kafka_bootstrap, [f"{topic}.dlq"])
            return found or None

        found = await wait_until(letters, what="the unparseable unknown type dead-lettered")
        await asyncio.sleep(1)
        found = await dlq.list_dead_letters(kafka_bootstrap, [f"{topic}.dlq"])
        assert [letter.key for letter in found] == [b"unknown"]
        assert found[0].reason.startswith("malformed")
        assert await runtime.pool.fetchval("SELECT count(*) FROM inbox") == 1  # only the handled event
    finally:
        await runtime.stop()


async def test_records_passed_over_commit_with_the_next_change_and_are_read_again_after_a_stop(
        kafka_bootstrap, embedded_admin, make_db):
    """A batch of records the service only passes over does not commit its offsets (consumer.CommitPace); the next
    batch that changes something commits every position read before it. Stopped in between, the service reads the
    passed-over records again, passes over them again, and nothing is applied twice."""
    p = prefix()
    topic, group = f"{p}.in", "laborcase.intake"  # the ledger is named intake (tests/integration/ledger.py)
    dsn = await make_db(embedded_admin)
    passed_over = [(b"skipped", b"not even json", [("ce_type", b"mediation.settled")])]
    runtime = await start(ledger(p), kafka_bootstrap, dsn, consumer_skip_commit_seconds=300)
    consumer = runtime._subscriber.consumer

    async def read() -> int:
        return sum([await consumer.position(tp) for tp in consumer.assignment() if tp.topic == topic])

    async def committed() -> int:
        return await committed_total(kafka_bootstrap, group, topic)

    try:
        await produce_events(kafka_bootstrap, topic, [referred("(2026)青0103民诉前调31号")])
        await wait_until(lambda: _eq(committed, 1), what="applied, committed")
        await produce(kafka_bootstrap, topic, passed_over * 3)
        await wait_until(lambda: _eq(read, 4), what="three passed over")
        assert await committed() == 1
        await produce_events(kafka_bootstrap, topic, [referred("(2026)青0103民诉前调32号")])
        await wait_until(lambda: _eq(committed, 5), what="the next change commits every position before it")
        await produce(kafka_bootstrap, topic, passed_over * 2)
        await wait_until(lambda: _eq(read, 7), what="two more passed over")
        assert await committed() == 5
    finally:
        await runtime.stop()
    runtime = await start(ledger(p), kafka_bootstrap, dsn, consumer_skip_commit_seconds=300)
    try:
        # read again from the committed positions: the first batch after a start commits, whatever it holds
        await wait_until(lambda: _eq(committed, 7), what="the two passed over again")
        assert await runtime.pool.fetchval("SELECT count(*) FROM ledger_cases") == 2
        assert await runtime.pool.fetchval("SELECT count(*) FROM inbox") == 2
    finally:
        await runtime.stop()


async def test_a_snapshot_reads_one_commit_even_when_a_write_commits_between_its_reads(embedded_admin, make_db):
    """A case's page reads its row, clocks and log in several statements; a write that commits between them must
    not show half of itself (the mediation page once showed 'in mediation' with the rejected agreement)."""
    pool = await create_pool(await make_db(embedded_admin), size=2)
    try:
        await pool.execute("CREATE TABLE c (id int PRIMARY KEY, state text, agreement text)")
        await pool.execute("INSERT INTO c VALUES (1, 'awaiting_confirmation', '分两期付清')")
        async with snapshot(pool) as db:
            assert await db.fetchval("SELECT state FROM c WHERE id = 1") == "awaiting_confirmation"
            async with pool.acquire() as writer, writer.transaction():
                await writer.execute("UPDATE c SET state = 'in_mediation', agreement = NULL WHERE id = 1")
            assert tuple(await db.fetchrow("SELECT state, agreement FROM c WHERE id = 1")) == (
                "awaiting_confirmation", "分两期付清")
            with pytest.raises(asyncpg.exceptions.ReadOnlySQLTransactionError):
                await db.execute("UPDATE c SET state = 'x'")
        assert tuple(await pool.fetchrow("SELECT state, agreement FROM c WHERE id = 1")) == ("in_mediation", None)
    finally:
        await pool.close()
