"""Durable deadlines in the owning service's database, and the scanner that fires them.

Every change writes its ``deadline.*`` event to the outbox in the same transaction. The scanner
claims due rows with ``FOR UPDATE SKIP LOCKED``: several replicas never fire one deadline twice.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import asyncpg

from events.deadlines import DeadlineHandover, DeadlineSignal
from events.envelope import new_event
from events.intake import CaseReclassified
from services.backbone import deadline as rules
from services.backbone import metrics
from services.backbone.db import is_transient
from services.backbone.deadline import Deadline, Signal
from services.backbone.outbox import Record, enqueue, record_of
from services.calendar.model import WorkCalendar
from services.calendar.rules import DueRule, tier_rule

log = logging.getLogger(__name__)

_COLUMNS = (
    "id, case_id, kind, owner, state, started_at, due_at, warn_at, warn_ratio, warned, paused_at, "
    "pause_reason, paused_seconds, provisional, org_unit, met_at, breached_at, attributes"
)


MOVE_UNIT = "UPDATE deadlines SET org_unit = $3, updated_at = now() WHERE case_id = $1 AND owner = $2"
ANNOTATE = "UPDATE deadlines SET attributes = attributes || $2::jsonb, updated_at = now() WHERE id = $1"
CASE_CLOCKS = f"SELECT {_COLUMNS} FROM deadlines WHERE case_id = $1 AND owner = $2 ORDER BY started_at"

#: A deadline's whole row: ``_COLUMNS`` in order, then next_fire_at ($19).
INSERT_DEADLINE = (f"INSERT INTO deadlines ({_COLUMNS}, next_fire_at) VALUES "
                   "($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13,$14,$15,$16,$17,$18,$19)")
#: INSERT_DEADLINE for a clock that may be here already (a handed-over clock adopted again): nothing is written
#: then, and no row comes back.
INSERT_DEADLINE_ONCE = INSERT_DEADLINE + " ON CONFLICT (id) DO NOTHING RETURNING 1"
#: The same parameters as INSERT_DEADLINE: the identity ($1-$4) selects the row, the rest is written.
UPDATE_DEADLINE = ("UPDATE deadlines SET state=$5, started_at=$6, due_at=$7, warn_at=$8, warn_ratio=$9, "
                   "warned=$10, paused_at=$11, pause_reason=$12, paused_seconds=$13, provisional=$14, "
                   "org_unit=$15, met_at=$16, breached_at=$17, attributes=$18, next_fire_at=$19, "
                   "updated_at=now() WHERE id=$1 AND case_id=$2 AND kind=$3 AND owner=$4")
#: The active clock of a kind on a case ($3: the active states), locked for the change that follows.
ACTIVE_DEADLINE = (f"SELECT {_COLUMNS} FROM deadlines WHERE case_id=$1 AND kind=$2 AND state = ANY($3::text[]) "
                   "FOR UPDATE")
#: what ``rules.meet`` changes in a clock's row: met at ``{at}``, no pause, nothing left to fire
_MET = "state='met', met_at={at}, paused_at=NULL, next_fire_at=NULL, updated_at=now()"
#: ``meet`` in one round trip: the active clock of a kind locked and written met at $4; returns the clock as it was,
#: for the signal and on_time
MEET_ACTIVE = (f"WITH cur AS (SELECT {_COLUMNS} FROM deadlines WHERE case_id=$1 AND kind=$2 "
               "AND state = ANY($3::text[]) FOR UPDATE) "
               f"UPDATE deadlines d SET {_MET.format(at='$4')} FROM cur WHERE d.id = cur.id RETURNING "
               + ", ".join(f"cur.{c.strip()}" for c in _COLUMNS.split(",")))
#: several clocks this transaction holds locked, written met at $2 in one statement (``meet_clocks``)
MEET_MANY = f"UPDATE deadlines SET {_MET.format(at='$2')} WHERE id = ANY($1::uuid[])"
#: a case's active clocks of several kinds at once (one round trip where a use case moves them together)
ACTIVE_DEADLINES = (f"SELECT {_COLUMNS} FROM deadlines WHERE case_id=$1 AND kind = ANY($2::text[]) "
                    "AND state = ANY($3::text[]) ORDER BY started_at FOR UPDATE")
CASE_DEADLINES = f"SELECT {_COLUMNS} FROM deadlines WHERE case_id=$1 ORDER BY started_at"
DEADLINE_BY_ID = f"SELECT {_COLUMNS} FROM deadlines WHERE id = $1"
#: An owner's active provisional clocks that know their rule, locked: recomputed once calendar data arrives.
PROVISIONAL_DEADLINES = (f"SELECT {_COLUMNS} FROM deadlines WHERE provisional AND owner = $1 AND state = ANY($2::text[]) "
                         "AND attributes ? 'due_rule' FOR UPDATE")


async def case_clocks(conn: asyncpg.Connection | asyncpg.Pool, case_id: str, *, owner: str) -> list[Deadline]:
    """A service's clocks of one case, oldest first (for the case's page)."""
    return clocks_of(await conn.fetch(CASE_CLOCKS, case_id, owner))


_FIELDS = tuple(c.strip() for c in _COLUMNS.split(","))


def _from_row(row: Mapping[str, Any]) -> Deadline:
    """A deadline out of a row that holds ``_COLUMNS`` (others, such as a whole row's next_fire_at, left)."""
    return Deadline(**{k: row[k] for k in _FIELDS})


def clocks_of(rows: Sequence[Mapping[str, Any]]) -> list[Deadline]:
    """Deadlines out of their rows read whole (e.g. an array of them in a case's file)."""
    return [_from_row(r) for r in rows]


def signal_record(
    d: Deadline, signal: Signal, *, topic: str, at: datetime, actor: str | None = None,
    reason: str | None = None, on_time: bool | None = None, time: datetime | None = None,
) -> Record:
    """``at``: when the signal takes effect (a clock starts at the time received); ``time``: when it is written."""
    data = DeadlineSignal(
        deadline_id=str(d.id), case_id=d.case_id, kind=d.kind, owner=d.owner, state=d.state,
        started_at=d.started_at, due_at=d.due_at, warn_at=d.warn_at, at=at, org_unit=d.org_unit,
        provisional=d.provisional, paused_seconds=d.paused_seconds,
        pause_reason=d.pause_reason if signal == "paused" else None,  # type: ignore[arg-type]
        actor=actor, reason=reason, on_time=on_time,
    )
    event = new_event(f"deadline.{signal}", source=f"laborcase/{d.owner}", data=data, subject=d.case_id,
                      time=time or at)
    return record_of(event, topic=topic)


def handover_of(d: Deadline) -> DeadlineHandover:
    """What the next owner of a handed-over clock adopts."""
    return DeadlineHandover(
        deadline_id=str(d.id), kind=d.kind, started_at=d.started_at, due_at=d.due_at, warn_at=d.warn_at,
        warn_ratio=d.warn_ratio, warned=d.warned, paused_seconds=d.paused_seconds, provisional=d.provisional,
        paused_at=d.paused_at, pause_reason=d.pause_reason,  # type: ignore[arg-type]
        breached_at=d.breached_at, due_rule=d.attributes.get("due_rule"))


class DeadlineStore:
    """Deadline operations inside the caller's transaction; signals go to ``emit``."""

    def __init__(self, conn: asyncpg.Connection, *, owner: str, topic: str,
                 emit: Callable[[Record], None], now: datetime, warn_ratio: float = 0.8):
        self.conn, self.owner, self.topic, self.emit, self.warn_ratio = conn, owner, topic, emit, warn_ratio
        #: business time of the unit of work: the time every signal is written at
        self.now = now

    @staticmethod
    def _values(d: Deadline) -> tuple[Any, ...]:
        return (d.id, d.case_id, d.kind, d.owner, d.state, d.started_at, d.due_at, d.warn_at, d.warn_ratio,
                d.warned, d.paused_at, d.pause_reason, d.paused_seconds, d.provisional, d.org_unit, d.met_at,
                d.breached_at, d.attributes, d.next_fire_at)

    async def _save(self, d: Deadline, *, insert: bool = False) -> None:
        values = self._values(d)
        if insert:
            await self.conn.execute(INSERT_DEADLINE, *values)
        else:
            await self.conn.execute(UPDATE_DEADLINE, *values)

    def _signal(self, d: Deadline, signal: Signal, at: datetime, **kw: Any) -> None:
        self.emit(signal_record(d, signal, topic=self.topic, at=at, time=self.now, **kw))

    async def start(self, *, case_id: str, kind: str, started_at: datetime, due_at: datetime,
                    provisional: bool = False, org_unit: str | None = None, rule: DueRule | None = None,
                    attributes: dict[str, Any] | None = None, actor: str | None = None,
                    reason: str | None = None) -> Deadline:
        d = self._new(case_id=case_id, kind=kind, started_at=started_at, due_at=due_at, provisional=provisional,
                      org_unit=org_unit, rule=rule, attributes=attributes)
        await self._save(d, insert=True)
        self._signal(d, "started", started_at, actor=actor, reason=reason)
        return d

    def _new(self, *, case_id: str, kind: str, started_at: datetime, due_at: datetime, provisional: bool,
             org_unit: str | None, rule: DueRule | None, attributes: dict[str, Any] | None) -> Deadline:
        attributes = dict(attributes or {})
        if rule is not None:
            attributes["due_rule"] = rule.to_json()
        return rules.start(case_id=case_id, kind=kind, owner=self.owner, started_at=started_at, due_at=due_at,
                           warn_ratio=self.warn_ratio, provisional=provisional, org_unit=org_unit,
                           attributes=attributes)

    async def start_handed_over(self, *, case_id: str, kind: str, started_at: datetime, due_at: datetime, to: str,
                                provisional: bool = False, rule: DueRule | None = None,
                                attributes: dict[str, Any] | None = None) -> DeadlineHandover:
        """``start`` then ``hand_over`` at once (a new case dispatched as it is registered): the clock is written
        once, as handed over, and both signals go out as they would one after the other."""
        started = self._new(case_id=case_id, kind=kind, started_at=started_at, due_at=due_at,
                            provisional=provisional, org_unit=None, rule=rule, attributes=attributes)
        d = rules.hand_over(started)
        await self._save(d, insert=True)
        self._signal(started, "started", started_at)
        self._signal(d, "handed_over", self.now, reason=f"handed over to {to}")
        return handover_of(d)

    async def active(self, case_id: str, kind: str) -> Deadline | None:
        row = await self.conn.fetchrow(ACTIVE_DEADLINE, case_id, kind, list(rules.ACTIVE))
        return _from_row(row) if row else None

    async def active_of(self, case_id: str, kinds: Sequence[str]) -> dict[str, Deadline]:
        """The case's active clocks among ``kinds``, locked, by kind (a kind with none is absent): one read for a
        use case that moves several together (``meet_clocks``, ``pause_clock``, ``resume_clock``)."""
        rows = await self.conn.fetch(ACTIVE_DEADLINES, case_id, list(kinds), list(rules.ACTIVE))
        return {r["kind"]: _from_row(r) for r in rows}

    async def for_case(self, case_id: str) -> list[Deadline]:
        rows = await self.conn.fetch(CASE_DEADLINES, case_id)
        return [_from_row(r) for r in rows]

    async def move_unit(self, case_id: str, org_unit: str) -> None:
        """The case moved to another unit (退单后重新分派): this service's clocks follow it."""
        await self.conn.execute(MOVE_UNIT, case_id, self.owner, org_unit)

    async def annotate(self, d: Deadline, **attributes: Any) -> None:
        """Remember a fact about a clock (e.g. ``extended``) in its attributes."""
        await self.conn.execute(ANNOTATE, d.id, attributes)  # the pool encodes jsonb
        d.attributes.update(attributes)

    async def _require(self, case_id: str, kind: str) -> Deadline:
        d = await self.active(case_id, kind)
        if d is None:
            raise rules.DeadlineError(f"no active {kind} deadline for case {case_id}")
        return d

    async def pause(self, *, case_id: str, kind: str, at: datetime, reason: str, actor: str) -> Deadline:
        return await self.pause_clock(await self._require(case_id, kind), at=at, reason=reason, actor=actor)

    async def pause_clock(self, current: Deadline, *, at: datetime, reason: str, actor: str) -> Deadline:
        """``pause`` on a clock this transaction has read and locked (``active_of``)."""
        if not actor:
            raise rules.DeadlineError("a pause needs the name of who paused the clock")
        d = rules.pause(current, at=at, reason=reason)
        await self._save(d)
        self._signal(d, "paused", at, actor=actor, reason=reason)
        return d

    async def resume(self, *, case_id: str, kind: str, at: datetime, actor: str,
                     reason: str | None = None) -> Deadline:
        return await self.resume_clock(await self._require(case_id, kind), at=at, actor=actor, reason=reason)

    async def resume_clock(self, current: Deadline, *, at: datetime, actor: str, reason: str | None = None) -> Deadline:
        """``resume`` on a clock this transaction has read and locked (``active_of``)."""
        d = rules.resume(current, at=at)
        await self._save(d)
        self._signal(d, "resumed", at, actor=actor, reason=reason)
        return d

    async def extend(self, *, case_id: str, kind: str, due_at: datetime, at: datetime, actor: str,
                     reason: str) -> Deadline:
        d = rules.extend(await self._require(case_id, kind), due_at=due_at)
        await self._save(d)
        self._signal(d, "extended", at, actor=actor, reason=reason)
        return d

    async def reschedule(self, *, case_id: str, kind: str, due_at: datetime, provisional: bool,
                         at: datetime, actor: str | None, reason: str, rule: DueRule | None = None) -> Deadline:
        d = rules.reschedule(await self._require(case_id, kind), due_at=due_at, provisional=provisional)
        if rule is not None:
            d = replace(d, attributes={**d.attributes, "due_rule": rule.to_json()})
        await self._save(d)
        self._signal(d, "extended", at, actor=actor, reason=reason)
        return d

    async def follow_tier(self, change: CaseReclassified, *, kind: str, at: datetime) -> Deadline | None:
        """Intake changed the case's tier (调整分级): the tier clock this service holds (``kind``) moves to the new
        due time from the same receipt. None: this service runs no such clock for the case, or it is there already
        (a clock handed over after its last holder had moved it)."""
        running = await self.active(change.case_id, kind)
        if running is None or (running.due_at, running.provisional) == (change.due_at, change.provisional):
            return None
        return await self.reschedule(case_id=change.case_id, kind=kind, due_at=change.due_at,
                                     provisional=change.provisional, at=at, actor=change.actor, reason=change.reason,
                                     rule=tier_rule(change.to_tier, change.received_at))

    async def meet(self, *, case_id: str, kind: str, at: datetime, actor: str | None = None,
                   reason: str | None = None) -> tuple[Deadline, bool] | None:
        """The active clock of ``kind`` met at ``at`` (None: there is none): read, locked and written in one
        statement (``MEET_ACTIVE``, what ``rules.meet`` changes), and signalled."""
        row = await self.conn.fetchrow(MEET_ACTIVE, case_id, kind, list(rules.ACTIVE), at)
        if row is None:
            return None
        d, on_time = rules.meet(_from_row(row), at=at)
        self._signal(d, "met", at, actor=actor, reason=reason, on_time=on_time)
        return d, on_time

    async def meet_clocks(self, current: Sequence[Deadline], *, at: datetime, actor: str | None = None,
                          reason: str | None = None) -> list[tuple[Deadline, bool]]:
        """``meet`` for several clocks this transaction has read and locked (``active_of``), written in one
        statement (what ``rules.meet`` changes is the same for each), signalled in order."""
        met = [rules.meet(d, at=at) for d in current]
        if met:
            await self.conn.execute(MEET_MANY, [d.id for d, _ in met], at)
        for d, on_time in met:
            self._signal(d, "met", at, actor=actor, reason=reason, on_time=on_time)
        return met

    async def cancel(self, *, case_id: str, kind: str, at: datetime, actor: str | None,
                     reason: str) -> Deadline | None:
        current = await self.active(case_id, kind)
        if current is None:
            return None
        d = rules.cancel(current)
        await self._save(d)
        self._signal(d, "cancelled", at, actor=actor, reason=reason)
        return d

    async def hand_over(self, *, case_id: str, kind: str, at: datetime, to: str,
                        current: Deadline | None = None) -> DeadlineHandover | None:
        """The clock leaves with the case (派单); returns what the next owner adopts.

        ``current``: the deadline as this transaction just wrote it (saves reading it back)."""
        current = current or await self.active(case_id, kind)
        if current is None:
            return None
        d = rules.hand_over(current)
        await self._save(d)
        self._signal(d, "handed_over", at, reason=f"handed over to {to}")
        return handover_of(d)

    async def adopt(self, h: DeadlineHandover, *, case_id: str, org_unit: str | None, at: datetime,
                    reason: str | None = None) -> Deadline:
        """Take over a handed-over clock: same id, start, due time, warning state and pauses. Adopted already (the
        handover came again): the clock as it is, nothing written or signalled."""
        d = rules.adopt(Deadline(
            id=uuid.UUID(h.deadline_id), case_id=case_id, kind=h.kind, owner=self.owner, state="open",
            started_at=h.started_at, due_at=h.due_at, warn_at=h.warn_at, warn_ratio=h.warn_ratio, warned=h.warned,
            paused_at=h.paused_at, pause_reason=h.pause_reason, paused_seconds=h.paused_seconds,
            provisional=h.provisional, org_unit=org_unit, breached_at=h.breached_at,
            attributes={"due_rule": h.due_rule} if h.due_rule else {}), owner=self.owner)
        if await self.conn.fetchval(INSERT_DEADLINE_ONCE, *self._values(d)) is None:
            return _from_row(await self.conn.fetchrow(DEADLINE_BY_ID, d.id))
        self._signal(d, "started", at, reason=reason or "adopted")
        return d

    async def recompute_provisional(self, calendar: WorkCalendar, *, at: datetime, reason: str) -> int:
        """Recompute the provisional deadlines from their rules once calendar data arrives."""
        rows = await self.conn.fetch(PROVISIONAL_DEADLINES, self.owner, list(rules.ACTIVE))
        changed = 0
        for row in rows:
            d = _from_row(row)
            due_at, provisional = DueRule.from_json(d.attributes["due_rule"]).due(calendar)
            due_at += timedelta(seconds=d.paused_seconds)
            if due_at == d.due_at and provisional == d.provisional:
                continue
            d = rules.reschedule(d, due_at=due_at, provisional=provisional)
            await self._save(d)
            self._signal(d, "extended", at, reason=reason)
            changed += 1
        return changed


#: What is due to fire (a warning or a breach) at $1, locked: several replicas never fire one deadline twice.
_DUE = f"""
SELECT {_COLUMNS} FROM deadlines WHERE next_fire_at <= $1
ORDER BY next_fire_at LIMIT $2 FOR UPDATE SKIP LOCKED
"""


OnFire = Callable[[asyncpg.Connection, Deadline, str, list[Record]], Awaitable[None]]


async def fire_due(pool: asyncpg.Pool, *, owner: str, topic: str, service: str,
                   now: datetime, limit: int = 500, on_fire: OnFire | None = None) -> int:
    """Fire every warning and breach whose time has come; returns how many fired.

    ``on_fire`` lets the owning service act on its own clocks in the same transaction (escalation). Each
    deadline fires in its own savepoint: one whose firing fails for good is retried on its own later (with a
    growing delay, counted and logged) and never holds back the others.
    """
    async with pool.acquire() as conn, conn.transaction():
        rows = await conn.fetch(_DUE, now, limit)
        if not rows:
            return 0
        records: list[Record] = []
        store = DeadlineStore(conn, owner=owner, topic=topic, emit=records.append, now=now)
        fired = 0
        for row in rows:
            deadline, mark = _from_row(row), len(records)
            try:
                async with conn.transaction():
                    d, signals = rules.fire(deadline, now)
                    await store._save(d)
                    for signal in signals:
                        records.append(signal_record(d, signal, topic=topic, at=now, time=now))
                        if on_fire is not None:
                            await on_fire(conn, d, signal, records)
            except Exception as exc:
                if is_transient(exc):
                    raise
                del records[mark:]
                await _postpone(conn, deadline, now=now, error=exc, service=service)
                continue
            for signal in signals:
                metrics.DEADLINES_FIRED.labels(service, signal).inc()
                fired += 1
        await enqueue(conn, records, service=service)
        return fired


#: A firing that failed: the next try ($2) and why ($3, merged into the attributes).
POSTPONE_FIRING = ("UPDATE deadlines SET next_fire_at = $2, attributes = attributes || $3::jsonb, updated_at = now() "
                   "WHERE id = $1")
EARLIEST_FIRE = "SELECT min(next_fire_at) FROM deadlines WHERE next_fire_at IS NOT NULL"
#: The planner's estimate of the running clocks (its "Plan Rows"), not a count: not PREPAREd by the test (EXPLAIN).
RUNNING_ESTIMATE = "EXPLAIN (FORMAT JSON) SELECT 1 FROM deadlines WHERE next_fire_at IS NOT NULL"
#: Due within 24 h of $1, and already late by more than 5 seconds.
DUE_SOON_AND_LATE = ("SELECT count(*) FILTER (WHERE next_fire_at < $1::timestamptz - interval '5 seconds') AS late, "
                     "count(*) AS soon FROM deadlines WHERE next_fire_at < $1::timestamptz + interval '24 hours'")


async def _postpone(conn: asyncpg.Connection, d: Deadline, *, now: datetime, error: BaseException,
                    service: str) -> None:
    """A deadline whose firing failed: try it again alone, later each time (30 s, 1 min … 1 h)."""
    failures = int(d.attributes.get("fire_failures", 0)) + 1
    retry_at = now + timedelta(seconds=min(30 * 2 ** (failures - 1), 3600))
    await conn.execute(
        POSTPONE_FIRING, d.id, retry_at, {"fire_failures": failures, "fire_error": repr(error)[:500]})
    metrics.DEADLINE_FAILURES.labels(service).inc()
    log.error("deadline could not fire; retried alone later", exc_info=error, extra={
        "deadline_id": str(d.id), "case_id": d.case_id, "kind": d.kind, "failures": failures,
        "retry_at": retry_at.isoformat()})


async def next_fire_at(pool: asyncpg.Pool) -> datetime | None:
    return await pool.fetchval(EARLIEST_FIRE)


async def gauges(pool: asyncpg.Pool, *, now: datetime) -> tuple[int, int, int]:
    """(running, due in 24 h, late) for the metrics, at a cost that does not grow with the running count.

    The running count is the planner's estimate for the partial index (a ``count(*)`` would walk all of it:
    a million entries every few seconds); the other two are index range scans over what is due.
    """
    plan = await pool.fetchval(RUNNING_ESTIMATE)
    plan = json.loads(plan) if isinstance(plan, str) else plan
    row = await pool.fetchrow(DUE_SOON_AND_LATE, now)
    return int(plan[0]["Plan"]["Plan Rows"]), int(row["soon"]), int(row["late"])
