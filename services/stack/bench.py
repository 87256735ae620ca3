"""``laborcase bench``: the docs/domain/targets.md figures, measured in one run against the same broker and database.

1. the floor: the same number of events through the same broker, one database transaction each, no logic;
2. the full lifecycle with every service running (intake → dispatch → mediation settled → follow-up → closed);
3. hop latency at a paced 50 cases/s, from an event's commit in one service to its effect in the next;
4. alert latency: deadlines due in a few seconds → overdue alerts on the supervisors' board;
5. deadline-scan time with 1 thousand and 1 million open deadlines;
6. peak RSS of every service process.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import statistics
import threading
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import psutil
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from events.catalog import SERVICES
from services.backbone import kafka, profiling
from services.backbone.db import BACKBONE_MIGRATIONS, create_pool, ensure_database, migrate
from services.backbone.deadline_store import DeadlineStore, fire_due
from services.backbone.outbox import Record, enqueue
from services.backbone.replay import default_shards
from services.backbone.settings import Settings
from services.console.routing import owner_of
from services.intake.domain.identifiers import make_id_number, make_uscc
from services.stack import loadgen, replay_bench, repository, statements
from services.stack.scale import grow_all
from services.stack.supervisor import Stack


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@dataclass
class Figures:
    """Numbers of one run, printed as they come; ``summary`` gives the median and range over several runs."""

    values: dict[str, float] = field(default_factory=dict)
    formats: dict[str, str] = field(default_factory=dict)

    def add(self, name: str, value: float, fmt: str = "{:,.1f}", note: str = "") -> None:
        self.values[name], self.formats[name] = value, fmt
        print(f"  {name:<58} {fmt.format(value)}{'  ' + note if note else ''}", flush=True)


def summary(runs: list[Figures]) -> list[str]:
    lines = []
    for name, fmt in runs[0].formats.items():
        values = [r.values[name] for r in runs if name in r.values]
        med = statistics.median(values)
        spread = f"  (runs: {', '.join(fmt.format(v) for v in values)})" if len(values) > 1 else ""
        lines.append(f"  {name:<58} {fmt.format(med)}{spread}")
    return lines


class PeakRss:
    """Samples the resident memory of every service process (and its children) while the run goes on."""

    def __init__(self, stack: Stack):
        self.stack, self.peak = stack, {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.wait(0.25):
            for name, proc in list(self.stack.children.items()):
                try:
                    rss = psutil.Process(proc.pid).memory_info().rss / 2**20
                except psutil.Error:
                    continue
                self.peak[name] = max(self.peak.get(name, 0.0), rss)


# --- 1. the floor -------------------------------------------------------------------------------------------

async def floor(bootstrap: str, admin_dsn: str, events: int) -> float:
    topic = f"bench.floor.{uuid.uuid4().hex[:6]}"
    await kafka.ensure_topics(bootstrap, {topic: 8})
    name = f"bench_floor_{uuid.uuid4().hex[:6]}"
    await ensure_database(admin_dsn, name)
    dsn = admin_dsn.rsplit("/", 1)[0] + "/" + name
    pool = await create_pool(dsn, size=2)
    await migrate(pool, [("backbone", BACKBONE_MIGRATIONS)])
    await pool.execute(repository.CREATE_FLOOR_STATE)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=2)
    await producer.start()
    payload = os.urandom(250).hex().encode()  # 500 bytes
    for i in range(events):
        await producer.send(topic, payload, key=str(i % 200).encode())
    await producer.flush()
    await producer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=f"floor-{uuid.uuid4().hex[:6]}",
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    seen = 0
    started = None
    async with pool.acquire() as conn:
        while seen < events:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                for r in records:
                    started = started or time.perf_counter()
                    async with conn.transaction():  # one transaction per event: state + outbox row
                        event_id = uuid.uuid4()
                        await conn.execute(repository.INSERT_FLOOR_STATE, event_id, r.value)
                        await enqueue(conn, [Record(topic + ".out", r.key, r.value, (), event_id, "floor")],
                                      service="floor")
                    seen += 1
            await consumer.commit()
    elapsed = time.perf_counter() - (started or time.perf_counter())
    await consumer.stop()
    await pool.close()
    return events / elapsed


# --- 2–4. the lifecycle through every service ---------------------------------------------------------------

SETTLED_CNY = 1000  # what the driver settles every case for


async def call_as_settled(follow_up: Callable[[set[str]], Awaitable[None]], settled: asyncio.Queue[str],
                          count: int | None = None) -> None:
    """The follow-up caller: takes the cases settled so far, calls them all, and again (``count`` cases, or
    until cancelled)."""
    called = 0
    while count is None or called < count:
        batch = {await settled.get()}
        await asyncio.sleep(0.3)
        while not settled.empty():
            batch.add(settled.get_nowait())
        await follow_up(batch)
        called += len(batch)


class Driver:
    """The clerk, the mediator and the follow-up caller, over HTTP.

    ``direct`` (service → port) sends each API call straight to the service that owns the route, as a
    method-aware gateway in front of a cluster would; without it every call goes through the console.
    """

    def __init__(self, console: str, home: Path, direct: dict[str, int] | None = None):
        self.console, self.home, self.direct = console, home, direct or {}
        passwords = dict(line.split("\t") for line in (home / "initial-passwords.txt").read_text().splitlines())
        # a kept-alive connection the server has just closed fails once: retry the request on a new one
        self.http = httpx.AsyncClient(base_url=console, timeout=60, limits=httpx.Limits(max_connections=64),
                                      transport=httpx.AsyncHTTPTransport(retries=3),
                                      event_hooks={"request": [self._route]})
        self.passwords = passwords
        self.headers: dict[str, dict[str, str]] = {}
        #: case n's Idempotency-Key and body, sent again as they were when a registration is retried
        self.registrations: dict[int, tuple[str, dict[str, Any]]] = {}
        self.run = uuid.uuid4().hex[:12]

    async def _route(self, request: httpx.Request) -> None:
        owner = owner_of(request.method, request.url.path)
        if owner in self.direct:
            request.url = request.url.copy_with(port=self.direct[owner])

    def origin_of(self, method: str, path: str) -> str:
        """Where a request for ``path`` goes: its owner's origin when routed directly, else the console's."""
        owner = owner_of(method, path)
        if owner in self.direct:
            return f"http://127.0.0.1:{self.direct[owner]}"
        return self.console

    async def login(self) -> None:
        """The clerk, the supervisor, and every mediator of the demo (each acts only as themselves)."""
        from services.security.accounts import DEMO_MEDIATORS

        for user in ("clerk", "supervisor-qh", *DEMO_MEDIATORS):
            r = await self.http.post("/api/v1/auth/login", json={"username": user, "password": self.passwords[user]})
            r.raise_for_status()
            self.headers[user] = {"authorization": f"Bearer {r.json()['access_token']}"}
        self.mediators = {m: self.headers[user] for user, m in DEMO_MEDIATORS.items()}

    async def new_case(self, n: int, *, days_ago: float = 0) -> str:
        """Register case ``n``; called again after a lost answer, it sends the same body under the same
        Idempotency-Key and gets the same case back (nothing registered, linked or told twice)."""
        if n not in self.registrations:
            self.registrations[n] = (f"bench-{self.run}-{n}", {
                "channel": "hotline", "received_at": (datetime.now(UTC) - timedelta(days=days_ago)).replace(
                    microsecond=0).isoformat(), "region_code": "630102", "summary": f"bench {n}",
                "workers": [{"name": f"压测{n}", "id_number": make_id_number("630102", date(1990, 1, 1), n),
                             "phone": f"138{n:08d}"}],
                "employer": {"name": f"压测公司{n}", "uscc": make_uscc("630102", 50_000_000 + n)},
                "claims": [{"type": "wage_arrears", "amount_cny": 1000}]})
        key, body = self.registrations[n]
        r = await self.http.post("/api/v1/cases", json=body, headers={**self.headers["clerk"], "Idempotency-Key": key})
        r.raise_for_status()
        return r.json()["case_id"]

    async def mediate(self, case_id: str) -> None:
        h = self.headers["supervisor-qh"]  # who looks for the case's mediator
        pause = 0.05
        while True:  # the case reaches the mediator's worklist a moment after registration
            r = await self.http.get(f"/api/v1/mediation/cases/{case_id}", headers=h)
            if r.status_code >= 500:
                r.raise_for_status()
            if r.status_code == 200 and r.json()["state"] != "awaiting_assignment":
                break
            await asyncio.sleep(pause)
            pause = min(pause * 1.5, 0.5)
        await self.settle(case_id, r.json()["mediator_id"], r.json()["state"])

    async def settle(self, case_id: str, mediator: str, state: str = "offered") -> None:
        """The mediator accepts the case (when offered) and records a settlement (when still open)."""
        h = self.mediators[mediator]
        if state == "offered":
            accepted = await self.http.post(f"/api/v1/mediation/cases/{case_id}/accept",
                                            json={"mediator_id": mediator}, headers=h)
            if accepted.status_code != 409:  # 409: accepted already, the answer was lost
                accepted.raise_for_status()
        if state in ("offered", "in_mediation"):
            settled = await self.http.post(f"/api/v1/mediation/cases/{case_id}/settle",
                                           json={"agreement": {"amount_cny": SETTLED_CNY}},
                                           headers=h)
            if settled.status_code != 409:
                settled.raise_for_status()

    async def follow_up(self, case_ids: set[str]) -> None:
        pending = set(case_ids)
        sem = asyncio.Semaphore(16)
        idle = 0
        while pending:
            r = await self.http.get("/api/v1/followup/worklist", params={"limit": 1000}, headers=self.headers["clerk"])
            r.raise_for_status()
            calls = [c for c in r.json()["calls"] if c["case_id"] in pending]
            if not calls:
                idle += 1
                if idle % 10:  # the calls are not scheduled yet: look again in a moment
                    await asyncio.sleep(0.3)
                    continue
                for case_id in list(pending):  # recorded, but the answer was lost on the way back
                    state = await self.http.get(f"/api/v1/followup/cases/{case_id}", headers=self.headers["clerk"])
                    if state.status_code == 200 and state.json()["state"] != "monitoring":
                        pending.discard(case_id)
                await asyncio.sleep(0.3)  # a caller looks at the worklist now and then, not ten times a second
                continue

            async def call(c: dict[str, Any]) -> None:
                async with sem:
                    res = await self.http.post(f"/api/v1/followup/calls/{c['followup_id']}", headers=self.headers["clerk"],
                                               json={"reached": True, "satisfaction": 5, "actor": "压测"})
                    if res.status_code in (200, 409):
                        pending.discard(c["case_id"])

            await asyncio.gather(*(call(c) for c in calls))


async def free_mediators(driver: Driver, *, quiet: float = 3.0, patience: float = 300) -> set[str]:
    """Settle every case a mediator holds, and each waiting case as it reaches one, until none has come for
    ``quiet`` seconds (or ``patience`` seconds have passed): the mediators free again, as after a day's work. The
    paced stages register more cases than the mediators can hold; a lifecycle after them would wait for ever.
    Returns the cases settled."""
    settled: set[str] = set()
    sem = asyncio.Semaphore(16)

    async def settle(c: dict[str, Any]) -> None:
        async with sem:
            await driver.settle(c["case_id"], c["mediator_id"], c["state"])

    started = last = time.monotonic()
    while time.monotonic() - last < quiet:
        if time.monotonic() - started > patience:
            print(f"  mediators still receiving cases after {patience:.0f} s ({len(settled)} settled): going on",
                  flush=True)
            break
        r = await driver.http.get("/api/v1/mediation/worklist", params={"limit": 1000},
                                  headers=driver.headers["mediator-cd"])
        r.raise_for_status()
        ready = [c for c in r.json()["cases"]
                 if c["case_id"] not in settled and c["state"] in ("offered", "in_mediation")]
        await asyncio.gather(*(settle(c) for c in ready))
        settled |= {c["case_id"] for c in ready}
        if ready:
            last = time.monotonic()
        else:
            await asyncio.sleep(0.2)
    return settled


async def quiet_down(stack: Stack, *, below_cores: float = 0.4, patience: float = 60) -> float:
    """Wait until the stack's processes (the bench's own excepted) use less than ``below_cores`` over a second:
    what earlier stages left (relays, follow-ups, projections) done. An idle stack on bare Tansu polls at about
    0.23 core; one still working uses more than one. Returns the cores used in the last second."""
    started = time.monotonic()
    before = cpu_seconds(stack)
    while True:
        await asyncio.sleep(1)
        now = cpu_seconds(stack)
        busy = sum(v - before.get(k, 0.0) for k, v in now.items() if k != "bench driver")
        before = now
        if busy < below_cores or time.monotonic() - started > patience:
            return busy


async def closed_count(dsns: dict[str, str], ids: set[str]) -> int:
    """Cases of ``ids`` the supervision projection shows closed (read from its database: any number of cases)."""
    conn = await asyncpg.connect(dsns["supervision"])
    try:
        return int(await conn.fetchval(repository.CLOSED_COUNT, list(ids)))
    finally:
        await conn.close()


async def lifecycle(driver: Driver, dsns: dict[str, str], cases: int, start: int,
                    in_flight: int = 32) -> tuple[float, float]:
    """Complete cases/s for ``cases`` new hotline cases, each through settlement, follow-up and closing.

    Three roles work side by side, as people would: the clerk registers cases (at most ``in_flight`` open
    at a time), the mediators work from their worklist (accept, settle), the follow-up caller from hers;
    the run ends when supervision shows every case closed."""
    room = asyncio.Semaphore(in_flight)
    registered: set[str] = set()
    mediated: asyncio.Queue[str] = asyncio.Queue()
    t0 = time.perf_counter()

    async def register(n: int) -> str:
        await room.acquire()
        case_id = await driver.new_case(n)
        registered.add(case_id)
        return case_id

    async def mediators() -> None:
        busy: set[str] = set()
        done = 0

        async def work(case_id: str, mediator: str) -> None:
            await driver.settle(case_id, mediator)
            mediated.put_nowait(case_id)
            room.release()

        tasks = []
        while done < cases:
            r = await driver.http.get("/api/v1/mediation/worklist", params={"limit": 500},
                                      headers=driver.headers["mediator-cd"])
            r.raise_for_status()
            for c in r.json()["cases"]:
                if c["case_id"] in registered and c["case_id"] not in busy and c["state"] == "offered":
                    busy.add(c["case_id"])
                    done += 1
                    tasks.append(asyncio.ensure_future(work(c["case_id"], c["mediator_id"])))
            await asyncio.sleep(0.2)
        await asyncio.gather(*tasks)

    people = [asyncio.ensure_future(mediators()), asyncio.ensure_future(call_as_settled(driver.follow_up, mediated,
                                                                                         cases))]
    ids = set(await asyncio.gather(*(register(start + i) for i in range(cases))))
    await asyncio.gather(*people)
    while await closed_count(dsns, ids) < len(ids):  # noqa: ASYNC110 - polling the supervision projection
        await asyncio.sleep(0.2)
    elapsed = time.perf_counter() - t0
    return cases / elapsed, elapsed


async def hop_latency(driver: Driver, dsns: dict[str, str], rate: int, seconds: int,
                      start: int) -> tuple[list[float], list[str]]:
    """Pace new cases at ``rate``/s; the hop is intake's dispatch commit → mediation's commit of its effect."""
    ids: list[str] = []
    t0 = time.perf_counter()
    tasks = []
    for i in range(rate * seconds):
        tasks.append(asyncio.ensure_future(driver.new_case(start + i)))
        await asyncio.sleep(max(0.0, t0 + (i + 1) / rate - time.perf_counter()))
    ids = list(await asyncio.gather(*tasks))
    intake = await asyncpg.connect(dsns["intake"])
    mediation = await asyncpg.connect(dsns["mediation"])
    try:
        await asyncio.sleep(3)
        sent = {r["event_id"]: r["created_at"] for r in await intake.fetch(repository.DISPATCHES_SENT, ids)}
        done = {r["event_id"]: r["processed_at"] for r in await mediation.fetch(repository.DISPATCHES_PROCESSED,
                                                                                list(sent))}
        return [(done[e] - sent[e]).total_seconds() * 1000 for e in sent if e in done], ids
    finally:
        await intake.close()
        await mediation.close()


async def notification_latency(dsns: dict[str, str], ids: list[str], wait_seconds: float = 30) -> list[float] | None:
    """Seconds from each event of ``ids``'s cases to its SMS going out (the dispatch of the paced cases: sent by
    the recording gateway); None in quiet hours (21:00–08:00 Shanghai: held for the morning, nothing to time)."""
    conn = await asyncpg.connect(dsns["notification"])
    try:
        deadline = time.monotonic() + wait_seconds
        while (await conn.fetchrow(repository.NOTIFICATION_PENDING, ids))["n"] and time.monotonic() < deadline:
            if (await conn.fetchval(repository.NOTIFICATION_HELD, ids)):
                return None
            await asyncio.sleep(0.5)
        return [r["s"] * 1000 for r in await conn.fetch(repository.NOTIFICATION_LATENCIES, ids)]
    finally:
        await conn.close()


async def board_streams(driver: Driver, streams: int, calls: int = 200) -> tuple[list[float], list[float], int]:
    """The API's latency through the console with no supervisors' boards open, then with ``streams`` of them open
    (server-sent events held by the console and supervision): (ms without, ms with, boards opened)."""
    headers = driver.headers["supervisor-qh"]
    limits = httpx.Limits(max_connections=None, max_keepalive_connections=None)
    async with httpx.AsyncClient(base_url=driver.console, timeout=30) as api, \
            httpx.AsyncClient(base_url=driver.console, timeout=httpx.Timeout(None, connect=10), limits=limits) as sse:

        async def measure() -> list[float]:
            out = []
            for _ in range(calls):
                t = time.perf_counter()
                r = await api.get("/api/v1/alerts", headers=headers)
                r.raise_for_status()
                out.append((time.perf_counter() - t) * 1000)
            return out

        quiet = await measure()
        ready = asyncio.Semaphore(0)
        stop = asyncio.Event()
        opened = 0

        async def board() -> None:
            nonlocal opened
            async with sse.stream("GET", "/api/v1/stream", headers=headers) as r:
                if r.status_code == 200:
                    async for line in r.aiter_lines():
                        if line.startswith("retry:"):
                            opened += 1
                            break
                ready.release()
                await stop.wait()

        tasks = [asyncio.ensure_future(board()) for _ in range(streams)]
        for _ in range(streams):
            await asyncio.wait_for(ready.acquire(), 120)
        busy = await measure()
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
    return quiet, busy, opened


#: New cases registered per second while the worker's door is measured. The union reports behind the brief give a
#: province 44,000 cases in five years (about 24 a day): 5 a second is some 18,000 times that, so the projection
#: and its indexes keep changing under the lookups as they would on the busiest day imaginable.
DOOR_FLOW = 5.0
#: The paced rate offered to the door: the issue's target.
DOOR_RATE = 1_000
#: cases/s the stack sustains on 2 cores with room to spare (the lifecycle completes about 11 a second): the hop's
#: latency there is the case's own, not a queue's (at 50 cases/s the stack is past what it completes)
SUSTAINED_RATE = 5


@dataclass
class DoorFigures:
    capacity: float  # lookups/s, 32 clients one after another (closed loop)
    offered: int  # lookups/s offered on a fixed schedule (open loop)
    achieved: float  # lookups/s answered of those
    latencies: list[float]  # ms, each from the moment its lookup was due (a late start counts as waiting)
    bodies: list[dict[str, str]]  # the lookups asked (case number and query code of each case)


async def progress_lookups(driver: Driver, dsns: dict[str, str], cases: int, seconds: float, *,
                           rate: int = DOOR_RATE, flow_per_second: float = DOOR_FLOW,
                           concurrency: int = 32) -> DoorFigures:
    """The worker's door, ``POST /api/v1/public/progress`` (no login; each lookup checks the throttles and the
    code's hash and writes its audit row), while new cases keep being registered at ``flow_per_second``:

    - capacity: ``concurrency`` clients, each sending its next lookup as soon as the last is answered;
    - paced: ``rate`` lookups a second on a fixed schedule, each on a kept-alive connection of a pool (the
      phones of many workers), its latency counted from when it was due — what a worker waits at that rate.

    The requests come from ``loadgen`` in a process of its own (a lean client: httpx costs more CPU per request
    than the door answering it)."""
    async def answered_case(n: int) -> tuple[str, str]:
        """A case answered on the spot (it holds no mediator: what is measured after this needs them all)."""
        body = {"channel": "hotline", "received_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
                "region_code": "630102", "summary": f"bench door {n}", "route": "answered", "answer": "已当场答复",
                "workers": [{"name": f"查询{n}", "id_number": make_id_number("630102", date(1991, 1, 1), 700_000 + n),
                             "phone": f"139{n:08d}"}],
                "employer": {"name": f"查询公司{n}", "uscc": make_uscc("630102", 70_000_000 + n)},
                "claims": [{"type": "wage_arrears", "amount_cny": 1000}]}
        r = await driver.http.post("/api/v1/cases", json=body, headers=driver.headers["clerk"])
        r.raise_for_status()
        return r.json()["case_id"], r.json()["query_code"]

    codes = [await answered_case(n) for n in range(cases)]
    bodies = [{"case_id": c, "query_code": q} for c, q in codes]

    # every case's view has reached the projection (asked of its database: a lookup before that is a wrong guess,
    # and wrong guesses from one address are what the door's throttle locks out)
    conn = await asyncpg.connect(dsns["supervision"])
    try:
        deadline = time.monotonic() + 60
        while await conn.fetchval(repository.PUBLIC_VIEWS_READY, [c for c, _ in codes]) < len(codes):
            if time.monotonic() > deadline:
                raise RuntimeError("the worker's views never reached the projection")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()
    flowing = True

    async def flow() -> None:
        n = cases
        while flowing:
            await answered_case(n)
            n += 1
            await asyncio.sleep(1 / flow_per_second)

    flowing_task = asyncio.ensure_future(flow())
    try:
        measured = await loadgen.run_apart({
            "origin": driver.origin_of("POST", "/api/v1/public/progress"), "path": "/api/v1/public/progress",
            "bodies": bodies, "clients": concurrency,
            "closed_seconds": seconds / 2, "rate": rate, "open_seconds": seconds})
    finally:
        flowing = False
        await flowing_task
    return DoorFigures(measured["capacity"], rate, measured["achieved"], measured["latencies"], bodies)


async def through_the_console(driver: Driver, console: str, bodies: list[dict[str, str]], seconds: float,
                              concurrency: int = 32) -> tuple[float, float]:
    """The same read (a worker's progress lookup) straight to its owner, then through the console's origin
    (its relay, services/console/relay.py), back to back with nothing else running: (direct, through) in
    lookups/s, each with ``concurrency`` clients back to back."""
    path = "/api/v1/public/progress"
    rates = []
    for origin in (driver.origin_of("POST", path), console):
        measured = await loadgen.run_apart({"origin": origin, "path": path, "bodies": bodies, "clients": concurrency,
                                            "closed_seconds": seconds, "rate": 1, "open_seconds": 0})
        rates.append(measured["capacity"])
    return rates[0], rates[1]


async def alert_latency(dsns: dict[str, str], count: int) -> list[float]:
    """Mediation-owned deadlines due in 3 s → breached by its scanner → alerts raised by supervision."""
    pool = await create_pool(dsns["mediation"], size=1)  # with the JSON codecs the store relies on
    due = datetime.now(UTC) + timedelta(seconds=3)
    case_ids = [f"ALERT-{uuid.uuid4().hex[:10]}" for _ in range(count)]
    try:
        async with pool.acquire() as conn, conn.transaction():
            records: list[Record] = []
            store = DeadlineStore(conn, owner="mediation", topic="mediation.events", emit=records.append,
                                  now=datetime.now(UTC))
            for case_id in case_ids:
                await store.start(case_id=case_id, kind="tier", started_at=datetime.now(UTC), due_at=due,
                                  org_unit="QH-XN-CD")
            await enqueue(conn, records, service="mediation")
    finally:
        await pool.close()
    sup = await asyncpg.connect(dsns["supervision"])
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            rows = await sup.fetch(repository.OVERDUE_ALERTS, case_ids)
            if len(rows) == count:
                return [(r["raised_at"] - r["due_at"]).total_seconds() * 1000 for r in rows]
            await asyncio.sleep(0.2)
        return [float("inf")]
    finally:
        await sup.close()


# --- 5. deadline scan -----------------------------------------------------------------------------------------

async def scan_cost(admin_dsn: str, open_deadlines: int) -> float:
    """Median time of one scan that fires 100 due deadlines among ``open_deadlines`` open ones (ms)."""
    name = f"bench_scan_{uuid.uuid4().hex[:6]}"
    await ensure_database(admin_dsn, name)
    pool = await create_pool(admin_dsn.rsplit("/", 1)[0] + "/" + name, size=2)
    await migrate(pool, [("backbone", BACKBONE_MIGRATIONS)])
    await pool.execute(repository.SEED_OPEN_DEADLINES, open_deadlines)
    await pool.execute(repository.ANALYZE_DEADLINES)
    timings = []
    for round_ in range(5):
        await pool.execute(repository.SEED_DUE_DEADLINES, str(round_))
        t = time.perf_counter()
        fired = await fire_due(pool, owner="bench", topic="bench.events", service="bench", now=datetime.now(UTC))
        timings.append((time.perf_counter() - t) * 1000)
        assert fired == 100, fired
    await pool.close()
    return statistics.median(timings)


# --- the run --------------------------------------------------------------------------------------------------

def cpu_seconds(stack: Stack) -> dict[str, float]:
    """CPU time (user + system) used so far by every part of the stack, the bench's own driver included."""
    def total(proc: psutil.Process, children: bool = False) -> float:
        """``proc``'s CPU; with ``children``, its children's too: the running ones', and the ended ones' that
        ``proc`` reaped (PostgreSQL's backends come and go with connections: counting only those alive lost the
        CPU of every connection closed between two readings — and one that ended mid-reading lost them all)."""
        try:
            own = proc.cpu_times()
            procs = proc.children(recursive=True) if children else []
        except psutil.Error:
            return 0.0
        spent = own.user + own.system + (own.children_user + own.children_system if children else 0.0)
        for child in procs:
            with contextlib.suppress(psutil.Error):  # ended since it was listed: reaped, counted above next time
                times = child.cpu_times()
                spent += times.user + times.system
        return spent

    out = {name: total(psutil.Process(p.pid)) for name, p in stack.children.items()}
    if stack.broker is not None and stack.broker.proc is not None:
        out["broker (Tansu)"] = total(psutil.Process(stack.broker.proc.pid))
    if stack.broker is not None and stack.broker.front is not None:
        out["broker's long-poll front"] = total(psutil.Process(stack.broker.front.pid))
    if stack.postgres is not None:
        pidfile = stack.postgres.data_dir / "postmaster.pid"
        if pidfile.exists():
            out["PostgreSQL"] = total(psutil.Process(int(pidfile.read_text().split()[0])), children=True)
    out["bench driver"] = total(psutil.Process())
    return out


@dataclass
class Sizes:
    cases: int = 300
    floor_events: int = 20_000
    paced_seconds: int = 10
    alerts: int = 100
    large_scan: int = 1_000_000
    streams: int = 1_000  # supervisors' boards held open while the API is measured
    grow_to: int = 0  # then grow every database to this many cases and measure memory and queries again
    through_console: bool = False  # every API call through the console's proxy instead of straight to its owner
    replay_events: int = 100_000  # the rebuild's log (and a tenth of it, for memory that does not grow)
    calm_seconds: int = 20  # hops at the sustained rate: a p99 needs about a hundred, not twenty (their maximum)
    profile: int = 0  # then profile every service over a lifecycle of this many more cases (``--profile``)

    @classmethod
    def of(cls, mode: str, cases: int | None) -> Sizes:
        sizes = {"full": cls(), "quick": cls(100, 5_000, 4, 20, 100_000, 300, replay_events=100_000),
                 "smoke": cls(10, 500, 2, 5, 10_000, 20, 2_000, replay_events=2_000, calm_seconds=2)}[mode]
        return replace(sizes, cases=cases) if cases else sizes


async def run(sizes: Sizes) -> Figures:
    figures = Figures()
    # the per-person cap on boards is not what is measured here: the console's capacity is
    stack = Stack.isolated("laborcase-bench-", LABORCASE_STREAMS_PER_PERSON=str(sizes.streams + 10))
    stack.pg_preload = (statements.LIBRARY,)  # statements per case counted on the embedded server
    settings, home = stack.settings, stack.home
    if sizes.profile:
        stack.env[profiling.ENV] = str(home / "profiles")
    await asyncio.to_thread(stack.start_infrastructure)
    try:
        bootstrap = stack.env["KAFKA_BOOTSTRAP_SERVERS"]
        admin = stack.postgres.admin_dsn() if stack.postgres else Settings().dsn_for("intake")
        rate = await floor(bootstrap, admin, sizes.floor_events)
        figures.add(f"floor: {sizes.floor_events} events, 1 transaction each (events/s)", rate, "{:,.0f}")
        stack.start_services()
        t = time.perf_counter()
        with PeakRss(stack) as rss:
            await asyncio.to_thread(stack.wait_ready)
            figures.add("start-up of the services, ready (s)", time.perf_counter() - t)
            driver = Driver(f"http://127.0.0.1:{settings.console_port}", home,
                            direct=None if sizes.through_console else {s: settings.port_for(s) for s in SERVICES})
            await driver.login()
            dsns = {s: stack.env[f"LABORCASE_{s.upper()}_DSN"] for s in SERVICES}
            await lifecycle(driver, dsns, 10, 1)  # warm-up
            # counted on the embedded server only: nothing is installed on a server the bench is pointed at
            gauge = await statements.StatementGauge.open(admin) if stack.postgres else None
            if gauge is not None and not await gauge.reset():
                gauge = None
            before, cpu_before = await published(dsns), cpu_seconds(stack)
            throughput, elapsed = await lifecycle(driver, dsns, sizes.cases, 1000)
            cpu = {k: v - cpu_before.get(k, 0.0) for k, v in cpu_seconds(stack).items()}
            per_case_ms = {k: v * 1000 / sizes.cases for k, v in cpu.items()}
            sent = await gauge.read() if gauge is not None else None
            events = await published(dsns) - before
            figures.add(f"full lifecycle, {sizes.cases} cases (complete cases/s)", throughput, note=f"{elapsed:.1f} s")
            figures.add("events published by the services during it (events/s)", events / elapsed, "{:,.0f}",
                        note=f"{events:,} events, {events / sizes.cases:.1f} per case")
            figures.add("ratio of the lifecycle's event rate to the floor", events / elapsed / rate, "{:.2f}")
            figures.add("CPU per complete case, all processes (ms)", sum(cpu.values()) * 1000 / sizes.cases,
                        note=", ".join(f"{k} {v * 1000 / sizes.cases:.1f}" for k, v in
                                       sorted(cpu.items(), key=lambda kv: -kv[1])))
            system = sum(v for k, v in cpu.items() if k != "bench driver")
            figures.add("CPU per complete case, the system without the bench's driver (ms)",
                        system * 1000 / sizes.cases, note="services, console, broker, PostgreSQL; target ≤ 22")
            driver_cpu = cpu.get("bench driver", 0.0)
            if driver_cpu > 0:  # the driver does the same work every run: its CPU moves with the host's speed
                figures.add("CPU per complete case, the system per ms of the driver's (host-noise gauge)",
                            system / driver_cpu, "{:.2f}",
                            note="the same work costs more CPU seconds in a busy spell, the driver's too: compare "
                                 "runs of different code by this, not by milliseconds")
            figures.add("CPU busy during the lifecycle (cores)", sum(cpu.values()) / elapsed, "{:.2f}")
            if sent is None:
                print("  statements per case: not counted (an external database server, or pg_stat_statements not "
                      "loaded)", flush=True)
            else:
                by_calls = sorted(sent.items(), key=lambda kv: -kv[1].calls)
                figures.add("statements to PostgreSQL per complete case", sum(c.calls for c in sent.values())
                            / sizes.cases, note=", ".join(f"{k} {c.calls / sizes.cases:.1f}" for k, c in by_calls))
                figures.add("PostgreSQL's execution time per complete case (ms)",
                            sum(c.exec_ms for c in sent.values()) / sizes.cases,
                            "{:,.2f}", note=", ".join(f"{k} {c.exec_ms / sizes.cases:.2f}" for k, c in by_calls)
                            + f"; PostgreSQL's CPU {cpu.get('PostgreSQL', 0.0) * 1000 / sizes.cases:.1f}")
            calm, _ = await hop_latency(driver, dsns, SUSTAINED_RATE, sizes.calm_seconds, 150_000)
            figures.add(f"hop latency at {SUSTAINED_RATE} cases/s, p99 (ms, {len(calm)} hops)", pct(calm, 99),
                        note=f"p50 {pct(calm, 50):.1f}; a rate the stack sustains (the lifecycle's above); target < 50")
            hops, paced = await hop_latency(driver, dsns, 50, sizes.paced_seconds, 100_000)
            figures.add(f"hop latency at 50 cases/s, p50 (ms, {len(hops)} hops)", pct(hops, 50))
            figures.add("hop latency at 50 cases/s, p99 (ms)", pct(hops, 99))
            told = await notification_latency(dsns, paced)
            if told is None:
                print("  SMS latency: not measured, quiet hours (21:00–08:00 Shanghai) hold every message", flush=True)
            else:
                figures.add(f"SMS to the worker, event → sent, p50 (ms, {len(told)} messages)", pct(told, 50), "{:,.0f}")
                figures.add("SMS to the worker, event → sent, p99 (ms)", pct(told, 99), "{:,.0f}")
            door = await progress_lookups(driver, dsns, 200, sizes.paced_seconds)
            figures.add("worker's progress lookups, capacity while cases flow (lookups/s)", door.capacity, "{:,.0f}",
                        note=f"32 clients back to back, {DOOR_FLOW:g} new cases/s")
            figures.add(f"worker's progress lookups offered {door.offered:,}/s, answered (lookups/s)", door.achieved,
                        "{:,.0f}", note=f"{len(door.latencies):,} lookups on a fixed schedule, {DOOR_FLOW:g} new cases/s")
            figures.add(f"worker's progress lookup at {door.offered:,}/s, p99 (ms)", pct(door.latencies, 99),
                        note=f"p50 {pct(door.latencies, 50):.1f}, from when each was due")
            direct, through = await through_the_console(driver, f"http://127.0.0.1:{settings.console_port}",
                                                        door.bodies, sizes.paced_seconds / 2)
            figures.add("reads through the console's origin, ratio to straight to the owner", through / direct,
                        "{:.2f}", note=f"progress lookups, 32 clients back to back: {through:,.0f}/s through the "
                                       f"console, {direct:,.0f}/s straight; target ≥ 0.80")
            alerts = await alert_latency(dsns, sizes.alerts)
            figures.add(f"overdue alert latency, due → on the board, p50 (ms, {len(alerts)} alerts)", pct(alerts, 50),
                        "{:,.0f}")
            figures.add("overdue alert latency, due → on the board, p99 (ms)", pct(alerts, 99), "{:,.0f}")
            quiet, busy, opened = await board_streams(driver, sizes.streams)
            figures.add("GET /api/v1/alerts through the console, no boards open, p99 (ms)", pct(quiet, 99),
                        note=f"p50 {pct(quiet, 50):.1f}")
            figures.add(f"GET /api/v1/alerts through the console, {opened} boards open, p99 (ms)", pct(busy, 99),
                        note=f"p50 {pct(busy, 50):.1f}")
        for name, peak in rss.peak.items():
            figures.add(f"peak RSS {name} (MiB)", peak, "{:,.0f}")
        if sizes.profile or sizes.grow_to:
            freed = await free_mediators(driver)  # the paced stages left them full, with cases waiting
            await driver.follow_up(freed)  # and their calls off the follow-up worklist, read a page at a time
        if sizes.profile:
            await profile_services(stack, driver, dsns, per_case_ms, sizes.profile)
        if sizes.grow_to:
            await at_scale(stack, driver, dsns, sizes.grow_to, figures)
        await driver.http.aclose()
        await asyncio.to_thread(stack.stop_services)  # the rebuild has the machine to itself, as an operator's would
        if sizes.replay_events:
            await replay_figures(stack, bootstrap, admin, sizes.replay_events, figures)
        small = await scan_cost(admin, 1_000)
        large = await scan_cost(admin, sizes.large_scan)
        figures.add("deadline scan, 100 due among 1 thousand open (ms)", small)
        figures.add(f"deadline scan, 100 due among {sizes.large_scan:,} open (ms)", large)
        figures.add("deadline scan cost ratio, large / small", large / small, "{:.2f}")
        await render_times(figures)
    finally:
        await asyncio.to_thread(stack.stop)
    return figures


#: The rebuild's processes in the bench: as many as ``laborcase supervision rebuild`` runs by default.
REBUILD_WORKERS = default_shards()


async def replay_figures(stack: Stack, bootstrap: str, admin: str, total: int, figures: Figures) -> None:
    """``laborcase supervision rebuild`` over a copy of this run's log lengthened to ``total`` events: events/s, the
    peak RSS, and whether memory stays flat (the second half of the run against the first; services/stack/
    replay_bench.py)."""
    templates = await replay_bench.capture(bootstrap)
    if not templates:
        print("  replay: not measured, the run left no case events to copy", flush=True)
        return
    tag = f"replay{total}"
    topics = await replay_bench.fill(bootstrap, templates, total, tag)
    dsn = admin.rsplit("/", 1)[0] + f"/bench_{tag}"
    await ensure_database(admin, f"bench_{tag}")
    run = await replay_bench.rebuild_apart(stack.env, dsn, topics, REBUILD_WORKERS)
    figures.add(f"rebuild of supervision, {run.events:,} events (events/s)", run.events / run.replay_seconds,
                "{:,.0f}", note=f"{REBUILD_WORKERS} process(es); replay {run.replay_seconds:.1f} s, "
                                f"{run.seconds:.1f} s with the process's start-up; "
                                f"{len(templates):,} events of this run copied")
    figures.add(f"rebuild, peak RSS at {run.events:,} events, all processes (MiB)", run.peak_rss_mib, "{:,.0f}",
                note=f"first half of the run {run.first_half_mib:,.0f} MiB, second half {run.second_half_mib:,.0f}")
    figures.add("rebuild, memory of the run's second half / its first (flat: 1.00)",
                run.second_half_mib / max(run.first_half_mib, 1.0), "{:.2f}")


async def profile_services(stack: Stack, driver: Driver, dsns: dict[str, str], per_case_ms: dict[str, float],
                           cases: int) -> None:
    """Where each service's CPU goes, by library: every service profiled (services/backbone/profiling.py) over a
    further lifecycle of ``cases`` cases, each library's share scaled to the CPU per case the service was measured
    at without the profiler. Printed, not a figure: the profiler's own cost weighs on small functions."""
    directory = Path(stack.env[profiling.ENV])
    running = {name: proc for name, proc in stack.children.items() if name in SERVICES}
    busy = await quiet_down(stack)  # what the earlier stages left is not in the profile
    print(f"  profiling every service over {cases} more cases (the stack at {busy:.2f} core before)", flush=True)
    for name, proc in running.items():
        profiling.stats_file(directory, name).unlink(missing_ok=True)
        os.kill(proc.pid, signal.SIGUSR1)
    await lifecycle(driver, dsns, cases, 300_000)
    for proc in running.values():
        os.kill(proc.pid, signal.SIGUSR2)
    shares: dict[str, dict[str, float]] = {}
    deadline = time.monotonic() + 30
    while len(shares) < len(running) and time.monotonic() < deadline:
        for name in running.keys() - shares.keys():
            if profiling.stats_file(directory, name).exists():
                shares[name] = await asyncio.to_thread(profiling.load, profiling.stats_file(directory, name))
        await asyncio.sleep(0.2)
    if not shares:
        print("  profile: no service wrote one", flush=True)
        return
    print(f"  where the services' CPU goes, by library (ms per complete case; cProfile over {cases} more cases, "
          "each service's shares scaled to its CPU per case above):", flush=True)
    whole = profiling.scaled(per_case_ms, shares)
    print(f"    all services, {sum(whole.values()):.1f}: " + _libraries(whole, 12), flush=True)
    for name in sorted(shares, key=lambda n: -per_case_ms.get(n, 0.0)):
        ms = per_case_ms.get(name, 0.0)
        print(f"    {name}, {ms:.1f}: " + _libraries({k: v * ms for k, v in shares[name].items()}, 8), flush=True)
    missing = running.keys() - shares.keys()
    if missing:
        print(f"  profile: none written by {', '.join(sorted(missing))}", flush=True)


def _libraries(ms: dict[str, float], top: int) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in sorted(ms.items(), key=lambda kv: -kv[1])[:top])


