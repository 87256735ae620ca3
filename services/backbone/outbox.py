"""Transactional outbox: write events with the state change; a relay publishes them in order.

Writing: ``enqueue(conn, records)`` inside the caller's transaction (one round trip, NOTIFY on commit).
Publishing: ``Relay`` leases lanes (a hash of the record key), publishes each lane's rows in id
order with ``acks=all`` and marks them. A relay killed between publish and mark re-publishes on
restart; consumers are idempotent, so correctness never depends on the producer being idempotent.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import uuid
import zlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import (
    KafkaError,
    MessageSizeTooLargeError,
    RecordListTooLargeError,
    TopicAuthorizationFailedError,
    UnknownTopicOrPartitionError,
)

from events.catalog import DEAD_LETTER_SUFFIX
from events.envelope import CloudEvent, encode, kafka_headers
from services.backbone import caselog, metrics
from services.backbone.db import is_transient

log = logging.getLogger(__name__)

LANES = 16


@dataclass(frozen=True, slots=True)
class Record:
    """A Kafka record to publish: an event, or a dead letter carrying someone else's bytes."""

    topic: str
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...] = ()
    event_id: uuid.UUID | None = None
    event_type: str | None = None


def record_of(event: CloudEvent, *, topic: str, key: str | None = None) -> Record:
    key = key if key is not None else event.subject
    return Record(
        topic=topic,
        key=key.encode() if key is not None else None,
        value=encode(event),
        headers=tuple(kafka_headers(event)),
        event_id=event.id,
        event_type=event.type,
    )


def lane_of(key: bytes | None) -> int:
    return zlib.crc32(key or b"") % LANES


def encode_headers(headers: Sequence[tuple[str, bytes | None]]) -> list[list[str]]:
    return [[k, base64.b64encode(v or b"").decode()] for k, v in headers]


def decode_headers(stored: Sequence[Sequence[str]]) -> list[tuple[str, bytes]]:
    return [(k, base64.b64decode(v)) for k, v in stored]


_ROWS = """
    INSERT INTO outbox (event_id, event_type, topic, key, value, headers, lane)
    SELECT e, t, tp, k, v, h::jsonb, l
    FROM unnest($1::uuid[], $2::text[], $3::text[], $4::bytea[], $5::bytea[], $6::text[], $7::int2[])
        AS r(e, t, tp, k, v, h, l)
    RETURNING 1
"""
#: One round trip for the whole batch; the NOTIFY ($8: the channel) wakes the relays on commit.
_INSERT = f"WITH ins AS ({_ROWS}) SELECT pg_notify($8, count(*)::text) FROM ins"
#: The same, and the unit of work's case-log entries ($9–$13: ``caselog.columns``) in the same round trip: most
#: units of work that log a change also publish it.
_INSERT_LOGGED = (f"WITH ins AS ({_ROWS}), logged AS ({caselog.insert_entries(first=9)}) "
                  "SELECT pg_notify($8, count(*)::text) FROM ins")


def notify_channel(service: str) -> str:
    return f"outbox_{service}"


async def enqueue(conn: asyncpg.Connection, records: Sequence[Record], *, service: str,
                  log: Sequence[caselog.Entry] = ()) -> None:
    """Add records to the outbox within the caller's transaction, and the unit of work's case-log entries with
    them (one statement for both)."""
    if not records:
        await caselog.write(conn, log)
        return
    await conn.execute(
        _INSERT_LOGGED if log else _INSERT,
        [r.event_id for r in records],
        [r.event_type for r in records],
        [r.topic for r in records],
        [r.key for r in records],
        [r.value for r in records],
        [json.dumps(encode_headers(r.headers)) for r in records],
        [lane_of(r.key) for r in records],
        notify_channel(service),
        *(caselog.columns(log) if log else ()),
    )


#: Lease (or renew) the lanes this relay owns or whose lease ran out ($2: seconds), and read the next rows to
#: publish from them, in id order (at most $3): one round trip a round. A lane another relay holds is not read.
#: The rows are read in the statement's snapshot, taken before the lease: a relay that takes over a lane whose
#: lease ran out while its holder was marking rows may send those rows again — as it could when the lease and
#: the read were two statements. At least once; the consumers' inbox applies each event once.
_LEASED_PENDING = """
WITH leased AS (
    UPDATE outbox_lane SET owner = $1, lease_until = now() + make_interval(secs => $2)
    WHERE owner = $1 OR lease_until < now()
    RETURNING lane
)
SELECT id, topic, key, value, headers FROM outbox
WHERE published_at IS NULL AND refused_at IS NULL AND lane = ANY(ARRAY(SELECT lane FROM leased))
ORDER BY id LIMIT $3
"""

