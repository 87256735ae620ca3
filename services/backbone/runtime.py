"""Wiring of one service process: database, outbox relay, consumer, deadlines, HTTP, shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Request
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage

from events.calendar import CalendarYearLoaded
from events.catalog import MARKER_TOPIC, carried_by
from services.backbone import calendar_store, db, kafka, metrics, outbox, tracing
from services.backbone.consumer import (
    CommitPace,
    EventProcessor,
    HandlerContext,
    Handlers,
    Inbound,
    Stall,
    parked_count,
    run_hooks,
)
from services.backbone.db import BACKBONE_MIGRATIONS, create_pool, grant_runtime_role, is_transient, migrate
from services.backbone.deadline import Deadline
from services.backbone.deadline_store import fire_due, next_fire_at
from services.backbone.deadline_store import gauges as deadline_gauges
from services.backbone.http import at_once
from services.backbone.outbox import Relay, prune, republish_retained
from services.backbone.settings import Settings
from services.calendar.model import WorkCalendar, YearData

log = logging.getLogger(__name__)

#: Exit status of a service that cannot start because of its configuration (sysexits.h EX_CONFIG): restarting
#: it cannot help, so ``laborcase up`` stops instead of restarting it, and shows the logged reason.
EX_CONFIG = 78
CONFIGURATION_ERROR = "cannot start: configuration error"

Loop = Callable[["Runtime", asyncio.Event], Awaitable[None]]


@dataclass
class ServiceSpec:
    """What makes a service itself; everything else is the runtime's."""

    name: str
    topic: str
    consumes: tuple[str, ...] = ()
    handlers: Handlers = field(default_factory=dict)
    migrations: Path | None = None
    routers: Callable[[Runtime], Sequence[APIRouter]] | None = None
    loops: Sequence[Loop] = ()
    #: Runs once the database is migrated, before consuming (e.g. seeding registries from configuration).
    on_start: Callable[[Runtime], Awaitable[None]] | None = None
    #: Retention rules of the service's own tables, run with the backbone's (docs/operations/retention.md).
    housekeeping: Sequence[Callable[[Runtime], Awaitable[Any]]] = ()
    #: Called in the firing transaction when one of this service's own deadlines warns or breaches, with that
    #: transaction's unit of work: what it publishes commits with the signal.
    on_deadline: Callable[[HandlerContext, Deadline, str], Awaitable[None]] | None = None
    """(ctx, deadline, signal) -> None"""
    #: What sits between the edge and the service's FastAPI app (e.g. ``http.FastPath`` for a hot route)
    front: Callable[[Runtime, Any], Any] | None = None


@dataclass
class Extension:
    """What the process adds to every service's runtime beside the service's own spec (services/process.py
    wires them: sessions, for instance). The backbone knows only this shape, never what fills it."""

    name: str
    #: handlers of events that every service reading their topic applies (e.g. ``auth.session_revoked``)
    handlers: Handlers = field(default_factory=dict)
    on_start: Callable[[Runtime], Awaitable[None]] | None = None
    housekeeping: Callable[[Runtime], Awaitable[Any]] | None = None
    #: (seconds, job): a job run that often while the service runs
    every: tuple[float, Callable[[], Awaitable[Any]]] | None = None


#: Checks a partner record's signature before it is decoded (services/security/partners.py); None: no check.
Authenticate = Callable[..., Any]


