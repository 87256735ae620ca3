"""Replaying topics in event-time order with bounded memory (rebuilding a projection from the log).

Every partition is read from its beginning by one consumer without a group. Records are taken only for the
partitions whose buffer has run dry, at most ``buffer`` at a time (the consumer's own prefetch is bounded by
its fetch size per partition), and a heap merges the partitions' heads by a key the caller gives (the
CloudEvents time): the replay is ordered as a global sort would order it while memory stays independent of the
log's length. A partition is in time order as its producer writes it (the outbox relay publishes a lane in commit
order); where concurrent transactions committed slightly out of time order, the replay keeps that order, as the
live consumer saw it. Records the key function refuses (dead letters,
bytes that are no event) are skipped and counted.

The replay is of the log as it is when it starts: each partition's end is found first, all partitions at once
(the local broker under-reports end offsets, so reading goes on from the reported end until two fetches in a row
bring nothing, the rule of ``kafka.read_all``), and a partition is done when its position reaches that end. Records
written after the start are the live consumer's to apply. Where a partition's last offsets hold no record (a
transaction's markers on Apache Kafka), two empty fetches of that partition end it as well.

A replay can be split into shards, one process each (``Shard``): shard k of n reads the partitions whose number is
k modulo n, of every topic. The topics a projection replays that are keyed by case id have one partition count (8, or
all capped alike), so one key is in the same partition of each: one case's records on them all land in one shard,
merged there in time order as the whole replay would merge them.
"""

from __future__ import annotations

import heapq
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.backbone.consumer import Inbound
from services.backbone.kafka import connection, partitions_of

log = logging.getLogger(__name__)

#: What the replay yields for a record, as the caller's key function makes it: the key gives the record's place
#: in the replay (e.g. its event time) and this (e.g. the decoded event, so that nothing is decoded twice), or
#: None to skip the record.
T = TypeVar("T")


def default_shards() -> int:
    """How many processes replay side by side unless told: one per core this process may run on, at most 8."""
    return min(len(os.sched_getaffinity(0)), 8)


#: The cyclic collector's first-generation threshold in a replaying process (services/backbone/server.py
#: ``settle_heap``; a service's is 20,000). A replay keeps its partitions' buffers and two batches alive at once,
#: tens of thousands of tracked objects: each young collection found 20,000 objects all still alive and walked
#: them, and the middle generation's collections walked them again — 47 young and 4 middle collections in a share
#: of 50,000 events, 0.35 s, near a tenth of its CPU, finding nothing (a batch leaves no reference cycle:
#: tests/usecases/test_supervision.py). At 200,000 the objects are freed by their reference counts before the
#: collector looks: none ran in a rebuild of 100,000 events. It still runs when something does leave cycles, after
#: at most this many objects (tens of MiB).
YOUNG_GC_THRESHOLD = 200_000

#: How long the broker may hold a fetch that finds nothing new (``Source.open``).
FETCH_WAIT_MS = 50
#: A partition not read to its end offset is taken to have no more only after this long without a record.
QUIET_END_SECONDS = 5.0