MARK_PUBLISHED = "UPDATE outbox SET published_at = now() WHERE id = ANY($1::bigint[])"
#: A row the broker refuses for good: set aside with why, so that its lane goes on.
MARK_REFUSED = "UPDATE outbox SET refused_at = now(), refusal = $2 WHERE id = $1"
#: A stopping relay lets its lanes go at once (another relay need not wait for the lease to run out).
RELEASE_LANES = "UPDATE outbox_lane SET lease_until = '-infinity' WHERE owner = $1"

#: The broker (or the client, before sending) refuses this record whatever happens: retrying cannot help.
REFUSED_FOR_GOOD = (MessageSizeTooLargeError, RecordListTooLargeError)


def refused_for_good(topic: str, exc: BaseException) -> bool:
    """Whether the broker's refusal of a row for ``topic`` is for good: too large; or, for a dead letter, not
    authorized. A service's ACLs follow what it consumes now (services/security/kafka_acls.py): a dead letter
    it wrote before it stopped reading that topic — kept in its outbox, re-published after the broker lost its
    log — may no longer be its to write, and must not hold up every event behind it. Anywhere else an
    authorization refusal is a configuration to mend, and the relay waits for it."""
    return isinstance(exc, REFUSED_FOR_GOOD) or (
        isinstance(exc, TopicAuthorizationFailedError) and topic.endswith(DEAD_LETTER_SUFFIX))


@dataclass
class Relay:
    pool: asyncpg.Pool
    producer: AIOKafkaProducer
    service: str
    owner: str = field(default_factory=lambda: f"relay-{uuid.uuid4()}")
    batch_size: int = 1000
    lease_seconds: float = 15.0
    idle_seconds: float = 1.0
    on_missing_topic: Callable[[], Awaitable[Any]] | None = None
    #: Where to LISTEN for wake-ups (None: poll only).
    dsn: str | None = None
    #: Test seam: runs between publish and mark (a crash here must only cause duplicates).
    after_publish: Callable[[list[asyncpg.Record]], Awaitable[None]] | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    published: int = 0

    def wake(self, *_: Any) -> None:
        self._wake.set()

    async def publish_once(self) -> int:
        """Publish one batch of pending rows from the lanes this relay holds; returns the count."""
        rows = await self.pool.fetch(_LEASED_PENDING, self.owner, self.lease_seconds, self.batch_size)
        if not rows:
            return 0
        sent: list[Any] = []
        for r in rows:
            try:
                sent.append(await self.producer.send(
                    r["topic"], r["value"], key=r["key"], headers=decode_headers(r["headers"])))
            except (*REFUSED_FOR_GOOD, TopicAuthorizationFailedError) as exc:  # e.g. larger than may be sent
                if not refused_for_good(r["topic"], exc):
                    raise
                sent.append(exc)
        pending = [f for f in sent if not isinstance(f, BaseException)]
        outcomes = iter(await asyncio.gather(*pending, return_exceptions=True))
        results = [f if isinstance(f, BaseException) else next(outcomes) for f in sent]
        if self.after_publish is not None:
            await self.after_publish(list(rows))
        # Mark the rows before the first failure: later ones are sent again, in order. A row refused for good
        # is skipped and reported (its lane goes on).
        done: list[int] = []
        refused: list[tuple[int, str, str]] = []
        failure: BaseException | None = None
        for row, result in zip(rows, results, strict=True):
            if isinstance(result, BaseException) and refused_for_good(row["topic"], result):
                refused.append((row["id"], row["topic"], repr(result)[:1000]))
                continue
            if isinstance(result, BaseException):
                failure = result
                break
            done.append(row["id"])
        if done:
            await self.pool.execute(MARK_PUBLISHED, done)
            self.published += len(done)
            metrics.OUTBOX_PUBLISHED.labels(self.service).inc(len(done))
        if refused:
            await self.pool.executemany(MARK_REFUSED, [(i, why) for i, _, why in refused])
            for row_id, topic, why in refused:
                metrics.RELAY_SKIPPED.labels(self.service, topic).inc()
                log.error("outbox row refused by the broker for good; skipped", extra={
                    "outbox_id": row_id, "topic": topic, "refusal": why})
        if failure is not None:
            raise failure
        return len(rows)

    async def run(self, stopping: asyncio.Event) -> None:
        listener = _Listener(self.dsn, notify_channel(self.service), self.wake)
        backoff = 0.2
        try:
            while not stopping.is_set():
                await listener.ensure()
                # cleared before reading the outbox, never after: a wake-up that comes while this batch is read
                # and sent (rows committed after its read) must not be lost, or those rows wait a whole idle_seconds
                self._wake.clear()
                try:
                    count = await self.publish_once()
                    backoff = 0.2
                except UnknownTopicOrPartitionError:
                    log.warning("topic missing while publishing; re-creating topics")
                    if self.on_missing_topic is not None:
                        await self.on_missing_topic()
                    count = 0
                except Exception as exc:
                    if not (is_transient(exc) or isinstance(exc, KafkaError)):
                        raise
                    log.warning("relay: transient fault, retrying", extra={"error": repr(exc)})
                    await _sleep_or_stop(stopping, backoff)
                    backoff = min(backoff * 2, 5.0)
                    continue
                if count < self.batch_size:
                    waiter = asyncio.ensure_future(self._wake.wait())
                    stopper = asyncio.ensure_future(stopping.wait())
                    await asyncio.wait({waiter, stopper}, timeout=self.idle_seconds,
                                       return_when=asyncio.FIRST_COMPLETED)
                    waiter.cancel()
                    stopper.cancel()
            # drain what is already committed before stopping
            with contextlib.suppress(Exception):
                while await self.publish_once() >= self.batch_size:
                    pass
        finally:
            await listener.close()
            with contextlib.suppress(Exception):
                await self.pool.execute(RELEASE_LANES, self.owner)