class Runtime:
    def __init__(self, spec: ServiceSpec, settings: Settings | None = None, *, dsn: str | None = None,
                 authenticate: Authenticate | None = None, extensions: Sequence[Extension] = ()):
        self.spec = spec
        self.settings = settings or Settings()
        self.dsn = dsn or self.settings.dsn_for(spec.name)
        self.instance = f"{spec.name}-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.stopping = asyncio.Event()
        self.pool: asyncpg.Pool
        self.relay: Relay
        self.processor: EventProcessor
        self._tasks: list[asyncio.Task[Any]] = []
        self._broker: KafkaBroker | None = None
        self._subscriber: Any = None
        self._joined = False
        self._parked_wake = asyncio.Event()
        self._has_parked = True
        self.started = False
        self.calendar = WorkCalendar()
        #: business time (shifted only in test mode, see services/backbone/clock.py)
        self.clock = self.settings.clock
        self.authenticate = authenticate
        self.extensions = tuple(extensions)
        #: the session registry every request is held against, when the process wires one (services/process.py)
        self.sessions: Any = None

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        return self.settings.kafka_bootstrap_servers

    async def start(self) -> None:
        await self.open()
        s = self.settings
        await kafka.wait_for_broker(self.bootstrap)
        await self.ensure_topics()
        self.producer = kafka.producer(self.bootstrap, idempotence=s.kafka_idempotence,
                                       client_id=f"laborcase-{self.spec.name}", settings=s)
        await kafka.start_producer(self.producer, bootstrap=self.bootstrap, idempotence=s.kafka_idempotence)
        self.relay = Relay(self.pool, self.producer, self.spec.name, owner=self.instance,
                           batch_size=s.relay_batch_size, on_missing_topic=self.check_broker_generation,
                           dsn=self.dsn)
        await self.check_broker_generation()
        self._spawn(self.relay.run(self.stopping), "relay")
        self._spawn(self._deadline_loop(), "deadlines")
        self._spawn(self._parked_loop(), "parked")
        self._spawn(self._every(s.marker_check_seconds, self.check_broker_generation), "marker")
        self._spawn(self._every(10, self._housekeeping), "housekeeping")
        for extension in self.extensions:
            if extension.every is not None:
                self._spawn(self._every(*extension.every), extension.name)
        for loop in self.spec.loops:
            self._spawn(loop(self, self.stopping), getattr(loop, "__name__", "loop"))
        if self.spec.consumes:
            await self._start_consumer()
        self.started = True
        log.info("service started", extra={"instance": self.instance, "consumes": list(self.spec.consumes)})

    async def open(self) -> None:
        """Everything but the broker: the database migrated, the calendar loaded, the extensions and the
        service's start hook run, the event processor ready. ``start`` opens, then connects to Kafka."""
        s = self.settings
        if self.clock.shifted:
            log.warning("business clock shifted (test mode)", extra={"now": self.clock.now().isoformat(),
                                                                      "offset_seconds": s.clock_offset_seconds})
        self.pool = await create_pool(self.dsn, size=s.db_pool_size)
        sources = [("backbone", BACKBONE_MIGRATIONS)]
        if self.spec.migrations is not None:
            sources.append((self.spec.name, self.spec.migrations))
        owner_dsn = self.settings.migration_dsn_for(self.spec.name)
        if owner_dsn:  # migrations as the owning role; this service's own role gets only what it needs
            owner = await create_pool(owner_dsn, size=1)
            try:
                await migrate(owner, sources)
                await grant_runtime_role(owner, await db.current_role(self.pool))
            finally:
                await owner.close()
        else:
            await migrate(self.pool, sources)
        await calendar_store.seed(self.pool)
        self.calendar = await calendar_store.load(self.pool)
        for extension in self.extensions:
            if extension.on_start is not None:
                await extension.on_start(self)
        if self.spec.on_start is not None:
            await self.spec.on_start(self)
        handlers = dict(self.spec.handlers)
        shared: Handlers = {"calendar.year_loaded": self._on_calendar_year}
        for extension in self.extensions:
            shared.update(extension.handlers)
        for event_type, handler in shared.items():
            if carried_by(event_type, self.spec.consumes):  # every service reading the event's topic applies it
                handlers.setdefault(event_type, handler)
        self.processor = EventProcessor(
            self.pool, self.spec.name, self.spec.topic, handlers,
            warn_ratio=s.deadline_warning_ratio, park_max_age=timedelta(hours=s.park_max_age_hours),
            on_committed=self._after_commit, calendar=self.calendar, clock=self.clock,
            max_event_bytes=s.max_event_bytes, authenticate=self.authenticate,
        )
        self._stall = Stall()
        self._pace = CommitPace(self.settings.consumer_skip_commit_seconds)

    async def stop(self) -> None:
        """Graceful: finish the in-flight batch, drain the outbox, release leases."""
        self.stopping.set()
        if self._broker is not None:
            await self._broker.stop()
        for task in self._tasks:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(asyncio.shield(task), 10)
            task.cancel()
        with contextlib.suppress(Exception):
            await self.producer.stop()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.pool.close(), 10)
        log.info("service stopped", extra={"instance": self.instance})

    def _spawn(self, coro: Awaitable[Any], name: str) -> None:
        task = asyncio.ensure_future(coro)
        task.set_name(f"{self.spec.name}:{name}")
        task.add_done_callback(self._task_done)
        self._tasks.append(task)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        if not task.cancelled() and task.exception() is not None and not self.stopping.is_set():
            log.error("background task died", extra={"task": task.get_name()}, exc_info=task.exception())

    # --- units of work -------------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def unit_of_work(self, traceparent: str | None = None) -> AsyncIterator[HandlerContext]:
        """One transaction for an HTTP use case: state, events (outbox) and deadlines together."""
        async with self.pool.acquire() as conn, conn.transaction():
            ctx = self.processor.context(conn)
            ctx.traceparent = traceparent or tracing.CURRENT.get()
            yield ctx
            await ctx.write_out()
        self.relay.wake()
        run_hooks(ctx.committed_hooks)

    # --- the working-day calendar ----------------------------------------------------------------

    def use_calendar(self, calendar: WorkCalendar) -> None:
        self.calendar = calendar
        self.processor.calendar = calendar

    async def apply_calendar_year(self, ctx: HandlerContext, year: YearData) -> YearData:
        """Store a year, switch to it, and recompute this service's provisional deadlines."""
        saved = await calendar_store.save_year(ctx.conn, year)
        self.use_calendar(WorkCalendar.of([*self.calendar.years.values(), saved]))
        ctx.calendar = self.calendar
        changed = await ctx.deadlines.recompute_provisional(
            self.calendar, at=ctx.now, reason=f"工作日历更新：已加载{saved.year}年数据（第{saved.version}版）")
        log.info("calendar year loaded", extra={"year": saved.year, "version": saved.version,
                                                "deadlines_recomputed": changed})
        return saved

    async def _on_calendar_year(self, ctx: HandlerContext, event: Any, data: CalendarYearLoaded) -> None:
        await self.apply_calendar_year(ctx, calendar_store.year_of(data))

    # --- consumer ----------------------------------------------------------------------------

    async def _start_consumer(self) -> None:
        self._broker, self._subscriber = self.consumer_broker()
        await self._broker.start()

    def consumer_broker(self) -> tuple[KafkaBroker, Any]:
        """The service's Kafka consumer: one batch subscriber on every consumed topic, each batch handed to the
        event processor, committed after it (or rewound). Built apart from starting it, so a test can run it on
        FastStream's TestKafkaBroker (tests/integration/test_consumer_routing.py)."""
        s = self.settings
        broker = KafkaBroker(
            self.bootstrap,
            security=kafka.broker_security(s),
            client_id=f"laborcase-{self.spec.name}",
            allow_auto_create_topics=False,
            graceful_timeout=30,
            log_level=logging.DEBUG,
            logger=logging.getLogger(f"faststream.{self.spec.name}"),
        )

        async def raw(message: Any) -> Any:
            return None

        subscriber = broker.subscriber(
            *self.spec.consumes,
            parser=tolerant_parser,
            group_id=f"laborcase.{self.spec.name}",
            auto_offset_reset="earliest",
            batch=True,
            max_records=s.consumer_batch_size,
            batch_timeout_ms=s.consumer_batch_timeout_ms,
            ack_policy=AckPolicy.MANUAL,
            decoder=raw,
            session_timeout_ms=s.kafka_session_timeout_ms,
            fetch_max_wait_ms=s.kafka_fetch_max_wait_ms,
            heartbeat_interval_ms=s.kafka_heartbeat_interval_ms,
        )
        kafka.waits_without_sleeping(subscriber, wait_ms=s.consumer_batch_timeout_ms, max_records=s.consumer_batch_size)

        @subscriber
        async def on_batch(body: Any) -> None:
            # The batch is read from FastStream's context, not asked for as a parameter (``msg: KafkaMessage``):
            # FastStream resolves such a parameter with a plain function, which fast_depends runs in a worker
            # thread — a thread hop for every batch, about 0.26 ms of CPU, more than skipping a batch's records.
            msg: KafkaMessage = broker.context.get_local("message")
            records = tuple(msg.raw_message) if isinstance(msg.raw_message, tuple | list) else (msg.raw_message,)
            self._joined = True
            inbound = [Inbound.of(r) for r in records]
            try:
                changed = await self.processor.process(inbound)
            except Exception as exc:
                if not await self._after_failed_batch(inbound, exc):
                    await msg.nack()  # rewind every partition of the batch; nothing committed
                    await asyncio.sleep(1)
                    return
                changed = True
            if self._stall.rounds:
                log.warning("batch processed after failing rounds", extra={"rounds": self._stall.rounds})
                self._stall.cleared()
                metrics.FAILING_ROUNDS.labels(self.spec.name).set(0)
            if not self._pace.due(changed=changed):
                return  # its positions go with the next commit (consumer.CommitPace)
            try:
                await msg.ack()
            except Exception as exc:  # rebalance: the new owner re-reads; the inbox absorbs it
                self._pace.failed()
                log.warning("offset commit failed", extra={"error": repr(exc)})
            else:
                self._pace.committed()

        return broker, subscriber

    async def _after_failed_batch(self, inbound: list[Inbound], exc: BaseException) -> bool:
        """A batch failed after its retries: count and report it; after enough rounds, while the database
        answers, isolate the event that keeps failing. True when the batch is now done (commit it)."""
        rounds = self._stall.failed(inbound)
        metrics.BATCH_FAILURES.labels(self.spec.name).inc()
        metrics.FAILING_ROUNDS.labels(self.spec.name).set(rounds)
        log.error("batch not processed; rewinding", exc_info=not is_transient(exc), extra={
            "round": rounds, "offsets": Stall.describe(inbound), "error": repr(exc)})
        if rounds < self.settings.consumer_isolate_after_rounds or not await self.database_answers():
            return False
        try:
            isolated = await self.processor.process_one_by_one(inbound, rounds=rounds,
                                                               healthy=self.database_answers)
        except Exception as again:
            log.error("batch still failing one event at a time; rewinding", extra={"error": repr(again)})
            return False
        log.warning("batch processed one event at a time", extra={"isolated": isolated,
                                                                  "offsets": Stall.describe(inbound)})
        return True

    async def database_answers(self) -> bool:
        return await db.answers(self.pool)

    # --- loops -------------------------------------------------------------------------------

    async def _every(self, seconds: float, job: Callable[[], Awaitable[Any]]) -> None:
        while not self.stopping.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), seconds)
            if self.stopping.is_set():
                return
            try:
                await job()
            except Exception as exc:
                log.warning("periodic job failed", extra={"job": getattr(job, "__name__", "?"),
                                                          "error": repr(exc)})

    async def _deadline_loop(self) -> None:
        backoff = 0.2
        while not self.stopping.is_set():
            try:
                fired = await fire_due(self.pool, owner=self.spec.name, topic=self.spec.topic,
                                       service=self.spec.name, now=self.clock.now(), on_fire=self._on_fire)
                backoff = 0.2
                if fired:
                    continue
                upcoming = await next_fire_at(self.pool)
                wait = 1.0
                if upcoming is not None:
                    wait = min(1.0, max(0.0, (upcoming - self.clock.now()).total_seconds()))
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("deadline scan failed")
                wait, backoff = backoff, min(backoff * 2, 5)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.stopping.wait(), wait)

    async def _on_fire(self, conn: asyncpg.Connection, deadline: Deadline, signal: str, records: list[Any]) -> None:
        if self.spec.on_deadline is not None:
            ctx = self.processor.context(conn)
            ctx.records = records  # the firing transaction's outbox records
            await self.spec.on_deadline(ctx, deadline, signal)
            await ctx.flush_deferred()

    def _after_commit(self) -> None:
        if self._has_parked:
            self._parked_wake.set()

    async def _parked_loop(self) -> None:
        while not self.stopping.is_set():
            try:
                applied = await self.processor.retry_parked()
                remaining = await parked_count(self.pool)
                metrics.PARKED.labels(self.spec.name).set(remaining)
                self._has_parked = remaining > 0
                if applied:
                    self.relay.wake()
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("parked retry failed")
            self._parked_wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._parked_wake.wait(), 1.0)

    async def _housekeeping(self) -> None:
        s = self.settings
        metrics.OUTBOX_BACKLOG.labels(self.spec.name).set(await outbox.backlog(self.pool))
        running, soon, late = await deadline_gauges(self.pool, now=self.clock.now())
        metrics.DEADLINES_OPEN.labels(self.spec.name).set(running)
        metrics.DEADLINES_DUE_SOON.labels(self.spec.name).set(soon)
        metrics.DEADLINES_LATE.labels(self.spec.name).set(late)
        await self._consumer_lag()
        await prune(self.pool, outbox_hours=s.outbox_retention_hours, inbox_hours=s.inbox_retention_hours,
                    refused_days=s.dead_letter_retention_days)
        for extension in self.extensions:
            if extension.housekeeping is not None:
                await extension.housekeeping(self)
        for job in self.spec.housekeeping:
            await job(self)

    async def _consumer_lag(self) -> None:
        consumer = getattr(self._subscriber, "consumer", None)
        if consumer is None:
            return
        lag: dict[str, int] = {}
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is None:  # nothing fetched from it yet
                continue
            lag[tp.topic] = lag.get(tp.topic, 0) + max(0, high - await consumer.position(tp))
        for topic, value in lag.items():
            metrics.CONSUMER_LAG.labels(self.spec.name, topic).set(value)

    # --- the broker's generation ---------------------------------------------------------------

    async def ensure_topics(self) -> list[str]:
        topics = kafka.topics_for([self.spec.topic, *self.spec.consumes, MARKER_TOPIC],
                                  with_dead_letters=self.spec.consumes, settings=self.settings)
        return await kafka.ensure_topics(self.bootstrap, topics, settings=self.settings)

    async def check_broker_generation(self) -> bool:
        """Re-publish the retained outbox when the broker has positively lost our marker.

        The local broker keeps its log in memory: after a restart it is empty while our database is not.
        The same check restores a production cluster rebuilt after a disaster. Only evidence counts — the
        marker topic gone, present and empty, or read whole without our marker; a broker that cannot be
        read in time (slow, cut off) is "unknown" and checked again later, never taken for a lost log.
        """
        marker = await outbox.marker(self.pool, self.spec.name)
        if marker is not None:
            state = await kafka.marker_state(self.bootstrap, marker)
            if state in ("present", "unknown"):
                return False
            log.warning("broker lost its log: re-publishing retained events", extra={"marker": state})
        await self.ensure_topics()
        count = await republish_retained(self.pool)
        new_marker = uuid.uuid4()
        await kafka.write_marker(self.producer, self.spec.name, new_marker)
        await outbox.save_marker(self.pool, self.spec.name, new_marker)
        if marker is not None:
            log.warning("retained events re-published", extra={"events": count})
        if count:
            self.relay.wake()
        return True

    # --- readiness ---------------------------------------------------------------------------

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        checks: dict[str, Any] = {}
        checks["database"] = "ok" if await db.answers(self.pool) else "unavailable"
        checks["relay"] = "ok" if self.started and not self.stopping.is_set() else "stopped"
        if self.spec.consumes:
            consumer = getattr(self._subscriber, "consumer", None)
            if consumer is not None and consumer.assignment():
                self._joined = True
            checks["consumer"] = "ok" if self._joined else "joining group"
        ready = all(v == "ok" for v in checks.values())
        return ready, {"checks": checks}