async def render_times(figures: Figures) -> None:
    """Printable documents (issue 18, target < 300 ms each): services/printing/bench.py's samples, three renders of
    each kind in this process (the first document of a process also registers the font)."""
    from services.printing.bench import measure

    first, times = await asyncio.to_thread(measure)
    figures.add("document render, first of a process, font registered (ms)", first, "{:,.0f}")
    for kind, runs in times.items():
        figures.add(f"document render {kind}, slowest of {len(runs)} (ms)", max(runs), note="target < 300 ms")


async def at_scale(stack: Stack, driver: Driver, dsns: dict[str, str], cases: int, figures: Figures) -> None:
    """Every database grown to ``cases`` cases; then cases keep flowing while supervisors and mediators read."""
    t = time.perf_counter()
    grown = await grow_all(dsns, cases)
    figures.add(f"grow every database to {cases:,} cases (s)", time.perf_counter() - t, "{:,.0f}",
                note="; ".join(f"{s}: " + ", ".join(f"{k} {v:,}" for k, v in sizes.items()) for s, (_, sizes) in grown.items()))
    reads = {"supervision statistics (all units)": ("/api/v1/stats", "supervisor-qh", {}),
             "supervision case list, overdue first": ("/api/v1/cases", "supervisor-qh", {"limit": 100}),
             "supervision breach forecast": ("/api/v1/forecast", "supervisor-qh", {}),
             "mediator worklist": ("/api/v1/mediation/worklist", "mediator-cd", {}),
             "follow-up worklist": ("/api/v1/followup/worklist", "clerk", {"limit": 100})}
    with PeakRss(stack) as rss:
        rate, _ = await lifecycle(driver, dsns, 50, 200_000)
        figures.add(f"full lifecycle with {cases:,} cases in every database (complete cases/s)", rate)
        for label, (path, user, params) in reads.items():
            timings = []
            for _ in range(5):
                t = time.perf_counter()
                r = await driver.http.get(path, params=params, headers=driver.headers[user])
                r.raise_for_status()
                timings.append((time.perf_counter() - t) * 1000)
            figures.add(f"{label} with {cases:,} cases, median of 5 (ms)", statistics.median(timings), "{:,.0f}")
    for name, peak in rss.peak.items():
        figures.add(f"peak RSS {name} with {cases:,} cases (MiB)", peak, "{:,.0f}")