async def _sleep_or_stop(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), seconds)


class _Listener:
    """LISTEN on a dedicated connection: only a wake-up, the relay also polls."""

    def __init__(self, dsn: str | None, channel: str, callback: Callable[..., None]):
        self.dsn, self.channel, self.callback = dsn, channel, callback
        self.conn: asyncpg.Connection | None = None

    async def ensure(self) -> None:
        if self.dsn is None or (self.conn is not None and not self.conn.is_closed()):
            return
        await self.close()
        try:
            self.conn = await asyncpg.connect(self.dsn, timeout=2)
            await self.conn.add_listener(self.channel, self.callback)
        except Exception as exc:  # the database may be down: polling still works
            log.debug("listen failed", extra={"error": repr(exc)})
            await self.close()

    async def close(self) -> None:
        if self.conn is None:
            return
        conn, self.conn = self.conn, None
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.close(), 2)


#: The broker lost what it had: every retained published row becomes pending again.
REPUBLISH_RETAINED = "UPDATE outbox SET published_at = NULL WHERE published_at IS NOT NULL"


async def republish_retained(pool: asyncpg.Pool) -> int:
    """Mark every retained published row as pending again (the broker lost them)."""
    status = await pool.execute(REPUBLISH_RETAINED)
    return int(status.split()[-1])


#: Retention ($1: the age in seconds past which a row goes).
PRUNE_PUBLISHED = "DELETE FROM outbox WHERE published_at < now() - make_interval(secs => $1)"
PRUNE_REFUSED = "DELETE FROM outbox WHERE refused_at < now() - make_interval(secs => $1)"
PRUNE_INBOX = "DELETE FROM inbox WHERE processed_at < now() - make_interval(secs => $1)"


async def prune(pool: asyncpg.Pool, *, outbox_hours: float, inbox_hours: float, refused_days: float = 90) -> None:
    """The backbone's retention: published events (kept for re-publication), processed event ids (kept
    longer than any topic keeps an event), refused rows (kept as long as dead letters)."""
    await pool.execute(PRUNE_PUBLISHED, outbox_hours * 3600)
    await pool.execute(PRUNE_REFUSED, refused_days * 86400)
    await pool.execute(PRUNE_INBOX, inbox_hours * 3600)


BACKLOG = "SELECT count(*) FROM outbox WHERE published_at IS NULL"
MARKER = "SELECT marker FROM broker_marker WHERE service = $1"
SAVE_MARKER = ("INSERT INTO broker_marker (service, marker) VALUES ($1, $2) "
               "ON CONFLICT (service) DO UPDATE SET marker = EXCLUDED.marker, written_at = now()")


async def backlog(pool: asyncpg.Pool) -> int:
    """Events committed and not yet published."""
    return await pool.fetchval(BACKLOG)


async def marker(pool: asyncpg.Pool, service: str) -> uuid.UUID | None:
    """The marker this service last wrote to the broker (services/backbone/kafka.py reads it back there)."""
    return await pool.fetchval(MARKER, service)


async def save_marker(pool: asyncpg.Pool, service: str, value: uuid.UUID) -> None:
    await pool.execute(SAVE_MARKER, service, value)
