"""``laborcase chaos``: drive cases through the whole lifecycle while killing services (SIGKILL), restarting
PostgreSQL and freezing a service long enough to lose its broker session, then check the invariants.

Loopback only, bounded in cases and time. What it checks at the end, from the databases:
every case present once and closed, one settlement and one follow-up call per case (no effect twice),
every deadline signal written once, the supervision projection agreeing with the services, every worker told
each step by SMS once (none twice, none in quiet hours).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from events.catalog import SERVICES
from services.backbone.settings import Settings
from services.stack import hostile, repository
from services.stack.bench import SETTLED_CNY, Driver, call_as_settled, closed_count
from services.stack.kafka_proxy import KafkaProxy, open_proxies
from services.stack.supervisor import Stack

RETRYABLE = (httpx.TransportError, httpx.HTTPStatusError)


@dataclass
class Report:
    faults: list[str] = field(default_factory=list)
    violations: list[str] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)


class ResilientDriver(Driver):
    """The clerk, the mediator and the caller keep trying while services come and go (as people would)."""

    async def retry(self, fn, *args):  # type: ignore[no-untyped-def]
        for attempt in range(200):
            try:
                return await fn(*args)
            except RETRYABLE as exc:
                status = getattr(getattr(exc, "response", None), "status_code", 0)
                if status == 409:  # already done before the answer was lost
                    return None
                if status in (401, 403, 422):
                    raise
                await asyncio.sleep(min(0.2 * (attempt + 1), 2))
        raise RuntimeError(f"gave up on {fn.__name__}{args}")


@dataclass
class Plan:
    kills: int
    pg_restarts: int
    freeze_seconds: float
    cut_seconds: float
    cuts: int


async def chaos(stack: Stack, proxies: dict[str, KafkaProxy], report: Report, plan: Plan, *, until: asyncio.Event,
                spread_seconds: float) -> None:
    """Strike every planned fault at a random moment spread over ``spread_seconds`` (one at a time)."""
    rng = random.Random(7)
    actions = (["kill"] * plan.kills + ["pg"] * plan.pg_restarts + (["freeze"] if plan.freeze_seconds else [])
               + ["cut"] * plan.cuts)
    rng.shuffle(actions)
    t0 = time.monotonic()
    moments = sorted(rng.uniform(0.05, 0.85) * spread_seconds for _ in actions)
    cuts = 0
    for moment, action in zip(moments, actions, strict=True):
        await asyncio.sleep(max(0.0, t0 + moment - time.monotonic()))
        if until.is_set():
            return
        name = rng.choice(SERVICES)
        at = f"t={time.monotonic() - t0:.0f}s"
        if action == "kill":
            stack.children[name].send_signal(signal.SIGKILL)
            report.faults.append(f"{at} SIGKILL {name}")
            await asyncio.sleep(rng.uniform(0.5, 2))
            stack.start_process(name)
        elif action == "pg" and stack.postgres is not None:
            report.faults.append(f"{at} restart PostgreSQL")
            await asyncio.to_thread(stack.postgres.stop, "fast")
            await asyncio.sleep(2)
            await asyncio.to_thread(stack.postgres.start)
        elif action == "freeze":
            report.faults.append(f"{at} freeze {name} for {plan.freeze_seconds:.0f} s (SIGSTOP: loses its broker session)")
            os.kill(stack.children[name].pid, signal.SIGSTOP)
            await asyncio.sleep(plan.freeze_seconds)
            os.kill(stack.children[name].pid, signal.SIGCONT)
        elif action == "cut":
            mode, cuts = ("drop" if cuts % 2 == 0 else "stall"), cuts + 1
            report.faults.append(f"{at} cut {name} off the broker for {plan.cut_seconds:.0f} s (proxy: {mode})")
            await proxies[name].cut(plan.cut_seconds, mode=mode)


@dataclass
class Injected:
    """Partner records written straight to the partner topics during the run: hostile and valid ones."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex)
    hostile: list[tuple[str, int, int, str]] = field(default_factory=list)  # topic, partition, offset, kind
    valid: list[str] = field(default_factory=list)  # partner case numbers