async def published(dsns: dict[str, str]) -> int:
    total = 0
    for dsn in dsns.values():
        conn = await asyncpg.connect(dsn)
        try:
            total += await conn.fetchval(repository.OUTBOX_COUNT)
        finally:
            await conn.close()
    return total


def main(*, cases: int | None = None, mode: str = "full", runs: int = 1, grow_to: int | None = None,
         through_console: bool = False, streams: int | None = None, replay_events: int | None = None,
         profile: int = 0) -> int:
    sizes = replace(Sizes.of(mode, cases), through_console=through_console, profile=profile)
    if replay_events is not None:
        sizes = replace(sizes, replay_events=replay_events)
    if grow_to is not None:
        sizes = replace(sizes, grow_to=grow_to)
    if streams is not None:
        sizes = replace(sizes, streams=streams)
    cpus = os.cpu_count()
    print(f"laborcase bench — {cpus} cores, Tansu broker, embedded PostgreSQL; {runs} run(s), {mode} sizes; API calls "
          f"{'through the console' if through_console else 'straight to the owning service (as a gateway routes them)'}",
          flush=True)
    results = []
    for n in range(runs):
        print(f"run {n + 1} of {runs}:", flush=True)
        results.append(asyncio.run(run(sizes)))
    if runs > 1:
        print(f"median of {runs} runs:")
        for line in summary(results):
            print(line)
    return 0
