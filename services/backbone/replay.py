"""Replaying topics in event-time order with bounded memory (rebuilding a projection from the log).

Every partition is read from its beginning by one consumer without a group. Records are taken only for the
partitions whose buffer has run dry, at most ``buffer`` at a time (the consumer's own prefetch is bounded by
its fetch size per partition), and a heap merges the partitions' heads by a key the caller gives (the
CloudEvents time): the replay is ordered as a global sort would order it while memory stays independent of the
log's length. A partition is in time order as its producer writes it (the outbox relay publishes a lane in commit
order); where concurrent transactions committed slightly out of time order, the replay keeps that order, as the
live consumer saw it. Records the key function refuses (dead letters,
bytes that are no event) are skipped and counted.

The local broker under-reports end offsets, so a partition ends when it has nothing buffered and two fetches
in a row bring nothing (the same rule as ``kafka.read_all``); the end offsets read at the start only estimate
the total for the progress report.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.backbone.consumer import Inbound
from services.backbone.kafka import connection, partitions_of

log = logging.getLogger(__name__)

Key = Callable[[Inbound], Any]
"""A record's place in the replay (e.g. its event time), or None to skip it."""


@dataclass
class Progress:
    """How far a replay is: records read, applied (yielded), skipped, the estimate of the total."""

    total: int = 0
    read: int = 0
    yielded: int = 0
    skipped: int = 0
    most_buffered: int = 0
    started: float = field(default_factory=time.monotonic)

    def rate(self) -> float:
        return self.read / max(time.monotonic() - self.started, 1e-9)

    def describe(self) -> str:
        rate = self.rate()
        left = max(self.total - self.read, 0) / rate if rate else 0.0
        return (f"{self.read:,}/{self.total:,} records read, {self.yielded:,} replayed, {self.skipped:,} skipped, "
                f"{rate:,.0f}/s, about {left:,.0f} s left")


async def merged(bootstrap: str, topics: Sequence[str], key: Key, *, buffer: int = 500, idle_ms: int = 400,
                 progress: Progress | None = None) -> AsyncIterator[Inbound]:
    """Every record of ``topics`` in ``key`` order (ties by topic, partition, offset), holding at most
    ``buffer`` records per partition."""
    progress = progress if progress is not None else Progress()
    consumer = AIOKafkaConsumer(**connection(), bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", max_partition_fetch_bytes=256 * 1024)
    await consumer.start()
    try:
        tps = await partitions_of(consumer, topics)
        if not tps:
            return
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        first, last = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
        progress.total = sum(max(last[tp] - first[tp], 0) for tp in tps)
        buffers: dict[TopicPartition, deque[tuple[Any, Inbound]]] = {tp: deque() for tp in tps}
        ended: set[TopicPartition] = set()
        heads: list[tuple[Any, str, int, int, TopicPartition]] = []
        in_heap: set[TopicPartition] = set()
        empty_fetches = 0

        def push_head(tp: TopicPartition) -> None:
            if buffers[tp] and tp not in in_heap:
                k, r = buffers[tp][0]
                heapq.heappush(heads, (k, r.topic, r.partition, r.offset, tp))
                in_heap.add(tp)

        while True:
            waiting = [tp for tp in tps if not buffers[tp] and tp not in ended]
            if waiting:  # a partition's next record may come before every buffered head: read on
                batch = await consumer.getmany(*waiting, timeout_ms=idle_ms, max_records=buffer)
                got = 0
                for tp, records in batch.items():
                    for record in records:
                        got += 1
                        progress.read += 1
                        inbound = Inbound.of(record)
                        place = key(inbound)
                        if place is None:
                            progress.skipped += 1
                            continue
                        buffers[tp].append((place, inbound))
                    push_head(tp)
                progress.most_buffered = max(progress.most_buffered, max(len(b) for b in buffers.values()))
                empty_fetches = 0 if got else empty_fetches + 1
                if empty_fetches >= 2:
                    ended.update(tp for tp in waiting if not buffers[tp])
                continue
            if not heads:
                return
            _, _, _, _, tp = heapq.heappop(heads)
            in_heap.discard(tp)
            _, inbound = buffers[tp].popleft()
            progress.yielded += 1
            yield inbound
            push_head(tp)
    finally:
        await consumer.stop()