async def inject_partner_records(bootstrap: str, injected: Injected, *, rounds: int, spread_seconds: float,
                                 until: asyncio.Event, partners: dict[str, dict[str, str]]) -> None:
    """Every so often, a hostile record and a valid referral (signed by its court or bureau) on each partner topic,
    while cases flow."""
    from aiokafka import AIOKafkaProducer

    from services.security.partners import record_headers

    kinds = list(hostile.records(injected.tag, max_event_bytes=Settings().max_event_bytes))
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        for n in range(rounds):
            await asyncio.sleep(spread_seconds / max(1, rounds))
            if until.is_set():
                return
            for topic in ("court.events", "bureau.events"):
                bad = kinds[(n + len(topic)) % len(kinds)]
                meta = await producer.send_and_wait(topic, bad.value, key=f"{injected.tag}-{n}".encode(),
                                                    headers=list(bad.headers))
                injected.hostile.append((topic, meta.partition, meta.offset, bad.kind))
                ref, value, headers = hostile.valid_referral(topic, n, tag=injected.tag)
                signer = partners[topic.split(".")[0]]
                await producer.send_and_wait(topic, value, key=ref.encode(), headers=headers + record_headers(
                    signer["key_id"], signer["secret"], value))
                injected.valid.append(ref)
    finally:
        await producer.stop()


async def partner_invariants(dsns: dict[str, str], bootstrap: str, injected: Injected, report: Report) -> None:
    """Every hostile record dead-lettered by every service reading its topic; every valid referral a case."""
    from services.backbone import dlq

    refused: dict[tuple[str, int, int], set[str]] = {}
    waited = time.monotonic() + 60
    while True:
        refused.clear()
        for letter in await dlq.list_dead_letters(bootstrap, ["court.events.dlq", "bureau.events.dlq"]):
            if letter.header(hostile.TAG_HEADER) == injected.tag:
                where = (letter.original_topic, int(letter.header("x-dlq-partition")), int(letter.header("x-dlq-offset")))
                refused.setdefault(where, set()).add(letter.header("x-dlq-service"))
        missing = [(t, p, o, k) for t, p, o, k in injected.hostile
                   if not refused.get((t, p, o), set()) >= hostile.readers(t)]
        conn = await asyncpg.connect(dsns["intake"])
        try:
            known = {r["ref"] for r in await conn.fetch(repository.KNOWN_REFS, injected.valid)}
        finally:
            await conn.close()
        if (not missing and len(known) == len(injected.valid)) or time.monotonic() > waited:
            break
        await asyncio.sleep(2)
    report.figures["hostile partner records (dead-lettered by every reader)"] = (
        f"{len(injected.hostile) - len(missing)}/{len(injected.hostile)}; valid referrals between them became "
        f"cases: {len(known)}/{len(injected.valid)}")
    if missing:
        report.violations.append(f"hostile records not dead-lettered by every reader: {missing[:3]}")
    if len(known) != len(injected.valid):
        report.violations.append(f"valid partner referrals lost: {sorted(set(injected.valid) - known)[:3]}")


async def invariants(dsns: dict[str, str], bootstrap: str, case_ids: set[str], report: Report) -> None:
    async def q(service: str, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsns[service])
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    ids = list(case_ids)
    rows = await q("intake", repository.CASES_PER_EMPLOYER, ids)
    if len(rows) != len(ids) or any(r["n"] != 1 for r in rows):
        report.violations.append(f"intake holds {len(rows)} of {len(ids)} cases or duplicates them")
    settled = await q("mediation", repository.SETTLEMENTS_PER_CASE, ids)
    if len(settled) != len(ids) or any(r["n"] != 1 for r in settled):
        report.violations.append(f"settlements: {len(settled)} cases settled, duplicates "
                                 f"{[r['case_id'] for r in settled if r['n'] != 1][:5]}")
    calls = await q("followup", repository.FIRST_CALLS_PER_CASE, ids)
    if len(calls) != len(ids) or any(r["n"] != 1 for r in calls):
        report.violations.append("follow-up calls missing or recorded twice")
    closed = await q("supervision", repository.CLOSED_AND_SETTLED, ids)
    if closed[0]["n"] != len(ids):
        report.violations.append(f"supervision shows {closed[0]['n']} of {len(ids)} cases closed")
    money = float(closed[0]["money"])
    report.figures["money settled (supervision total, CNY)"] = f"{money:,.0f} (expected {SETTLED_CNY * len(ids):,.0f})"
    if money != SETTLED_CNY * len(ids):
        report.violations.append(f"money settled {money} != {SETTLED_CNY * len(ids)}: an effect lost or applied twice")
    timeline = await q("supervision", repository.RESOLUTIONS_PER_CASE, ids)
    if len(timeline) != len(ids) or any(r["n"] != 1 for r in timeline):
        report.violations.append("timeline: a resolution missing or doubled")
    signals = 0
    for service in SERVICES:
        fired = await q(service, repository.DEADLINE_SIGNALS_TWICE)
        if fired[0]["n"]:
            report.violations.append(f"{service}: {fired[0]['n']} deadline signal(s) written twice")
        left = await q(service, repository.DEADLINES_RUNNING, ids)
        if left[0]["n"]:
            report.violations.append(f"{service}: {left[0]['n']} deadline(s) of closed cases still running")
        signals += (await q(service, repository.DEADLINE_SIGNALS, ids))[0]["n"]
    report.figures["deadline signals written (each once)"] = signals
    await topic_invariants(bootstrap, case_ids, report)
    await notification_invariants(dsns, case_ids, report)
    report.figures["cases checked"] = len(ids)


