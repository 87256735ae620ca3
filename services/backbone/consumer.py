"""Idempotent, transactional consumption of a batch of Kafka records.

One database transaction per batch: the inbox check, every handler's state changes, the events
they publish, parked events and dead letters commit together; the offsets are committed after.
A handler that fails for good sends its event to the dead-letter topic; a transient fault rolls
the batch back and retries it (bounded, jittered) without committing anything.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import asyncpg
from pydantic import BaseModel
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from events.catalog import dead_letter_topic, spec_for
from events.envelope import CloudEvent, EventRejected, decode_kafka_data, new_event, type_header
from services.backbone import metrics, tracing
from services.backbone.clock import SYSTEM_CLOCK, Clock
from services.backbone.db import is_transient
from services.backbone.deadline_store import DeadlineStore
from services.backbone.outbox import Record, decode_headers, encode_headers, enqueue, record_of
from services.calendar.model import WorkCalendar, local_date
from services.calendar.rules import DueRule
from services.calendar.store import missing_year_alerts

log = logging.getLogger(__name__)


class NotYetKnown(Exception):
    """The event refers to something this service does not know yet: park it and retry later."""


class Reject(Exception):
    """The event is well-formed but can never be applied here: dead-letter it with this reason."""


class _HandlerFailed(Exception):
    pass


@dataclass(frozen=True, slots=True)
class Inbound:
    """A consumed Kafka record, as the processor needs it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of(cls, record: Any) -> Inbound:
        return cls(record.topic, record.partition, record.offset, record.key, record.value,
                   tuple((k, v or b"") for k, v in (record.headers or ())))


@dataclass
class HandlerContext:
    """What a handler may touch: the open transaction, the outbox, deadlines."""

    conn: asyncpg.Connection
    service: str
    topic: str
    warn_ratio: float
    calendar: WorkCalendar
    #: business time of this unit of work (the runtime's clock, read once)
    now: datetime
    records: list[Record] = field(default_factory=list)
    #: W3C trace context of what is being handled; events published now are its children.
    traceparent: str | None = None

    async def due(self, rule: DueRule, *, case_id: str | None = None) -> tuple[datetime, bool]:
        """A due time on the working-day calendar; a provisional one raises the operator alert once."""
        due_at, provisional = rule.due(self.calendar)
        if provisional and rule.start is not None:
            years = self.calendar.missing_years(local_date(rule.start), local_date(due_at))
            for alert in await missing_year_alerts(self.conn, years, service=self.service, case_id=case_id,
                                                   at=self.now):
                self.publish("calendar.year_missing", alert, subject=f"calendar-{alert.year}")
        return due_at, provisional

    @property
    def source(self) -> str:
        return f"laborcase/{self.service}"

    def publish(self, event_type: str, data: BaseModel, *, subject: str, topic: str | None = None,
                key: str | None = None, time: datetime | None = None) -> CloudEvent:
        """Publish an event with this transaction (outbox)."""
        extensions = {"traceparent": tracing.child_of(self.traceparent)}
        event = new_event(event_type, source=self.source, data=data, subject=subject, time=time or self.now,
                          **extensions)
        self.records.append(record_of(event, topic=topic or self.topic, key=key))
        return event

    @property
    def deadlines(self) -> DeadlineStore:
        return DeadlineStore(self.conn, owner=self.service, topic=self.topic, emit=self.records.append,
                             now=self.now, warn_ratio=self.warn_ratio)


class Handler(Protocol):
    def __call__(self, ctx: HandlerContext, event: CloudEvent, data: Any) -> Awaitable[None]: ...


Handlers = dict[str, Handler]


@dataclass(frozen=True, slots=True)
class _Item:
    inbound: Inbound
    event: CloudEvent
    data: BaseModel


def dead_letter(inbound: Inbound, *, reason: str, service: str) -> Record:
    """The original bytes and headers, plus why and where from."""
    extra = (
        ("x-dlq-reason", reason.encode()[:4000]),
        ("x-dlq-topic", inbound.topic.encode()),
        ("x-dlq-partition", str(inbound.partition).encode()),
        ("x-dlq-offset", str(inbound.offset).encode()),
        ("x-dlq-service", service.encode()),
        ("x-dlq-at", datetime.now(UTC).isoformat().encode()),
    )
    return Record(topic=dead_letter_topic(inbound.topic), key=inbound.key, value=inbound.value or b"",
                  headers=tuple(h for h in inbound.headers if not h[0].startswith("x-dlq-")) + extra)