@dataclass(frozen=True)
class Shard:
    """Shard ``index`` of ``count``: the partitions p with p % count == index."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.index < self.count:
            raise ValueError(f"shard {self.index} of {self.count} does not exist")

    @classmethod
    def parse(cls, text: str) -> Shard:
        """``k/n`` (shard k of n, k from 0)."""
        index, _, count = text.partition("/")
        return cls(int(index), int(count))

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, tp: TopicPartition) -> bool:
        return tp.partition % self.count == self.index


@dataclass
class Progress:
    """How far a replay is: records read, applied (yielded), skipped, the estimate of the total."""

    total: int = 0
    read: int = 0
    yielded: int = 0
    skipped: int = 0
    most_buffered: int = 0
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def seconds(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    #: what a shard reports of its progress: summed across shards, but the largest buffer, which is each one's own
    SUMMED = ("total", "read", "yielded", "skipped")
    COUNTED = (*SUMMED, "most_buffered")

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in self.COUNTED}

    def add(self, counts: dict[str, int]) -> None:
        """Another shard's counts (``counts``), summed into this replay's."""
        for name in self.SUMMED:
            setattr(self, name, getattr(self, name) + counts.get(name, 0))
        self.most_buffered = max(self.most_buffered, counts.get("most_buffered", 0))

    def rate(self) -> float:
        return self.read / max(self.seconds, 1e-9)

    def describe(self) -> str:
        rate = self.rate()
        left = max(self.total - self.read, 0) / rate if rate else 0.0
        return (f"{self.read:,}/{self.total:,} records read, {self.yielded:,} replayed, {self.skipped:,} skipped, "
                f"{rate:,.0f}/s, about {left:,.0f} s left")


@dataclass
class Stall:
    """How long a replay has gone without progress (its counts unchanged): said once ``after`` seconds of it, and
    again every ``after`` seconds while it lasts (a share waiting on a lock would otherwise wait unseen)."""

    after: float = 60.0
    counts: tuple[int, ...] = ()
    since: float = 0.0
    said: float = 0.0

    def seen(self, counts: tuple[int, ...], now: float) -> float | None:
        """``counts`` as they are at ``now``: the seconds without progress when it is time to say so, else None."""
        if counts != self.counts:
            self.counts, self.since, self.said = counts, now, now
            return None
        if now - self.said >= self.after:
            self.said = now
            return now - self.since
        return None


class Source:
    """One shard's partitions of ``topics``, opened for a replay: the consumer started, each partition's
    beginning and end found (``open``; the ends take a few idle fetches on the local broker, so a caller may open
    its source while it prepares something else), then read once by ``merged``."""

    def __init__(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition], first: dict[TopicPartition, int],
                 last: dict[TopicPartition, int], idle_ms: int):
        self.consumer, self.tps, self.first, self.last, self.idle_ms = consumer, tps, first, last, idle_ms

    @classmethod
    async def open(cls, bootstrap: str, topics: Sequence[str], *, idle_ms: int = 200, shard: Shard = Shard()
                   ) -> Source:
        """``idle_ms``: a window of reading that brings nothing; two in a row find a partition's end (a window the
        process itself held up does not count). A fetch with nothing to give is answered after ``FETCH_WAIT_MS``:
        the window holds a few answers, not a part of one (the broker's default wait, half a second, was longer
        than the window, so that finding the ends cost the first process of a rebuild 0.9 s of waiting)."""
        consumer = AIOKafkaConsumer(**connection(), bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest", max_partition_fetch_bytes=256 * 1024,
                                    fetch_max_wait_ms=FETCH_WAIT_MS)
        await consumer.start()
        try:
            tps = [tp for tp in await partitions_of(consumer, topics) if shard.holds(tp)]
            first: dict[TopicPartition, int] = {}
            last: dict[TopicPartition, int] = {}
            if tps:
                consumer.assign(tps)
                await consumer.seek_to_beginning(*tps)
                first, last = await consumer.beginning_offsets(tps), await ends_of(consumer, tps, idle_ms)
                await consumer.seek_to_beginning(*tps)
        except BaseException:
            await consumer.stop()
            raise
        return cls(consumer, tps, first, last, idle_ms)

    async def close(self) -> None:
        await self.consumer.stop()


async def merged(source: Source, key: Callable[[Inbound], tuple[Any, T] | None], *, buffer: int = 500,
                 progress: Progress | None = None) -> AsyncIterator[T]:
    """What ``key`` gives for every record of ``source``'s partitions (``Source.open``; closed here when the
    replay ends), in its order (ties by topic, partition, offset), holding at most ``buffer`` records per
    partition."""
    progress = progress if progress is not None else Progress()
    consumer, tps, first, last, idle_ms = source.consumer, source.tps, source.first, source.last, source.idle_ms
    try:
        if not tps:
            return
        progress.total = sum(max(last[tp] - first[tp], 0) for tp in tps)
        buffers: dict[TopicPartition, deque[tuple[Any, Inbound, T]]] = {tp: deque() for tp in tps}
        ended: set[TopicPartition] = {tp for tp in tps if last[tp] <= first[tp]}
        #: the partitions whose buffer has run dry and which may hold more: read before the next record is yielded
        dry: set[TopicPartition] = set(tps) - ended
        heads: list[tuple[Any, str, int, int, TopicPartition]] = []
        empty_fetches = 0
        empty_since: float | None = None

        def end(tp: TopicPartition) -> None:
            """Nothing more of ``tp`` is replayed: it is no longer fetched. The local broker holds a fetch asking
            for a partition it has nothing new for until the fetch's wait ends (half a second), whatever the
            request's other partitions hold: a partition read to its end, left in every fetch, made each of them
            wait that long (a third of a rebuild's time went waiting on fetches)."""
            if tp not in ended:
                ended.add(tp)
                consumer.pause(tp)

        if ended:
            consumer.pause(*ended)

        def push_head(tp: TopicPartition) -> None:
            if buffers[tp]:
                k, r, _ = buffers[tp][0]
                heapq.heappush(heads, (k, r.topic, r.partition, r.offset, tp))

        while True:
            if dry:
                for tp in list(dry):
                    if await consumer.position(tp) >= last[tp]:
                        end(tp)
                        dry.discard(tp)
            if dry:  # a partition's next record may come before every buffered head: read on
                waiting = sorted(dry)
                asked = time.monotonic()
                batch = await consumer.getmany(*waiting, timeout_ms=idle_ms, max_records=buffer)
                stalled = _stalled(asked, idle_ms)
                got = 0
                for tp, records in batch.items():
                    for record in records:
                        if record.offset >= last[tp]:
                            end(tp)  # written after the replay started: the live consumer's
                            break
                        got += 1
                        progress.read += 1
                        inbound = Inbound.of(record)
                        placed = key(inbound)
                        if placed is None:
                            progress.skipped += 1
                            continue
                        buffers[tp].append((placed[0], inbound, placed[1]))
                    if records and records[-1].offset + 1 >= last[tp]:
                        end(tp)  # read to its end
                    if buffers[tp] or tp in ended:
                        dry.discard(tp)
                        push_head(tp)
                progress.most_buffered = max(progress.most_buffered, max(len(b) for b in buffers.values()))
                if got or stalled:  # a window the process itself held up (busy) proves nothing
                    empty_fetches, empty_since = 0, None
                else:
                    empty_fetches += 1
                    empty_since = empty_since or asked
                if empty_fetches >= 2 and time.monotonic() - (empty_since or 0) >= QUIET_END_SECONDS:
                    # before their end and nothing comes: offsets that hold no record (a transaction's markers on
                    # Apache Kafka are passed over by the consumer, so this is rare); said, never silent
                    log.warning("partitions ended before their end offset: nothing more came",
                                extra={"partitions": [f"{tp.topic}/{tp.partition}" for tp in sorted(dry)],
                                       "ends": {f"{tp.topic}/{tp.partition}": last[tp] for tp in dry}})
                    for tp in dry:
                        end(tp)
                    dry.clear()
                continue
            if not heads:
                return
            _, _, _, _, tp = heapq.heappop(heads)
            held = buffers[tp]
            _, _, item = held.popleft()
            progress.yielded += 1
            yield item
            if held:
                push_head(tp)
            elif tp not in ended:
                dry.add(tp)
    finally:
        await source.close()


async def ends_of(consumer: AIOKafkaConsumer, tps: Sequence[TopicPartition], idle_ms: int) -> dict[TopicPartition, int]:
    """Each partition's end now: from its reported end offset (a lower bound on the local broker), the offset
    after the last record found reading on until two fetches of every partition at once bring nothing."""
    ends = await consumer.end_offsets(list(tps))
    for tp in tps:
        consumer.seek(tp, ends[tp])
    empty = 0
    while empty < 2:
        asked = time.monotonic()
        batch = await consumer.getmany(*tps, timeout_ms=idle_ms)
        for tp, records in batch.items():
            if records:
                ends[tp] = max(ends[tp], records[-1].offset + 1)
        empty = 0 if any(batch.values()) or _stalled(asked, idle_ms) else empty + 1
    return ends


def _stalled(asked: float, idle_ms: int) -> bool:
    """Whether a window of ``idle_ms`` asked for at ``asked`` lasted much longer: the process was busy (its event
    loop held up), and an answer that came meanwhile may not have been taken yet — an empty window then proves
    nothing about the partition."""
    return time.monotonic() - asked > 2 * idle_ms / 1000
