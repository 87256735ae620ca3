"""Replaying topics in time order with bounded memory, on the real broker (Tansu): the merge of partitions that
are each in time order (as their producers write them) yields the records as a global sort would, never holds
more than its buffer per partition, and skips what the key refuses (dead letters, bytes that are no event)."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from events.envelope import encode, kafka_headers
from services.backbone import replay
from services.supervision.rebuild import event_time
from tests import clock
from tests.factories import referred

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def make_topics(bootstrap: str, names: list[str], partitions: int) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, partitions, 1) for n in names])
    finally:
        await admin.close()


async def test_the_merge_is_a_global_sort_with_bounded_buffers(kafka_bootstrap):
    topics = [f"r{uuid.uuid4().hex[:8]}.a", f"r{uuid.uuid4().hex[:8]}.b"]
    await make_topics(kafka_bootstrap, topics, 4)
    start = clock.now()
    events = []
    for _ in range(600):
        event = referred()
        events.append(event.model_copy(update={"time": start + timedelta(seconds=random.randrange(100_000))}))
    # each partition is written in time order, as a producer writes it; the partitions interleave at random
    events.sort(key=lambda e: e.time)
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for i, event in enumerate(events):
            await producer.send(random.choice(topics), encode(event), key=str(i).encode(), headers=kafka_headers(event))
        await producer.send(topics[0], b"not an event", key=b"x")  # skipped, like a dead letter
        deep = b'{"specversion": "1.0", "data": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"  # hostile nesting
        await producer.send(topics[1], deep, key=b"y", headers=[("content-type", b"application/cloudevents+json")])
        await producer.flush()
    finally:
        await producer.stop()

    progress = replay.Progress()

    def placed(record):
        at = event_time(record)
        return (at, record) if at is not None else None

    out = [r async for r in replay.merged(kafka_bootstrap, topics, placed, buffer=20, idle_ms=300,
                                          progress=progress)]
    times = [event_time(r) for r in out]
    assert len(out) == 600 and times == sorted(times)
    assert progress.skipped == 2 and progress.read == 602 and progress.yielded == 600
    assert progress.most_buffered <= 20, progress.most_buffered  # records are taken only for a dry partition
