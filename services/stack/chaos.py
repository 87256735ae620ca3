"""``laborcase chaos``: drive cases through the whole lifecycle while killing services (SIGKILL), restarting
PostgreSQL and freezing a service long enough to lose its broker session, then check the invariants.

Loopback only, bounded in cases and time. What it checks at the end, from the databases:
every case present once and closed, one settlement and one follow-up call per case (no effect twice),
every deadline signal written once, the supervision projection agreeing with the services.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from events.catalog import SERVICES
from services.backbone.settings import Settings
from services.stack.bench import Driver
from services.stack.processes import free_port
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


async def chaos(stack: Stack, report: Report, *, until: asyncio.Event, kills: int, pg_restarts: int,
                pause_seconds: float) -> None:
    rng = random.Random(7)
    plan = ["kill"] * kills + ["pg"] * pg_restarts + (["pause"] if pause_seconds else [])
    rng.shuffle(plan)
    await asyncio.sleep(2)
    for action in plan:
        await asyncio.sleep(rng.uniform(1, 3))
        if until.is_set():
            return
        name = rng.choice(SERVICES)
        if action == "kill":
            stack.children[name].send_signal(signal.SIGKILL)
            report.faults.append(f"SIGKILL {name}")
            await asyncio.sleep(rng.uniform(0.5, 2))
            stack.start_process(name)
        elif action == "pg" and stack.postgres is not None:
            report.faults.append("restart PostgreSQL")
            await asyncio.to_thread(stack.postgres.stop, "fast")
            await asyncio.sleep(2)
            await asyncio.to_thread(stack.postgres.start)
        elif action == "pause":
            report.faults.append(f"freeze {name} for {pause_seconds:.0f} s (loses its broker session)")
            os.kill(stack.children[name].pid, signal.SIGSTOP)
            await asyncio.sleep(pause_seconds)
            os.kill(stack.children[name].pid, signal.SIGCONT)


async def invariants(dsns: dict[str, str], case_ids: set[str], report: Report) -> None:
    async def q(service: str, sql: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(dsns[service])
        try:
            return await conn.fetch(sql, *args)
        finally:
            await conn.close()

    ids = list(case_ids)
    rows = await q("intake", "SELECT case_id, count(*) OVER (PARTITION BY employer_uscc) AS n FROM cases "
                             "WHERE case_id = ANY($1)", ids)
    if len(rows) != len(ids) or any(r["n"] != 1 for r in rows):
        report.violations.append(f"intake holds {len(rows)} of {len(ids)} cases or duplicates them")
    settled = await q("mediation", "SELECT convert_from(key, 'UTF8') AS case_id, count(*) AS n FROM outbox "
                                   "WHERE event_type = 'mediation.settled' AND convert_from(key, 'UTF8') = ANY($1) "
                                   "GROUP BY 1", ids)
    if len(settled) != len(ids) or any(r["n"] != 1 for r in settled):
        report.violations.append(f"settlements: {len(settled)} cases settled, duplicates "
                                 f"{[r['case_id'] for r in settled if r['n'] != 1]}")
    calls = await q("followup", "SELECT case_id, count(*) FILTER (WHERE kind = 'first' AND state = 'done') AS n, "
                                "bool_and(state <> 'scheduled') AS all_done FROM followups WHERE case_id = ANY($1) "
                                "GROUP BY case_id", ids)
    if len(calls) != len(ids) or any(r["n"] != 1 for r in calls):
        report.violations.append("follow-up calls missing or recorded twice")
    closed = await q("supervision", "SELECT count(*) AS n FROM cases WHERE case_id = ANY($1) AND status = 'closed'", ids)
    if closed[0]["n"] != len(ids):
        report.violations.append(f"supervision shows {closed[0]['n']} of {len(ids)} cases closed")
    timeline = await q("supervision", "SELECT case_id, count(*) AS n FROM timeline WHERE case_id = ANY($1) "
                                      "AND type = 'mediation.case_resolved' GROUP BY case_id", ids)
    if len(timeline) != len(ids) or any(r["n"] != 1 for r in timeline):
        report.violations.append("timeline: a resolution missing or doubled")
    for service in SERVICES:
        fired = await q(service, "SELECT count(*) AS n FROM (SELECT 1 FROM outbox WHERE event_type IN "
                                 "('deadline.warning', 'deadline.breached', 'deadline.met') GROUP BY event_type, "
                                 "convert_from(value, 'UTF8')::jsonb -> 'data' ->> 'deadline_id' HAVING count(*) > 1) d")
        if fired[0]["n"]:
            report.violations.append(f"{service}: {fired[0]['n']} deadline signal(s) written twice")
    report.figures["cases checked"] = len(ids)


async def stuck(dsns: dict[str, str], ids: set[str]) -> str:
    """Where the cases that did not finish are, service by service (for the report)."""
    out = []
    for service, sql in (("mediation", "SELECT case_id, state FROM mediation_cases WHERE case_id = ANY($1)"),
                         ("followup", "SELECT case_id, state FROM followup_cases WHERE case_id = ANY($1)")):
        conn = await asyncpg.connect(dsns[service])
        try:
            rows = {r["case_id"]: r["state"] for r in await conn.fetch(sql, list(ids))}
            parked = await conn.fetchval("SELECT count(*) FROM parked")
            backlog = await conn.fetchval("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        finally:
            await conn.close()
        missing = [c for c in ids if c not in rows]
        out.append(f"{service}: {len(missing)} missing {missing[:3]}, states {sorted(set(rows.values()))}, "
                   f"parked {parked}, outbox backlog {backlog}")
    return "; ".join(out)


async def run(*, cases: int, kills: int, pg_restarts: int, pause_seconds: float, budget_seconds: float,
              rate: float = 2.0) -> Report:
    report = Report()
    home = Path(tempfile.mkdtemp(prefix="laborcase-chaos-"))
    ports = {s: free_port() for s in SERVICES}
    console_port = free_port()
    env = dict(os.environ) | {"LABORCASE_HOME": str(home), "LABORCASE_CONSOLE_PORT": str(console_port),
                              "LABORCASE_KAFKA_SESSION_TIMEOUT_MS": "6000",
                              **{f"LABORCASE_{s.upper()}_PORT": str(p) for s, p in ports.items()}}
    settings = Settings(home=home, console_port=console_port, **{f"{s}_port": p for s, p in ports.items()})  # type: ignore[arg-type]
    stack = Stack(settings, env=env)
    await asyncio.to_thread(stack.start_infrastructure)
    started = time.monotonic()
    try:
        stack.start_services()
        await asyncio.to_thread(stack.wait_ready)
        driver = ResilientDriver(f"http://127.0.0.1:{console_port}", home)
        await driver.login()
        stop = asyncio.Event()
        faults = asyncio.ensure_future(chaos(stack, report, until=stop, kills=kills, pg_restarts=pg_restarts,
                                             pause_seconds=pause_seconds))
        sem = asyncio.Semaphore(8)

        async def one(n: int) -> str:
            await asyncio.sleep(min(n, cases) / rate)  # paced, so that the faults land while cases are in flight
            async with sem:
                case_id = await driver.retry(driver.new_case, 900_000 + n)
                await driver.retry(driver.mediate, case_id)
                return case_id

        ids = set(await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(cases))), budget_seconds))
        n = cases
        while not faults.done():  # keep cases flowing until every planned fault has struck
            ids |= set(await asyncio.wait_for(asyncio.gather(*(one(n + i) for i in range(4))), budget_seconds))
            n += 4
        dsns = {s: stack.env[f"LABORCASE_{s.upper()}_DSN"] for s in SERVICES}
        try:
            await asyncio.wait_for(driver.retry(driver.follow_up, ids), budget_seconds)
        except TimeoutError:
            where = await stuck(dsns, ids)
            print(f"follow-up never scheduled for some cases: {where}; faults so far: {report.faults}", flush=True)
            raise
        deadline = time.monotonic() + budget_seconds
        while await driver.retry(driver.closed, ids) < len(ids) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        stop.set()
        await faults
        await asyncio.sleep(3)  # let every relay drain
        await invariants(dsns, ids, report)
        await driver.http.aclose()
    finally:
        report.figures["elapsed s"] = round(time.monotonic() - started, 1)
        await asyncio.to_thread(stack.stop)
    return report


def main(*, cases: int, kills: int, pg_restarts: int, pause_seconds: float) -> int:
    try:
        report = asyncio.run(run(cases=cases, kills=kills, pg_restarts=pg_restarts, pause_seconds=pause_seconds,
                                 budget_seconds=max(120, cases * 2)))
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