#: what the worker of every case of the run is told (one phone each): the query code is the worker's door's
#: (published by intake with it), and the run schedules no session
TOLD_PER_CASE = ("dispatched", "mediator_assigned", "settled", "followup_due", "closed")


async def notification_invariants(dsns: dict[str, str], case_ids: set[str], report: Report, *,
                                  wait_seconds: float = 60) -> None:
    """Every expected message there once and sent once (those due), none recorded twice, none in quiet hours."""
    conn = await asyncpg.connect(dsns["notification"])
    try:
        ids, deadline = list(case_ids), time.monotonic() + wait_seconds
        while True:
            rows = await conn.fetch(repository.NOTIFICATION_MESSAGES, ids)
            now = datetime.now(UTC)
            seen = {(r["case_id"], r["kind"]): r for r in rows}
            missing = [(c, k) for c in ids for k in TOLD_PER_CASE if (c, k) not in seen]
            unsent = [k for k, r in seen.items() if r["due"] <= now and not r["sent"]]
            if (not missing and not unsent) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        doubled = [k for k, r in seen.items() if r["n"] != 1]
        twice = (await conn.fetchrow(repository.NOTIFICATION_RECORDED_TWICE))["n"]
        quiet = (await conn.fetchrow(repository.NOTIFICATION_IN_QUIET_HOURS))["n"]
        held = sum(1 for r in rows if r["due"] > now)
        latencies = sorted(r["s"] for r in await conn.fetch(repository.NOTIFICATION_LATENCIES, ids))
    finally:
        await conn.close()
    report.figures["SMS to workers (recording gateway)"] = (
        f"{len(rows)} messages for {len(ids)} cases, {len(rows) - held} sent, {held} held for the morning; "
        f"event → sent p50 {_pct(latencies, 50):.2f} s, p99 {_pct(latencies, 99):.2f} s (faults included)")
    if missing:
        report.violations.append(f"notification: {len(missing)} expected message(s) missing, e.g. {missing[:3]}")
    if unsent:
        report.violations.append(f"notification: {len(unsent)} message(s) due but not sent, e.g. {unsent[:3]}")
    if doubled:
        report.violations.append(f"notification: {len(doubled)} step(s) told twice, e.g. {doubled[:3]}")
    if twice:
        report.violations.append(f"notification: {twice} message(s) sent twice by the gateway")
    if quiet:
        report.violations.append(f"notification: {quiet} message(s) sent in quiet hours")


def _pct(values: list[float], p: float) -> float:
    return values[min(len(values) - 1, round(p / 100 * (len(values) - 1)))] if values else float("nan")


#: Events every case of the run must have on the topics, each exactly once (the same event id may arrive
#: more than once — at-least-once delivery — but never two different events of these types).
ONCE_PER_CASE = ("intake.case_received", "intake.case_dispatched", "mediation.case_opened", "mediation.settled",
                 "mediation.case_resolved", "followup.completed", "followup.case_closed")