def runtime_of(request: Request) -> Runtime:
    """The runtime serving this request (set on the app by the composition root)."""
    return request.app.state.runtime


#: A route's runtime: ``runtime: RuntimeDep`` (a coroutine: FastAPI would run a plain function in a worker thread).
RuntimeDep = Annotated[Runtime, Depends(at_once(runtime_of))]


def _readable(record: Any) -> Any:
    if all(_is_text(v) for _, v in record.headers or ()):
        return record
    return dataclasses.replace(record, headers=[(k, (v or b"").decode("utf-8", "replace").encode())
                                                for k, v in record.headers])


def _is_text(value: bytes | None) -> bool:
    try:
        (value or b"").decode()
        return True
    except UnicodeDecodeError:
        return False


async def tolerant_parser(records: Any, original: Callable[[Any], Awaitable[Any]]) -> Any:
    """FastStream decodes every header value of a batch as UTF-8 before the handler runs: one partner record
    with a header that is not text would stop the consumer for good. It parses copies whose unreadable header
    values are replaced; the handler gets the original records back (a dead letter keeps their own bytes)."""
    batch = isinstance(records, tuple | list)  # aiokafka gives a batch as a tuple, FastStream's test broker a list
    message = await original(type(records)(_readable(r) for r in records) if batch else _readable(records))
    message.raw_message = records
    return message
