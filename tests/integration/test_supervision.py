"""Supervision through the real stack: a breached deadline becomes an overdue alert, escalates up the
hierarchy one working day at a time, and the projection can be rebuilt from the topics."""

from __future__ import annotations

import asyncio
import sys
import time
import uuid
from datetime import date, timedelta
from types import SimpleNamespace

import asyncpg
import pytest
import pytest_asyncio
from aiokafka import AIOKafkaConsumer, TopicPartition

from events.catalog import TOPICS
from events.envelope import decode_kafka
from services.backbone import calendar_store, kafka
from services.backbone.consumer import EventProcessor
from services.backbone.db import create_pool
from services.intake.domain.identifiers import make_id_number, make_uscc
from services.intake.service import SPEC as INTAKE
from services.mediation.service import SPEC as MEDIATION
from services.stack import replay_bench
from services.supervision import alerts, bulk
from services.supervision.rebuild import ROOT, rebuild
from services.supervision.service import HIERARCHY
from services.supervision.service import SPEC as SUPERVISION
from tests import clock
from tests.conftest import wait_until
from tests.integration.conftest import running_all

pytestmark = [pytest.mark.integration, pytest.mark.clock, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session", scope="module")
async def stack(kafka_bootstrap, embedded_pg):
    async with running_all(kafka_bootstrap, embedded_pg.admin_dsn(), INTAKE, MEDIATION, SUPERVISION) as services:
        yield services


def old_case(days_ago: int, n: int) -> dict:
    return {"channel": "hotline", "received_at": (clock.now() - timedelta(days=days_ago)).replace(
                microsecond=0).isoformat(),
            "region_code": "630102", "summary": "拖欠工资", "actor": "热线",
            "workers": [{"name": f"督办职工{n}", "id_number": make_id_number("630102", date(1986, 5, 5), 700 + n),
                         "phone": f"1350971{n:04d}"}],
            "employer": {"name": f"城东区某超市{n}", "uscc": make_uscc("630102", 8800 + n)},
            "claims": [{"type": "wage_arrears", "amount_cny": 3000}]}


async def test_breach_raises_an_overdue_alert_that_escalates_to_the_province(stack):
    intake, med, sup = stack
    started = time.monotonic()
    out = (await intake.post("/api/v1/cases", json=old_case(12, 1))).json()
    case_id = out["case_id"]
    assert out["org_unit"] == "QH-XN-CD"

    async def escalated_to_province():
        alerts = (await sup.get("/api/v1/alerts", params={"state": "overdue"})).json()["alerts"]
        mine = [a for a in alerts if a["case_id"] == case_id]
        return mine[0] if mine and mine[0]["escalated_to"] == "QH" else None

    alert = await wait_until(escalated_to_province, timeout=30, what="overdue alert escalated to the province")
    print(f"\noverdue alert on the board and escalated twice {time.monotonic() - started:.2f}s after registration")
    assert alert["level"] == 2 and alert["deadline_kind"] == "tier" and alert["org_unit"] == "QH-XN-CD"
    assert alert["escalated_to_name"] == "青海省总工会"

    case = (await sup.get(f"/api/v1/cases/{case_id}")).json()
    assert case["status"] in ("dispatched", "in_mediation") and case["org_unit"] == "QH-XN-CD"
    types = [t["type"] for t in case["timeline"]]
    assert types[0] == "intake.case_received" and "deadline.breached" in types
    assert {"intake.case_dispatched", "mediation.case_opened", "mediation.mediator_assigned"} <= set(types)
    assert any(t["summary"] == "办结期限：已超期" for t in case["timeline"])
    # one trace follows the case from the clerk's request through intake and mediation (OpenTelemetry context)
    traces = {t["trace_id"] for t in case["timeline"] if t["type"].startswith(("intake.", "mediation."))}
    assert len(traces) == 1 and None not in traces
    assert (await sup.get("/api/v1/cases", params={"overdue": "true", "org_unit": "QH-XN"})).json()["cases"][0][
        "case_id"] == case_id
    by_ref = await sup.get("/api/v1/cases", params={"ref": case_id})
    assert by_ref.json()["cases"][0]["tier"] == "general"

    ack = await sup.post(f"/api/v1/supervision/alerts/{alert['alert_id']}/ack",
                         json={"actor": "省总督办室", "note": "已电话督促城东区总工会当日办结"})
    assert ack.status_code == 200 and ack.json()["state"] == "acknowledged"
    assert (await sup.post(f"/api/v1/supervision/alerts/{alert['alert_id']}/ack",
                           json={"actor": "x", "note": "重复"})).status_code == 409

    # the case is finally settled: the tier deadline is met (late) and the alert resolves
    mediator = (await med.get(f"/api/v1/mediation/cases/{case_id}")).json()["mediator_id"]
    await med.post(f"/api/v1/mediation/cases/{case_id}/accept", json={"mediator_id": mediator})
    await med.post(f"/api/v1/mediation/cases/{case_id}/settle", json={"agreement": {"amount_cny": 3000},
                                                                        "actor": mediator})

    async def resolved():
        c = (await sup.get(f"/api/v1/cases/{case_id}")).json()
        return c if c["status"] == "resolved" and c["on_time"] is False and not any(
            a["state"] != "resolved" for a in c["alerts"] if a["kind"] == "overdue") else None

    case = await wait_until(resolved, what="late resolution to reach supervision")
    assert case["mediation_outcome"] == "settled"


async def test_statistics_and_csv(stack):
    intake, _, sup = stack
    body = old_case(0, 2)
    body["channel"] = "online"
    await intake.post("/api/v1/cases", json=body)

    async def counted():
        s = (await sup.get("/api/v1/stats", params={"region": "630100"})).json()
        return s if s["received"]["by_channel"].get("online") else None

    s = await wait_until(counted, what="statistics to count the online case")
    assert s["received"]["total"] >= 2 and s["workers"] >= 2 and s["mediation"]["target"] == 0.6
    assert s["on_time"]["general"]["resolved"] >= 1
    csv = await sup.get("/api/v1/stats", params={"format": "csv", "org_unit": "QH"})
    assert csv.headers["content-type"].startswith("text/csv") and "调解成功率" in csv.text
    bad = await sup.get("/api/v1/stats", params={"region": "63"})
    assert bad.status_code == 422
    forecast = (await sup.get("/api/v1/forecast")).json()
    assert forecast["horizon_working_days"] == 5 and any(u["org_unit"] == "QH-XN-CD" for u in forecast["units"])
    page = await sup.get("/supervision")
    assert page.status_code == 200 and "督办看板" in page.text


async def test_projection_rebuilt_from_the_topics_equals_the_live_one(stack, kafka_bootstrap, embedded_pg, make_db):
    """The rebuild folds the whole log in batches of thousands; the live consumer applied it a few events at a
    time (and ``one_by_one`` one event per batch; ``sharded`` in three processes at once, each its share of the
    partitions): the folded projection is the same."""
    _, _, sup = stack
    target = await make_db(embedded_pg.admin_dsn())
    done = await rebuild(kafka_bootstrap, target)
    assert done.yielded > 0 and done.finished is not None
    one_by_one = await make_db(embedded_pg.admin_dsn())
    await rebuild(kafka_bootstrap, one_by_one, batch=1)
    sharded = await make_db(embedded_pg.admin_dsn())  # three processes, each a third of the partitions
    progress = await rebuild(kafka_bootstrap, sharded, workers=3)
    assert (progress.yielded, progress.skipped) == (done.yielded, done.skipped)
    forked = await make_db(embedded_pg.admin_dsn())  # the command: its other two shares forked, not started
    command = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.cli", "supervision", "rebuild", "--dsn", forked, "--workers", "3",
        "--bootstrap", kafka_bootstrap, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    said, errors = await command.communicate()
    assert command.returncode == 0, errors.decode()[-3000:]
    assert f"projection rebuilt from {done.yielded} events" in said.decode()

    async def snapshot(dsn: str) -> dict:
        conn = await asyncpg.connect(dsn)
        try:
            cases = await conn.fetch("SELECT case_id, status, stage, org_unit, tier, due_at, channel, worker_count, "
                                     "mediation_outcome, on_time, legal_aid, satisfaction FROM cases ORDER BY case_id")
            timeline = await conn.fetch("SELECT event_id, case_id, type, summary FROM timeline ORDER BY event_id")
            deadlines = await conn.fetch("SELECT deadline_id, state, due_at FROM case_deadlines "
                                         "WHERE owner <> 'supervision' ORDER BY deadline_id")
            alerts = await conn.fetch("SELECT case_id, deadline_id, kind, state <> 'resolved' AS open FROM alerts "
                                      "ORDER BY deadline_id, kind")
            return {"cases": [dict(r) for r in cases], "timeline": [dict(r) for r in timeline],
                    "deadlines": [dict(r) for r in deadlines],
                    "alerts": [dict(r) for r in alerts]}
        finally:
            await conn.close()

    live = await snapshot(sup.runtime.dsn)
    rebuilt = await snapshot(target)
    assert await snapshot(one_by_one) == rebuilt
    assert await snapshot(sharded) == rebuilt
    assert await snapshot(forked) == rebuilt
    # the live projection only holds what its consumer group has seen since this module started; the rebuild
    # replays the whole topics: compare the live cases
    ids = {c["case_id"] for c in live["cases"]}
    assert ids and ids <= {c["case_id"] for c in rebuilt["cases"]}
    for key in ("cases", "timeline", "deadlines"):
        got = [r for r in rebuilt[key] if r.get("case_id", None) in ids or key == "deadlines"]
        want = live[key]
        if key == "deadlines":
            want_ids = {r["deadline_id"] for r in want}
            got = [r for r in rebuilt[key] if r["deadline_id"] in want_ids]
        assert got == want, key
    live_alerts = [a for a in live["alerts"] if a["case_id"] in ids]
    assert [a for a in rebuilt["alerts"] if a["case_id"] in ids and a["kind"] != "calendar"] == \
        [a for a in live_alerts if a["kind"] != "calendar"]


async def index_names(conn: asyncpg.Connection) -> set[str]:
    return {r["indexname"] for r in await conn.fetch("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")}


async def test_the_service_makes_again_the_indexes_an_unfinished_rebuild_set_aside(stack, kafka_bootstrap,
                                                                                 embedded_pg, make_db):
    """A rebuild abandoned half-way (not resumed) leaves its projection without the indexes pages read: the
    service, started on it, makes them again before it consumes."""
    dsn = await make_db(embedded_pg.admin_dsn())
    await rebuild(kafka_bootstrap, dsn)
    pool = await create_pool(dsn, size=3)
    try:
        indexes = await index_names(pool)
        async with pool.acquire() as conn, conn.transaction():
            assert {"cases_worker_ids", "inbox_processed_at"} <= set(await bulk.set_aside(conn))
            assert await bulk.set_aside(conn) == []  # set aside already: kept as the first attempt kept them
        assert "cases_worker_ids" not in await index_names(pool)
        await SUPERVISION.on_start(SimpleNamespace(pool=pool))
        assert await index_names(pool) == indexes
        assert await bulk.put_back(pool) == []  # nothing left to make
        async with pool.acquire() as conn, conn.transaction():  # set aside again; two replicas start at once
            dropped = await bulk.set_aside(conn)
        assert dropped
        made = await asyncio.gather(bulk.put_back(pool), bulk.put_back(pool))
        assert sorted(made) == [[], dropped]  # one makes them, the other finds them made
        assert await index_names(pool) == indexes
    finally:
        await pool.close()


async def test_a_rebuild_announces_again_nothing_the_live_service_had_announced(stack, kafka_bootstrap, embedded_pg,
                                                                              make_db):
    """Events the live consumer had applied (before its group's committed positions) published their alerts then:
    replayed, they write the same state and publish nothing; events it had not applied publish as it would have.
    The outbox (what was not yet published, what is kept for a broker restart) survives the rebuild."""
    log = await replay_bench.capture(kafka_bootstrap)
    copies = await replay_bench.fill(kafka_bootstrap, log, len(log), f"t{uuid.uuid4().hex[:8]}")  # one copy
    applied_all, never = f"t-applied-{uuid.uuid4().hex[:8]}", f"t-never-{uuid.uuid4().hex[:8]}"
    consumer = AIOKafkaConsumer(**kafka.connection(), bootstrap_servers=kafka_bootstrap, group_id=applied_all,
                                enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(t, p) for t in copies for p in range(TOPICS[t.rsplit(".", 1)[0]].partitions)]
        consumer.assign(tps)
        await consumer.commit({tp: 10**9 for tp in tps})  # the whole copy applied by this group
    finally:
        await consumer.stop()
    assert len(await kafka.committed_positions(kafka_bootstrap, applied_all, copies)) == len(tps)
    assert await kafka.committed_positions(kafka_bootstrap, never, copies) == {}

    class Interrupted(Exception):
        pass

    def halfway(progress) -> None:
        if progress.yielded >= len(log) // 2:
            raise Interrupted

    async def rebuilt(applied_by: str, parked: list[tuple] = (), workers: int = 1,
                      interrupted: bool = False) -> tuple[list, list, list]:
        dsn = await make_db(embedded_pg.admin_dsn())
        await rebuild(kafka_bootstrap, dsn, applied_by=never)  # a database in use, with an outbox
        conn = await asyncpg.connect(dsn)
        try:
            kept = await conn.fetchval("SELECT count(*) FROM outbox")
            if parked:
                await conn.executemany('INSERT INTO parked (event_id, event_type, topic, "partition", "offset", '
                                       "reason) VALUES ($1, $2, $3, $4, $5, 'waiting')", parked)
            indexes = await index_names(conn)
            if interrupted:  # stopped half-way (its parked events emptied with the projection), then resumed
                with pytest.raises(Interrupted):
                    await rebuild(kafka_bootstrap, dsn, topics=copies, applied_by=applied_by, workers=workers,
                                  batch=max(len(log) // 8, 1), report_every=0, on_progress=halfway)
                assert await conn.fetchval("SELECT count(*) FROM timeline") > 0
                # the indexes only pages read are set aside while the replay writes, kept to be made again
                missing = indexes - await index_names(conn)
                assert {"cases_parties_trgm", "cases_status", "timeline_case"} <= missing
                assert {"cases_pkey", "timeline_pkey", "alerts_one_open"}.isdisjoint(missing)
                assert {r["name"] for r in await conn.fetch("SELECT name FROM rebuild_set_aside_indexes")} == missing
            await rebuild(kafka_bootstrap, dsn, topics=copies, applied_by=applied_by, workers=workers,
                          resume=interrupted)
            assert await conn.fetchval("SELECT to_regclass('rebuild_kept_parked')") is None  # forgotten at the end
            assert await index_names(conn) == indexes  # every index made again
            assert await conn.fetchval("SELECT to_regclass('rebuild_set_aside_indexes')") is None
            types = [r["event_type"] for r in await conn.fetch("SELECT event_type FROM outbox ORDER BY id")]
            alerts = [tuple(r) for r in await conn.fetch(
                "SELECT case_id, deadline_id, kind, state, level FROM alerts ORDER BY case_id, deadline_id, kind")]
            return types[:kept], types[kept:], alerts
        finally:
            await conn.close()

    kept_quiet, quiet, alerts_quiet = await rebuilt(applied_all)
    kept_loud, loud, alerts_loud = await rebuilt(never)
    assert kept_quiet and kept_quiet == kept_loud  # the outbox the first rebuild filled is still there
    assert quiet == []
    assert "supervision.alert_raised" in loud
    assert alerts_quiet == alerts_loud and any(a[2] == "overdue" for a in alerts_quiet)
    # events the live service held parked had been applied by nobody: they publish, in every share
    waiting = []
    for topic in copies:
        for r in await kafka.read_all(kafka_bootstrap, topic):
            event = decode_kafka(r.value, r.headers)
            waiting.append((event.id, event.type, topic, r.partition, r.offset))
    _, parked_loud, alerts_parked = await rebuilt(applied_all, parked=waiting, workers=2)
    assert sorted(parked_loud) == sorted(loud) and alerts_parked == alerts_loud
    # and in a rebuild resumed after an interruption: what the first attempt had not applied still publishes
    _, resumed_loud, alerts_resumed = await rebuilt(applied_all, parked=waiting, interrupted=True)
    assert sorted(resumed_loud) == sorted(loud) and alerts_resumed == alerts_loud


async def test_a_rebuild_keeps_what_supervisors_did_on_the_board(stack, kafka_bootstrap, embedded_pg, make_db):
    """Acknowledgements, 报上级督办 and the escalation clocks are not in the topics: a rebuild over a board that
    supervisors worked on puts them back on the alerts it raises again."""
    intake, _, sup = stack
    ids = [(await intake.post("/api/v1/cases", json=old_case(12, n))).json()["case_id"] for n in (31, 32)]

    async def both_overdue():
        shown = (await sup.get("/api/v1/alerts", params={"state": "overdue"})).json()["alerts"]
        mine = {a["case_id"] for a in shown if a["case_id"] in ids}
        return mine if mine == set(ids) else None

    await wait_until(both_overdue, timeout=30, what="both cases overdue on the board")
    dsn = await make_db(embedded_pg.admin_dsn())
    await rebuild(kafka_bootstrap, dsn)  # a board no clock has run on yet: each alert open at its own unit
    pool = await create_pool(dsn, size=2)
    try:
        processor = EventProcessor(pool, SUPERVISION.name, SUPERVISION.topic, SUPERVISION.handlers,
                                   calendar=await calendar_store.load(pool))

        async def alert_of(case_id: str) -> dict:
            return dict(await pool.fetchrow(
                "SELECT * FROM alerts WHERE case_id = $1 AND kind = 'overdue' AND state <> 'resolved'", case_id))

        acked, escalated = [await alert_of(c) for c in ids]
        async with pool.acquire() as conn, conn.transaction():
            ctx = processor.context(conn)
            await alerts.escalate_now(ctx, alert_id=acked["alert_id"], actor="市总督办室", note="报省总",
                                      hierarchy=HIERARCHY)
            await alerts.acknowledge(ctx, alert_id=acked["alert_id"], actor="省总督办室", note="已电话督促")
            await alerts.escalate_now(ctx, alert_id=escalated["alert_id"], actor="市总督办室", note="报省总",
                                      hierarchy=HIERARCHY)
        before = {c: await alert_of(c) for c in ids}
        clock_due = await pool.fetchval("SELECT due_at FROM deadlines WHERE kind = $1 AND state = 'open'",
                                        f"escalate:{escalated['alert_id']}:1")
        assert clock_due is not None and before[ids[0]]["state"] == "acknowledged" and before[ids[1]]["level"] == 1

        await rebuild(kafka_bootstrap, dsn)  # again, over the board supervisors worked on
        after = {c: await alert_of(c) for c in ids}
        for c in ids:
            for column in ("state", "level", "escalated_to", "acknowledged_by", "ack_note", "acknowledged_at"):
                assert after[c][column] == before[c][column], (c, column)
        running = {r["kind"]: r["due_at"] for r in await pool.fetch(
            "SELECT kind, due_at FROM deadlines WHERE owner = 'supervision' AND kind LIKE 'escalate:%' "
            "AND state IN ('open', 'paused') AND case_id = ANY($1)", ids)}
        assert running == {f"escalate:{after[ids[1]]['alert_id']}:1": clock_due}  # the acknowledged one stopped
        assert not await pool.fetchval("SELECT to_regclass('rebuild_kept_alerts') IS NOT NULL")
    finally:
        await pool.close()


async def test_a_rebuild_held_by_a_lock_says_so_and_goes_on_once_it_is_released(stack, kafka_bootstrap, embedded_pg,
                                                                               make_db, caplog):
    """A share waiting on a lock (the supervision service left running against the database, say) writes
    nothing and reports nothing: the first process says the rebuild has stalled, with each share's counts, and the
    rebuild finishes once the lock is gone."""
    target = await make_db(embedded_pg.admin_dsn())
    done = await rebuild(kafka_bootstrap, target)
    holder = await asyncpg.connect(target)
    try:
        held = holder.transaction()
        await held.start()
        await holder.execute("LOCK TABLE inbox IN ACCESS EXCLUSIVE MODE")  # every batch reads the inbox first
        caplog.set_level("WARNING", logger="services.supervision.rebuild")
        running = asyncio.ensure_future(rebuild(kafka_bootstrap, target, resume=True, workers=2, stalled_after=1))

        async def said() -> list:  # once the other share has started and reported too
            return [r for r in caplog.records if "made no progress" in r.getMessage() and "1/2" in r.shares]

        stalled = (await wait_until(said, timeout=30, what="the rebuild to say it has stalled"))[0]
        assert not running.done() and set(stalled.shares) == {"0/2", "1/2"}
        await held.rollback()
        resumed = await asyncio.wait_for(running, 60)
        assert resumed.yielded == done.yielded
    finally:
        await holder.close()