async def topic_invariants(bootstrap: str, case_ids: set[str], report: Report) -> None:
    topics = ["intake.events", "mediation.events", "followup.events"]
    seen: dict[tuple[str, str], set[str]] = {}
    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=f"chaos-check-{uuid.uuid4().hex[:8]}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    records = duplicates = 0
    try:
        idle = 0
        while idle < 3:
            batch = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if not batch:
                idle += 1
                continue
            idle = 0
            for part in batch.values():
                for r in part:
                    records += 1
                    event = json.loads(r.value)
                    case_id = (r.key or b"").decode()
                    if case_id in case_ids and event.get("type") in ONCE_PER_CASE:
                        ids = seen.setdefault((case_id, event["type"]), set())
                        duplicates += event["id"] in ids
                        ids.add(event["id"])
    finally:
        await consumer.stop()
    missing = [(c, t) for c in case_ids for t in ONCE_PER_CASE if (c, t) not in seen]
    doubled = [k for k, v in seen.items() if len(v) > 1]
    report.figures["records read back from the topics"] = f"{records:,} ({duplicates:,} redeliveries of the same event)"
    if missing:
        report.violations.append(f"topics: {len(missing)} expected event(s) missing, e.g. {missing[:3]}")
    if doubled:
        report.violations.append(f"topics: {len(doubled)} effect(s) published as two different events, e.g. {doubled[:3]}")


async def stuck(dsns: dict[str, str], ids: set[str]) -> str:
    """Where the cases that did not finish are, service by service (for the report)."""
    out = []
    for service, sql in (("mediation", repository.MEDIATION_STATES), ("followup", repository.FOLLOWUP_STATES)):
        conn = await asyncpg.connect(dsns[service])
        try:
            rows = {r["case_id"]: r["state"] for r in await conn.fetch(sql, list(ids))}
            parked = await conn.fetchval(repository.PARKED_COUNT)
            backlog = await conn.fetchval(repository.OUTBOX_BACKLOG)
        finally:
            await conn.close()
        missing = [c for c in ids if c not in rows]
        out.append(f"{service}: {len(missing)} missing {missing[:3]}, states {sorted(set(rows.values()))}, "
                   f"parked {parked}, outbox backlog {backlog}")
    return "; ".join(out)


async def run(*, cases: int, plan: Plan, budget_seconds: float, rate: float = 2.0, hostile_rounds: int = 0,
              rebuild_check: bool = True) -> Report:
    report = Report()
    stack = Stack.isolated("laborcase-chaos-", LABORCASE_KAFKA_SESSION_TIMEOUT_MS="6000")
    home, console_port = stack.home, stack.settings.console_port
    await asyncio.to_thread(stack.start_infrastructure)
    bootstrap = stack.env["KAFKA_BOOTSTRAP_SERVERS"]
    # every service reaches the broker through its own proxy, which the harness can cut
    proxies = await open_proxies(bootstrap, list(SERVICES))
    stack.service_env = {s: {"KAFKA_BOOTSTRAP_SERVERS": p.bootstrap} for s, p in proxies.items()}
    started = time.monotonic()
    try:
        stack.start_services()
        await asyncio.to_thread(stack.wait_ready)
        driver = ResilientDriver(f"http://127.0.0.1:{console_port}", home)
        await driver.login()
        dsns = {s: stack.env[f"LABORCASE_{s.upper()}_DSN"] for s in SERVICES}
        stop = asyncio.Event()
        faults = asyncio.ensure_future(chaos(stack, proxies, report, plan, until=stop, spread_seconds=cases / rate))
        injected = Injected()
        partner_keys = {p["kind"]: p for p in json.loads((home / "accounts.json").read_text())["partners"]}
        partner_records = asyncio.ensure_future(inject_partner_records(
            bootstrap, injected, rounds=hostile_rounds, spread_seconds=cases / rate, until=stop, partners=partner_keys))
        sem = asyncio.Semaphore(16)
        mediated: asyncio.Queue[str] = asyncio.Queue()

        async def one(n: int, paced: bool = True) -> str:
            if paced:
                await asyncio.sleep(n / rate)  # paced, so that the faults land while cases are in flight
            async with sem:
                case_id = await driver.retry(driver.new_case, 900_000 + n)
                await driver.retry(driver.mediate, case_id)
            mediated.put_nowait(case_id)
            return case_id

        async def follow_up(batch: set[str]) -> None:
            await asyncio.wait_for(driver.retry(driver.follow_up, batch), budget_seconds)

        calls = asyncio.ensure_future(call_as_settled(follow_up, mediated))  # while cases keep arriving
        ids = set(await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(cases))), budget_seconds))
        n = cases
        while not faults.done():  # keep cases flowing until every planned fault has struck
            ids |= set(await asyncio.wait_for(asyncio.gather(*(one(n + i, paced=False) for i in range(4))),
                                              budget_seconds))
            n += 4
        report.figures["cases registered and mediated"] = f"{len(ids)} in {time.monotonic() - started:.0f} s"
        deadline = time.monotonic() + budget_seconds
        while (done := await closed_count(dsns, ids)) < len(ids) and time.monotonic() < deadline:
            if calls.done():
                calls.result()  # a failure of the caller surfaces here
            await asyncio.sleep(1)
        calls.cancel()
        if done < len(ids):
            print(f"not every case closed ({done}/{len(ids)}): {await stuck(dsns, ids)}; faults: {report.faults}",
                  flush=True)
            raise TimeoutError
        await partner_records  # written within the paced part of the run
        stop.set()
        await faults
        await asyncio.sleep(3)  # let every relay drain
        report.figures["lifecycle complete"] = f"{len(ids)} cases closed after {time.monotonic() - started:.0f} s"
        await invariants(dsns, bootstrap, ids, report)
        if hostile_rounds:
            await partner_invariants(dsns, bootstrap, injected, report)
        report.figures["proxy connections (opened / aborted / refused)"] = ", ".join(
            f"{s} {p.stats.connections}/{p.stats.aborted}/{p.stats.refused}" for s, p in proxies.items())
        await driver.http.aclose()
        if rebuild_check and stack.postgres is not None:
            await asyncio.to_thread(stack.stop_services)
            await rebuilt_equals_live(stack.env, stack.postgres.admin_dsn(), dsns["supervision"], report)
    finally:
        report.figures["elapsed s"] = round(time.monotonic() - started, 1)
        await asyncio.to_thread(stack.stop)
        for proxy in proxies.values():
            await proxy.stop()
    return report


