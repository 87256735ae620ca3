"""Idempotent, transactional consumption of a batch of Kafka records.

One database transaction per batch: the inbox check, every handler's state changes, the events
they publish, parked events and dead letters commit together; the offsets are committed after.
A handler that fails for good sends its event to the dead-letter topic; a transient fault rolls
the batch back and retries it (bounded, jittered) without committing anything.
"""

from __future__ import annotations

import logging
import operator
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, Protocol, TypeVar

import asyncpg
from pydantic import BaseModel
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from events.catalog import PARTNER_TOPICS, dead_letter_topic, spec_for
from events.envelope import CloudEvent, EventRejected, decode_kafka_data, new_event, type_header
from services.backbone import caselog, metrics, tracing
from services.backbone.calendar_store import missing_year_alerts
from services.backbone.clock import SYSTEM_CLOCK, Clock
from services.backbone.db import is_transient
from services.backbone.deadline_store import DeadlineStore
from services.backbone.errors import DomainError
from services.backbone.outbox import Record, decode_headers, encode_headers, enqueue, record_of
from services.calendar.model import WorkCalendar, local_date
from services.calendar.rules import DueRule

log = logging.getLogger(__name__)


class NotYetKnown(Exception):
    """The event refers to something this service does not know yet: park it and retry later."""


class Reject(Exception):
    """The event is well-formed but can never be applied here: dead-letter it with this reason. A use case's
    domain error (services/backbone/errors.py) raised from a handler is dead-lettered the same way."""


@dataclass
class Stall:
    """Consecutive failed rounds of the batch that starts at the same offsets (a rewound batch comes back)."""

    start: frozenset[tuple[str, int, int]] = frozenset()
    rounds: int = 0

    @staticmethod
    def start_of(records: Sequence[Inbound]) -> frozenset[tuple[str, int, int]]:
        first: dict[tuple[str, int], int] = {}
        for r in records:
            first[(r.topic, r.partition)] = min(r.offset, first.get((r.topic, r.partition), r.offset))
        return frozenset((t, p, o) for (t, p), o in first.items())

    def failed(self, records: Sequence[Inbound]) -> int:
        start = self.start_of(records)
        self.rounds = self.rounds + 1 if start == self.start else 1
        self.start = start
        return self.rounds

    def cleared(self) -> None:
        self.start, self.rounds = frozenset(), 0

    @staticmethod
    def describe(records: Sequence[Inbound]) -> list[str]:
        """Offsets per partition, as an operator reads them: ``court.events[2]@118-130``."""
        spans: dict[tuple[str, int], list[int]] = {}
        for r in records:
            spans.setdefault((r.topic, r.partition), []).append(r.offset)
        return [f"{t}[{p}]@{min(o)}-{max(o)}" for (t, p), o in sorted(spans.items())]


@dataclass
class CommitPace:
    """When a consumed batch's offsets are committed.

    A batch that changed something here — an event applied, parked or dead-lettered — commits at once: the
    committed positions are what a rebuild takes for "applied and published" (services/supervision/rebuild.py).
    A batch of records this service only passed over (most of what legal aid or mediation is handed) changed
    nothing: its positions go with the next commit, or with the first such batch read ``skip_seconds`` or more
    after the last commit. Nothing commits between batches, so a service that goes quiet right after passing
    over records leaves their positions uncommitted until it reads again; stopped or killed meanwhile, it reads
    them again and passes over them again. A commit is a round trip to the broker's coordinator: on the local
    broker about 0.5 ms of CPU (broker and client), several times a case for every service.

    A commit that failed is owed: the next batch commits, whatever it holds (``failed``), so that the committed
    positions do not stay behind events already applied."""

    skip_seconds: float = 5.0
    clock: Callable[[], float] = time.monotonic
    _last: float = field(default=float("-inf"), init=False)
    _owed: bool = field(default=False, init=False)

    def due(self, *, changed: bool) -> bool:
        """Whether the batch just processed commits now (``changed``: it applied, parked or dead-lettered)."""
        self._owed = self._owed or changed
        return self._owed or self.clock() - self._last >= self.skip_seconds

    def committed(self) -> None:
        self._last, self._owed = self.clock(), False

    def failed(self) -> None:
        self._owed = True


class _BatchFailed(Exception):
    """The fast path failed for a reason that is not transient: redo the batch one savepoint per event."""


class _Duplicate:
    """An event found processed already when claimed on its own (``EventProcessor._run_isolated``)."""


