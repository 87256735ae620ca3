"""Replaying topics in time order with bounded memory, on the real broker (Tansu): the merge of partitions that
are each in time order (as their producers write them) yields the records as a global sort would, never holds
more than its buffer per partition, and skips what the key refuses (dead letters, bytes that are no event)."""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta

import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from events.envelope import EventRejected, decode_kafka, encode, kafka_headers
from services.backbone import replay
from tests import clock
from tests.factories import referred

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def event_time(record):
    """The merge's order in this test: the CloudEvents time; what is no event (even a hostile one) is skipped."""
    try:
        return decode_kafka(record.value, record.headers).time
    except EventRejected:
        return None


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

    source = await replay.Source.open(kafka_bootstrap, topics, idle_ms=300)
    out = [r async for r in replay.merged(source, placed, buffer=20, progress=progress)]
    times = [event_time(r) for r in out]
    assert len(out) == 600 and times == sorted(times)
    assert progress.skipped == 2 and progress.read == 602 and progress.yielded == 600
    assert progress.most_buffered <= 20, progress.most_buffered  # records are taken only for a dry partition


async def test_a_partition_read_to_its_end_is_no_longer_fetched(kafka_bootstrap):
    """The local broker holds a fetch that names a partition with nothing new until the fetch's wait ends, however
    much the others have: a partition read to its end leaves the consumer's fetches (paused) while the others are
    still read, and the merge stays a global sort."""
    from aiokafka import TopicPartition

    topic = f"r{uuid.uuid4().hex[:8]}.ends"
    await make_topics(kafka_bootstrap, [topic], 2)
    start = clock.now()
    short = [referred().model_copy(update={"time": start + timedelta(seconds=i)}) for i in range(3)]
    long = [referred().model_copy(update={"time": start + timedelta(seconds=10 + i)}) for i in range(40)]
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, enable_idempotence=False)
    await producer.start()
    try:
        for partition, events in ((0, short), (1, long)):
            for event in events:
                await producer.send(topic, encode(event), partition=partition, headers=kafka_headers(event))
        await producer.flush()
    finally:
        await producer.stop()

    def placed(record):
        at = event_time(record)
        return (at, record) if at is not None else None

    source = await replay.Source.open(kafka_bootstrap, [topic], idle_ms=300)
    out, paused_midway = [], None
    async for record in replay.merged(source, placed, buffer=5):
        out.append(record)
        if len(out) == 10:  # the short partition is done, the long one half read
            paused_midway = source.consumer.paused()
    assert [r.partition for r in out] == [0] * 3 + [1] * 40
    assert paused_midway == {TopicPartition(topic, 0)}


async def test_the_rebuilds_key_decodes_once_and_passes_over_what_the_live_consumer_refused():
    """``decoded_in_time``: the processor's own decoding, partner signature included; never raises."""
    from events.catalog import PARTNER_TOPICS
    from services.backbone.consumer import EventProcessor, Inbound
    from services.security import partners
    from services.supervision.rebuild import decoded_in_time
    from services.supervision.service import SPEC
    from tests.contract_examples import example

    key = decoded_in_time(EventProcessor(None, SPEC.name, SPEC.topic, SPEC.handlers,  # type: ignore[arg-type]
                                         authenticate=partners.authenticate_record))
    envelope = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "laborcase/intake",
                "type": "intake.case_received", "time": "2026-03-02T09:00:00+08:00", "subject": "LC1",
                "data": example("intake.case_received")}
    good = Inbound("intake.events", 0, 0, b"LC1", json.dumps(envelope).encode(), ())
    placed = key(good)
    assert placed is not None and placed[0] == datetime.fromisoformat("2026-03-02T09:00:00+08:00").timestamp()
    assert placed[1].event.type == "intake.case_received" and placed[1].data is not None  # decoded, handed on
    deep = b'{"specversion": "1.0", "data": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"
    unsigned = referred()
    for hostile in (Inbound("intake.events", 0, 1, None, b"not an event", ()),
                    Inbound("intake.events", 0, 2, None, deep, (("content-type", b"application/cloudevents+json"),)),
                    Inbound("intake.events", 0, 3, None, None, ()),
                    Inbound(sorted(PARTNER_TOPICS)[0], 0, 4, None, encode(unsigned), tuple(kafka_headers(unsigned)))):
        assert key(hostile) is None, hostile.offset