async def rebuilt_equals_live(env: dict[str, str], admin: str, live: str, report: Report) -> None:
    """Supervision's projection rebuilt from the topics into an empty database by ``laborcase supervision
    rebuild`` — run as an operator runs it, with the stack's own home (the partners' keys that check their
    records) — and compared table by table with the live one that the run's kills, restarts and cuts built
    (services/stack/rebuild_check.py)."""
    from services.backbone.db import ensure_database
    from services.stack import rebuild_check, replay_bench
    from services.supervision.service import SPEC

    await ensure_database(admin, "chaos_rebuilt")
    rebuilt = admin.rsplit("/", 1)[0] + "/chaos_rebuilt"
    # in two processes, each its share of the partitions: the sharded replay is the one compared
    replayed = await replay_bench.rebuild_apart(env, rebuilt, list(SPEC.consumes), workers=2)
    compared = await rebuild_check.compare(live, rebuilt)
    report.figures["supervision rebuilt from the topics"] = (
        f"{replayed.events:,} events in {replayed.seconds:.1f} s; equal to the live projection: "
        f"{', '.join(compared.equal) or 'no table'}")
    for table, why in compared.different.items():
        report.violations.append(f"rebuild: {table} differs from the live projection: {why}")


def main(*, cases: int, kills: int, pg_restarts: int, pause_seconds: float, cut_seconds: float = 30, cuts: int = 1,
         rate: float = 2.0, hostile_rounds: int = 0) -> int:
    plan = Plan(kills=kills, pg_restarts=pg_restarts, freeze_seconds=pause_seconds, cut_seconds=cut_seconds, cuts=cuts)
    print(f"laborcase chaos: {cases} cases at {rate:g}/s; faults: {kills} SIGKILL, {pg_restarts} PostgreSQL restart(s), "
          f"{cuts} broker cut(s) of {cut_seconds:g} s, freeze {pause_seconds:g} s, "
          f"{hostile_rounds} round(s) of hostile partner records", flush=True)
    try:
        report = asyncio.run(run(cases=cases, plan=plan, rate=rate, hostile_rounds=hostile_rounds,
                                 budget_seconds=max(180.0, cases / rate * 3)))
    except TimeoutError:
        print("chaos run did not finish in time")
        return 1
    print("faults injected:")
    for fault in report.faults:
        print(f"  - {fault}")
    for name, value in report.figures.items():
        print(f"{name}: {value}")
    if report.violations:
        print("INVARIANTS VIOLATED:")
        for v in report.violations:
            print(f"  ! {v}")
        return 1
    print("all invariants hold: every case present once and closed, no effect applied twice, "
          "every deadline signal written once")
    return 0