DUPLICATE = _Duplicate()
#: what applying one event on its own came to: applied (None), processed already, to park, or dead-lettered (why)
Outcome = NotYetKnown | _Duplicate | str | None


class Inbound(NamedTuple):
    """A consumed Kafka record, as the processor needs it. A named tuple: immutable, and made for every record a
    consumer or a replay reads (a third of a microsecond, against three quarters for a frozen dataclass)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...] = ()

    @classmethod
    def of(cls, record: Any) -> Inbound:
        return cls(record.topic, record.partition, record.offset, record.key, record.value,
                   tuple([(k, v or b"") for k, v in record.headers or ()]))


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
    #: the proven sender of the partner event being handled (court or bureau), None for our own events
    partner: Any = None
    #: writes that nothing in this batch reads back, sent together when the batch (or, in isolation, the event)
    #: ends: statement -> rows, each row applied in the order it was deferred (``defer``)
    deferred: dict[str, list[tuple[Any, ...]]] = field(default_factory=dict)
    #: what a handler remembers for the rest of its batch (e.g. the cases whose row it already made)
    batch_memo: dict[str, Any] = field(default_factory=dict)
    #: what handlers fold over the batch (``gather``), each written with a few set-based statements at its end
    gathered: dict[str, Gathered] = field(default_factory=dict)
    #: the case log's entries (``caselog.log``), written last at the end, with the events published when they are
    case_log: list[caselog.Entry] = field(default_factory=list)
    #: what runs once this unit of work has committed (``when_committed``)
    committed_hooks: list[Callable[[], None]] = field(default_factory=list)

    def when_committed(self, hook: Callable[[], None]) -> None:
        """Run ``hook`` (once, however often it is asked for) after this unit of work commits — a wake-up for a
        loop that reads what it wrote, which it cannot see before the commit. Not run when it rolls back; an
        event rolled back alone in a batch that commits may leave its hook to run (a wake-up finds nothing)."""
        if hook not in self.committed_hooks:
            self.committed_hooks.append(hook)

    def defer(self, statement: str, *args: Any) -> None:
        """A write no later handler of this batch reads (an append-only row, an order-insensitive upsert): sent
        with every other row of the same statement in one pipelined round trip when the batch's work is done,
        in the same transaction, instead of one round trip each."""
        self.deferred.setdefault(statement, []).append(args)

    def gather(self, key: str, make: Callable[[], G]) -> G:
        """The batch's fold under ``key`` (made on first use): handlers add each event's effect to it instead of
        writing, and it writes them all — set-based, once — when the batch's work is done (``Gathered.flush``), in
        the same transaction. In isolation (an event in its own savepoint) the fold holds that event alone."""
        found = self.gathered.get(key)
        if found is None:
            found = self.gathered[key] = make()
        return found  # type: ignore[return-value]

    def forget_batch(self) -> None:
        """Nothing deferred, gathered or remembered: an event retried alone starts from the database as it is."""
        self.deferred.clear()
        self.gathered.clear()
        self.batch_memo.clear()
        self.case_log.clear()

    async def flush_deferred(self, *, outbox_from: int | None = None) -> None:
        """Everything held back written now, in this transaction: the folds, the deferred rows, then the case log's
        entries — in one statement with the records from ``outbox_from`` on (added to the outbox) when given. The
        records are taken after the folds and deferred rows are written: what those publish (an alert the
        projection raises at its batch's end) goes too."""
        gathered, self.gathered = self.gathered, {}
        for fold in gathered.values():
            await fold.flush(self)
        deferred, self.deferred = self.deferred, {}
        for statement, rows in deferred.items():
            if len(rows) == 1:
                await self.conn.execute(statement, *rows[0])
            else:
                await self.conn.executemany(statement, rows)
        entries, self.case_log = self.case_log, []
        if outbox_from is None:
            await caselog.write(self.conn, entries)
        else:
            await enqueue(self.conn, self.records[outbox_from:], service=self.service, log=entries)

    async def write_out(self) -> None:
        """The unit of work's end, written now in its transaction: what it held back, then the events it
        published (outbox) with its case log's entries in one statement. Nothing is held after it."""
        await self.flush_deferred(outbox_from=0)
        self.records = []

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


class Gathered(Protocol):
    """A batch's fold of many events' effects (``HandlerContext.gather``)."""

    async def flush(self, ctx: HandlerContext) -> None: ...


G = TypeVar("G", bound=Gathered)


class Handler(Protocol):
    def __call__(self, ctx: HandlerContext, event: CloudEvent, data: Any) -> Awaitable[None]: ...


Handlers = dict[str, Handler]


class _Item(NamedTuple):
    inbound: Inbound
    event: CloudEvent
    data: BaseModel
    #: the sender proven by its signature (partner topics only)
    partner: Any = None


#: Proves the sender of a record on a partner topic: returns who it is, or raises ``EventRejected``.
Authenticate = Callable[[Inbound, CloudEvent], Any]


#: A dead letter's reason is kept to this many bytes (the record's own bytes are kept whole).
REASON_BYTES = 4000


def _text(value: str, limit: int = REASON_BYTES) -> bytes:
    return value.encode("utf-8", "replace")[:limit].decode("utf-8", "ignore").encode()


def dead_letter(inbound: Inbound, *, reason: str, service: str) -> Record:
    """The original bytes and headers, plus why, where from and which service refused it."""
    extra = (
        ("x-dlq-reason", _text(reason)),
        ("x-dlq-topic", _text(inbound.topic, 300)),
        ("x-dlq-partition", str(inbound.partition).encode()),
        ("x-dlq-offset", str(inbound.offset).encode()),
        ("x-dlq-service", service.encode()),
        ("x-dlq-at", datetime.now(UTC).isoformat().encode()),
    )
    return Record(topic=dead_letter_topic(inbound.topic), key=inbound.key, value=inbound.value or b"",
                  headers=tuple(h for h in inbound.headers if not h[0].startswith("x-dlq-")) + extra)


#: Which of these events this service has already processed.
PROCESSED = "SELECT event_id FROM inbox WHERE event_id = ANY($1::uuid[])"
#: Events claimed before they are applied (a batch's at its start, an isolated event's in its savepoint): the ones
#: returned are this transaction's to apply; the others were processed already — or are being processed by another
#: transaction (a consumer that lost its partition in a rebalance, still working), which this insert waits for on
#: the primary key and then finds done.
CLAIM = ("INSERT INTO inbox (event_id, event_type) SELECT * FROM unnest($1::uuid[], $2::text[]) "
         "ON CONFLICT DO NOTHING RETURNING event_id")
#: An event that refers to something not known yet, retried in a second (an event parked already stays as it is).
PARK = ('INSERT INTO parked (event_id, event_type, topic, "partition", "offset", key, value, headers, '
        "reason, next_attempt_at) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9, now() + interval '1 second') "
        "ON CONFLICT (event_id) DO NOTHING")
#: The parked events whose time has come, locked (another replica retries the others).
DUE_PARKED = ('SELECT event_id, topic, "partition", "offset", key, value, headers, attempts, parked_at '
              "FROM parked WHERE next_attempt_at <= now() ORDER BY next_attempt_at LIMIT $1 "
              "FOR UPDATE SKIP LOCKED")
#: Still not known: try again later ($3: the delay in seconds).
PARK_AGAIN = ("UPDATE parked SET attempts = attempts + 1, reason = $2, "
              "next_attempt_at = now() + make_interval(secs => $3) WHERE event_id = $1")
UNPARK = "DELETE FROM parked WHERE event_id = $1"


def _traceparent(event: CloudEvent, inbound: Inbound) -> str | None:
    """The W3C trace context the event carries, if it is a plausible one (hostile input otherwise)."""
    value = (event.model_extra or {}).get("traceparent") or tracing.from_headers(inbound.headers)
    return value if isinstance(value, str) and len(value) <= 128 else None


#: UUIDs in their own order (``UUID.__lt__`` compares ``int``), compared in C: 0.12 µs an id to sort, not 0.6
_UUID_ORDER = operator.attrgetter("int")


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
    #: A record larger than this is dead-lettered unread (the broker's own limit is the outer bound).
    max_event_bytes: int = 1_048_576
    #: Records on partner topics must prove their sender (None: nothing on partner topics is accepted).
    authenticate: Authenticate | None = None

    def context(self, conn: asyncpg.Connection) -> HandlerContext:
        return HandlerContext(conn, self.service, self.topic, self.warn_ratio, self.calendar, now=self.clock.now())

    # --- decoding ---------------------------------------------------------------------------

    def _decode(self, records: Sequence[Inbound]) -> tuple[list[_Item], list[Record]]:
        """The records this service handles, decoded; every other record is skipped or dead-lettered.

        Never raises: whatever is wrong with a record (not JSON, not UTF-8, too deep, too large, wrong types, an
        unreadable header, or something the decoder was not written for) dead-letters that record alone.
        """
        items: list[_Item] = []
        dead: list[Record] = []
        for inbound in records:
            try:
                item = self.decode_one(inbound)
            except EventRejected as exc:
                reason, code = f"{exc.code}: {exc.detail}", exc.code
            except Exception as exc:  # the decoder met something it was not written for: still only this record
                reason, code = f"undecodable: {type(exc).__name__}: {exc}", "undecodable"
                log.warning("event could not be decoded", exc_info=True,
                            extra={"topic": inbound.topic, "partition": inbound.partition, "offset": inbound.offset})
            else:
                if item is not None:
                    items.append(item)
                continue
            dead.append(dead_letter(inbound, reason=reason, service=self.service))
            log.warning("event rejected", extra={"topic": inbound.topic, "partition": inbound.partition,
                                                 "offset": inbound.offset, "reason": code,
                                                 "detail": reason[:500]})
        return items, dead

    def decode_one(self, inbound: Inbound) -> _Item | None:
        """One record decoded as ``process`` decodes it: None when this service does not handle it; raises
        ``EventRejected`` (or whatever a hostile record makes the decoder raise) when it cannot be applied."""
        routed = type_header(inbound.headers)
        if routed is not None and routed not in self.handlers and spec_for(routed) is not None:
            return None  # a catalogued event this service has no interest in: not even parsed
        if inbound.value is not None and len(inbound.value) > self.max_event_bytes:
            raise EventRejected("too_large", f"{len(inbound.value)} bytes, more than the {self.max_event_bytes} "
                                             "accepted (LABORCASE_MAX_EVENT_BYTES)")
        event, data = decode_kafka_data(inbound.value, inbound.headers)
        if event.type not in self.handlers:
            return None  # a known event this service has no interest in
        partner = None
        if inbound.topic in PARTNER_TOPICS:
            if self.authenticate is None:
                raise EventRejected("unauthenticated", "partner events are not accepted here")
            partner = self.authenticate(inbound, event)
        return _Item(inbound, event, data, partner)

    # --- one batch --------------------------------------------------------------------------

    async def process(self, records: Sequence[Inbound]) -> bool:
        """Apply a batch exactly once (effects), retrying transient faults; raises when they persist. False when
        the batch held nothing this service handles and nothing to dead-letter (no transaction at all)."""
        items, dead = self._decode(records)
        await self.process_decoded(items, dead)
        return bool(items or dead)

    async def process_decoded(self, items: list[_Item], dead: list[Record], *, quiet: bool = False) -> None:
        """``process`` for records already decoded (``decode_one``) and the dead letters among them.

        ``quiet``: the events were applied before, by the live consumer, and what they published then is on the
        topics already (a rebuild replaying them): their state is written again, nothing is published again —
        neither the events the handlers publish nor dead letters."""
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
                await self._commit(items, dead, publish=not quiet)
        metrics.BATCH_SECONDS.labels(self.service).observe((datetime.now(UTC) - started).total_seconds())
        for topic in {r.topic for r in dead}:
            metrics.DEAD_LETTERS.labels(self.service, topic).inc(sum(1 for r in dead if r.topic == topic))
        if self.on_committed is not None:
            self.on_committed()

    async def _commit(self, items: list[_Item], dead: list[Record], *, publish: bool = True) -> None:
        async with self.pool.acquire() as conn:
            try:
                async with conn.transaction():
                    hooks = await self._apply(conn, items, dead, careful=False, publish=publish)
                run_hooks(hooks)
                return
            except _BatchFailed:
                pass  # isolate what failed: redo the batch with a savepoint per event
            except Exception as exc:
                if is_transient(exc):
                    raise
                log.warning("batch failed outside a handler; isolating its events", exc_info=True)
            async with conn.transaction():
                hooks = await self._apply(conn, items, dead, careful=True, publish=publish)
            run_hooks(hooks)

    async def _apply(self, conn: asyncpg.Connection, items: list[_Item], dead: list[Record], *,
                     careful: bool, publish: bool = True) -> list[Callable[[], None]]:
        """Every event of the batch in one transaction, claimed in the inbox at its start. Careful: each event in
        its own savepoint, claimed there, with its published records, so that whatever one event makes fail (a
        handler, its data in a statement) rolls back that event alone and dead-letters it. Not ``publish``: see
        ``process_decoded``. Returns what to run once the transaction commits (``when_committed``)."""
        new = {i.event.id for i in items} if careful else await self._claim(conn, items)
        ctx = self.context(conn)
        done: list[_Item] = []
        parked: list[tuple[_Item, str]] = []
        dlq = list(dead)
        for item in items:
            if item.event.id not in new:
                metrics.EVENTS_CONSUMED.labels(self.service, item.inbound.topic, "duplicate").inc()
                continue
            new.discard(item.event.id)  # a second copy in the same batch is a duplicate
            handler = self.handlers[item.event.type]  # _decode kept only handled types
            ctx.traceparent = _traceparent(item.event, item.inbound)
            ctx.partner = item.partner
            if not careful:
                try:
                    await handler(ctx, item.event, item.data)
                except Exception as exc:
                    if is_transient(exc):
                        raise
                    raise _BatchFailed from exc
                done.append(item)
                continue
            outcome = await self._run_isolated(ctx, handler, item, publish=publish)
            if outcome is None:
                metrics.EVENTS_CONSUMED.labels(self.service, item.inbound.topic, "processed").inc()
            elif outcome is DUPLICATE:
                metrics.EVENTS_CONSUMED.labels(self.service, item.inbound.topic, "duplicate").inc()
            elif isinstance(outcome, NotYetKnown):
                parked.append((item, str(outcome)))
            else:
                dlq.append(dead_letter(item.inbound, reason=outcome, service=self.service))
        if not careful:
            try:
                await ctx.flush_deferred(outbox_from=0 if publish else None)
            except Exception as exc:
                if is_transient(exc):
                    raise
                raise _BatchFailed from exc  # one event's row is bad: isolate them, each with its own writes
        if parked:
            await self._park(conn, parked)
        if publish:
            await enqueue(conn, dlq, service=self.service)
        elif len(dlq) > len(dead):
            log.warning("events the live consumer applied failed again in the replay; not dead-lettered again",
                        extra={"count": len(dlq) - len(dead)})
        for topic, count in Counter(item.inbound.topic for item in done).items():  # one label lookup a topic
            metrics.EVENTS_CONSUMED.labels(self.service, topic, "processed").inc(count)
        return ctx.committed_hooks

    async def _park(self, conn: asyncpg.Connection, parked: Sequence[tuple[_Item, str]]) -> None:
        await conn.executemany(
            PARK,
            [(i.event.id, i.event.type, i.inbound.topic, i.inbound.partition, i.inbound.offset,
              i.inbound.key, i.inbound.value, encode_headers(i.inbound.headers), reason[:REASON_BYTES])
             for i, reason in parked],
        )
        log.info("events parked", extra={"count": len(parked), "reasons": [r for _, r in parked][:5]})

    async def _run_isolated(self, ctx: HandlerContext, handler: Handler, item: _Item, *,
                            publish: bool = True) -> Outcome:
        """Run one handler in a savepoint. None: applied; DUPLICATE: processed already; NotYetKnown: park; str:
        dead-letter reason.

        The event is claimed in the inbox first, and what it wrote and published (unless not ``publish``) is
        written inside the same savepoint — so a statement failing on this event's data rolls back this event
        only, claim included, and an event another transaction is applying is waited for and then found done
        rather than applied twice."""
        mark = len(ctx.records)
        ctx.forget_batch()  # in isolation, nothing an earlier event did can be taken for granted
        try:
            async with ctx.conn.transaction():
                if not await self._claim(ctx.conn, [item]):
                    return DUPLICATE
                await handler(ctx, item.event, item.data)
                await ctx.flush_deferred(outbox_from=mark if publish else None)
            return None
        except NotYetKnown as exc:
            return exc
        except Reject as exc:
            return f"invalid: {exc}"
        except DomainError as exc:  # a use case's refusal: the event can never be applied as it is
            return f"invalid: {exc.describe()}"
        except Exception as exc:
            if is_transient(exc):
                raise
            log.exception("handler failed; event dead-lettered", extra={"type": item.event.type})
            return f"handler_error: {exc!r}"
        finally:
            del ctx.records[mark:]  # written, or rolled back with the savepoint
            ctx.forget_batch()  # nor is anything this event held back left for the next

    @staticmethod
    async def _claim(conn: asyncpg.Connection, items: Sequence[_Item]) -> set[uuid.UUID]:
        """The events among ``items`` this transaction is first to process, recorded as processed in the same
        statement: it commits with their effects or not at all. Those not returned were processed already, or
        by a transaction this one waited for. In id order, so that two claims cannot deadlock each other."""
        if not items:
            return set()
        types = {i.event.id: i.event.type for i in items}
        ordered = sorted(types, key=_UUID_ORDER)
        return {r["event_id"] for r in await conn.fetch(CLAIM, ordered, [types[i] for i in ordered])}

    # --- a batch that keeps failing ------------------------------------------------------------

    async def process_one_by_one(self, records: Sequence[Inbound], *, rounds: int,
                                 healthy: Callable[[], Awaitable[bool]]) -> int:
        """The last resort for a batch that keeps failing: each record in its own transaction, in order.

        A record that still fails while the database answers is the cause: it is dead-lettered, so that the
        partition moves on. While the database does not answer, nothing is dead-lettered (it is not the
        records' fault): this raises and the batch waits. Returns how many records were dead-lettered."""
        isolated = 0
        for inbound in records:
            try:
                await self.process([inbound])
                continue
            except Exception as exc:
                if not await healthy():
                    raise
                reason = f"kept failing after {rounds} rounds: {type(exc).__name__}: {exc}"
            async with self.pool.acquire() as conn, conn.transaction():
                await enqueue(conn, [dead_letter(inbound, reason=reason, service=self.service)], service=self.service)
            isolated += 1
            metrics.ISOLATED.labels(self.service).inc()
            metrics.DEAD_LETTERS.labels(self.service, dead_letter_topic(inbound.topic)).inc()
            log.error("event kept failing; dead-lettered so that its partition moves on",
                      extra={"topic": inbound.topic, "partition": inbound.partition, "offset": inbound.offset,
                             "reason": reason[:500]})
        if isolated and self.on_committed is not None:
            self.on_committed()
        return isolated

    # --- parked events ----------------------------------------------------------------------

    async def retry_parked(self, limit: int = 200) -> int:
        """Retry the parked events whose time has come; returns how many were applied.

        Each row on its own (a savepoint each): one that no longer decodes, or whose handler fails for good, is
        dead-lettered without holding back the others."""
        hooks: list[Callable[[], None]] = []
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(DUE_PARKED, limit)
            if not rows:
                return 0
            ctx = self.context(conn)
            hooks = ctx.committed_hooks
            applied = 0
            dlq: list[Record] = []
            seen = {r["event_id"] for r in await conn.fetch(PROCESSED, [r["event_id"] for r in rows])}
            for row in rows:
                if row["event_id"] in seen:
                    await conn.execute(UNPARK, row["event_id"])
                    continue
                inbound = Inbound(row["topic"], row["partition"], row["offset"], row["key"], row["value"])
                item: _Item | None = None
                try:
                    inbound = inbound._replace(headers=tuple(decode_headers(row["headers"])))
                    item = self.decode_one(inbound)
                except Exception as exc:
                    outcome: Outcome = f"parked event no longer decodes: {exc}"
                else:
                    if item is None:  # no longer handled here
                        await conn.execute(UNPARK, row["event_id"])
                        continue
                    ctx.partner = item.partner
                    outcome = await self._run_isolated(ctx, self.handlers[item.event.type], item)
                if outcome is DUPLICATE:  # applied meanwhile by a live batch
                    await conn.execute(UNPARK, row["event_id"])
                    continue
                if isinstance(outcome, NotYetKnown) and row["parked_at"] > datetime.now(UTC) - self.park_max_age:
                    delay = min(2 ** min(row["attempts"], 10) * 0.5, 60.0)
                    await conn.execute(PARK_AGAIN, row["event_id"], str(outcome)[:REASON_BYTES], delay)
                    continue
                await conn.execute(UNPARK, row["event_id"])
                if outcome is None:
                    applied += 1
                else:
                    reason = outcome if isinstance(outcome, str) else f"parked too long: {outcome}"
                    dlq.append(dead_letter(inbound, reason=reason, service=self.service))
            await enqueue(conn, dlq, service=self.service)
            for topic in {r.topic for r in dlq}:
                metrics.DEAD_LETTERS.labels(self.service, topic).inc(sum(1 for r in dlq if r.topic == topic))
        run_hooks(hooks)
        return applied


def run_hooks(hooks: Sequence[Callable[[], None]]) -> None:
    """What a committed unit of work asked to run (``HandlerContext.when_committed``): wake-ups, which must not
    fail the commit that already happened."""
    for hook in hooks:
        try:
            hook()
        except Exception:
            log.exception("after-commit hook failed")


PARKED_COUNT = "SELECT count(*) FROM parked"


async def parked_count(pool: asyncpg.Pool) -> int:
    return await pool.fetchval(PARKED_COUNT)