@dataclass
class EventProcessor:
    pool: asyncpg.Pool
    service: str
    topic: str
    handlers: Handlers
    warn_ratio: float = 0.8
    retry_attempts: int = 6
    park_max_age: timedelta = timedelta(days=7)
    on_committed: Callable[[], None] | None = None
    calendar: WorkCalendar = field(default_factory=WorkCalendar)
    clock: Clock = SYSTEM_CLOCK

    def context(self, conn: asyncpg.Connection) -> HandlerContext:
        return HandlerContext(conn, self.service, self.topic, self.warn_ratio, self.calendar, now=self.clock.now())

    # --- decoding ---------------------------------------------------------------------------

    def _decode(self, records: Sequence[Inbound]) -> tuple[list[_Item], list[Record]]:
        items: list[_Item] = []
        dead: list[Record] = []
        for inbound in records:
            routed = type_header(inbound.headers)
            if routed is not None and routed not in self.handlers and spec_for(routed) is not None:
                continue  # a catalogued event this service has no interest in: not even parsed
            try:
                event, data = decode_kafka_data(inbound.value, inbound.headers)
                if event.type in self.handlers:  # a known event this service has no interest in is dropped
                    items.append(_Item(inbound, event, data))
            except EventRejected as exc:
                dead.append(dead_letter(inbound, reason=f"{exc.code}: {exc.detail}", service=self.service))
                log.warning("event rejected", extra={"topic": inbound.topic, "offset": inbound.offset,
                                                     "reason": exc.code, "detail": exc.detail})
        return items, dead

    # --- one batch --------------------------------------------------------------------------

    async def process(self, records: Sequence[Inbound]) -> None:
        """Apply a batch exactly once (effects), retrying transient faults; raises when they persist."""
        items, dead = self._decode(records)
        if not items and not dead:
            return  # nothing this service handles: no transaction at all
        started = datetime.now(UTC)
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(is_transient),
            stop=stop_after_attempt(self.retry_attempts),
            wait=wait_exponential_jitter(initial=0.2, max=5),
            reraise=True,
            before_sleep=lambda rs: (
                metrics.RETRIES.labels(self.service, "consumer").inc(),
                log.warning("transient fault, retrying batch", extra={
                    "attempt": rs.attempt_number, "error": repr(rs.outcome.exception() if rs.outcome else None)}),
            ),
        ):
            with attempt:
                await self._commit(items, dead)
        metrics.BATCH_SECONDS.labels(self.service).observe((datetime.now(UTC) - started).total_seconds())
        for topic in {r.topic for r in dead}:
            metrics.DEAD_LETTERS.labels(self.service, topic).inc(sum(1 for r in dead if r.topic == topic))
        if self.on_committed is not None:
            self.on_committed()

    async def _commit(self, items: list[_Item], dead: list[Record]) -> None:
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    await self._apply(conn, items, dead, careful=False)
                return
            except _HandlerFailed:
                pass  # isolate the failing event: redo the batch with a savepoint per event
            async with conn.transaction():
                await self._apply(conn, items, dead, careful=True)

    async def _apply(self, conn: asyncpg.Connection, items: list[_Item], dead: list[Record], *,
                     careful: bool) -> None:
        ids = [i.event.id for i in items]
        seen = {r["event_id"] for r in await conn.fetch(
            "SELECT event_id FROM inbox WHERE event_id = ANY($1::uuid[])", ids)} if ids else set()
        ctx = self.context(conn)
        done: list[_Item] = []
        parked: list[tuple[_Item, str]] = []
        dlq = list(dead)
        for item in items:
            if item.event.id in seen:
                metrics.EVENTS_CONSUMED.labels(self.service, item.inbound.topic, "duplicate").inc()
                continue
            seen.add(item.event.id)
            handler = self.handlers[item.event.type]  # _decode kept only handled types
            ctx.traceparent = (item.event.model_extra or {}).get("traceparent") or tracing.from_headers(
                item.inbound.headers)
            if not careful:
                try:
                    await handler(ctx, item.event, item.data)
                except Exception as exc:
                    if is_transient(exc):
                        raise
                    raise _HandlerFailed from exc
                done.append(item)
                continue
            outcome = await self._run_isolated(ctx, handler, item)
            if outcome is None:
                done.append(item)
            elif isinstance(outcome, NotYetKnown):
                parked.append((item, str(outcome)))
            else:
                dlq.append(dead_letter(item.inbound, reason=outcome, service=self.service))
        await self._record(conn, done)
        if parked:
            await conn.executemany(
                'INSERT INTO parked (event_id, event_type, topic, "partition", "offset", key, value, headers, '
                "reason, next_attempt_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9, now() + interval '1 second') "
                "ON CONFLICT (event_id) DO NOTHING",
                [(i.event.id, i.event.type, i.inbound.topic, i.inbound.partition, i.inbound.offset,
                  i.inbound.key, i.inbound.value, encode_headers(i.inbound.headers), reason)
                 for i, reason in parked],
            )
            log.info("events parked", extra={"count": len(parked), "reasons": [r for _, r in parked][:5]})
        await enqueue(conn, ctx.records + dlq, service=self.service)
        for item in done:
            metrics.EVENTS_CONSUMED.labels(self.service, item.inbound.topic, "processed").inc()

    async def _run_isolated(self, ctx: HandlerContext, handler: Handler, item: _Item) -> NotYetKnown | str | None:
        """Run one handler in a savepoint. None: applied; NotYetKnown: park; str: dead-letter reason."""
        mark = len(ctx.records)
        try:
            async with ctx.conn.transaction():
                await handler(ctx, item.event, item.data)
            return None
        except NotYetKnown as exc:
            del ctx.records[mark:]
            return exc
        except Reject as exc:
            del ctx.records[mark:]
            return f"invalid: {exc}"
        except Exception as exc:
            if is_transient(exc):
                raise
            del ctx.records[mark:]
            log.exception("handler failed; event dead-lettered", extra={"type": item.event.type})
            return f"handler_error: {exc!r}"

    async def _record(self, conn: asyncpg.Connection, done: Sequence[_Item]) -> None:
        if done:
            await conn.execute(
                "INSERT INTO inbox (event_id, event_type) SELECT * FROM unnest($1::uuid[], $2::text[]) "
                "ON CONFLICT DO NOTHING",
                [i.event.id for i in done], [i.event.type for i in done],
            )

    # --- parked events ----------------------------------------------------------------------

    async def retry_parked(self, limit: int = 200) -> int:
        """Retry the parked events whose time has come; returns how many were applied."""
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                'SELECT event_id, topic, "partition", "offset", key, value, headers, attempts, parked_at '
                "FROM parked WHERE next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1 "
                "FOR UPDATE SKIP LOCKED",
                limit,
            )
            if not rows:
                return 0
            ctx = self.context(conn)
            applied: list[_Item] = []
            dlq: list[Record] = []
            seen = {r["event_id"] for r in await conn.fetch(
                "SELECT event_id FROM inbox WHERE event_id = ANY($1::uuid[])", [r["event_id"] for r in rows])}
            for row in rows:
                inbound = Inbound(row["topic"], row["partition"], row["offset"], row["key"], row["value"],
                                  tuple(decode_headers(row["headers"])))
                event, data = decode_kafka_data(inbound.value, inbound.headers)
                if row["event_id"] in seen or event.type not in self.handlers:
                    await conn.execute("DELETE FROM parked WHERE event_id = $1", row["event_id"])
                    continue
                item = _Item(inbound, event, data)
                outcome = await self._run_isolated(ctx, self.handlers[event.type], item)
                if isinstance(outcome, NotYetKnown) and row["parked_at"] > datetime.now(UTC) - self.park_max_age:
                    delay = min(2 ** min(row["attempts"], 10) * 0.5, 60.0)
                    await conn.execute(
                        "UPDATE parked SET attempts = attempts + 1, reason = $2, "
                        "next_attempt_at = now() + make_interval(secs => $3) WHERE event_id = $1",
                        row["event_id"], str(outcome), delay,
                    )
                    continue
                await conn.execute("DELETE FROM parked WHERE event_id = $1", row["event_id"])
                if outcome is None:
                    applied.append(item)
                else:
                    reason = outcome if isinstance(outcome, str) else f"parked too long: {outcome}"
                    dlq.append(dead_letter(inbound, reason=reason, service=self.service))
            await self._record(conn, applied)
            await enqueue(conn, ctx.records + dlq, service=self.service)
            return len(applied)

