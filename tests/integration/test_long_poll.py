"""The long-poll front before a real Tansu (services/stack/long_poll.py): a consumer waiting with a long fetch
wait gets a record produced meanwhile from the wake-up, not from its wait running out; every connection a
client opens goes through the front; a record already there comes back at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.stack.broker import LocalBroker
from services.stack.long_poll import LongPollFront
from services.stack.processes import free_port
from tests.conftest import wait_until

#: far longer than anything here takes: a fetch answered by its wait running out shows in ``expired``
LONG_WAIT_MS = 20_000


@pytest.fixture
async def front() -> AsyncIterator[LongPollFront]:
    tansu = LocalBroker(long_poll=False)
    upstream = await asyncio.to_thread(tansu.start)
    front = LongPollFront(upstream, listen=f"127.0.0.1:{free_port()}")
    await front.start()
    try:
        yield front
    finally:
        await front.stop()
        await asyncio.to_thread(tansu.stop)


async def test_a_waiting_fetch_is_answered_by_the_record_not_by_its_wait(front: LongPollFront) -> None:
    bootstrap = f"{front.host}:{front.port}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    await admin.create_topics([NewTopic("cases", 2, 1), NewTopic("elsewhere", 1, 1)])
    await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    consumer = AIOKafkaConsumer("cases", bootstrap_servers=bootstrap, group_id="g", auto_offset_reset="earliest",
                                fetch_max_wait_ms=LONG_WAIT_MS)
    await producer.start()
    await consumer.start()
    try:
        await producer.send_and_wait("cases", b"already there", partition=0)
        first = await consumer.getmany(timeout_ms=3 * LONG_WAIT_MS)
        assert [r.value for rs in first.values() for r in rs] == [b"already there"]

        for value in (b"one", b"two", b"three"):
            await wait_until(lambda: is_waiting(front, "cases"), interval=0.01,
                             what="the consumer's next fetch held, waiting for a record")
            expired = front.stats.expired
            await producer.send_and_wait("elsewhere", b"not for this consumer")
            await producer.send_and_wait("cases", value, partition=1)
            got = await consumer.getmany(timeout_ms=3 * LONG_WAIT_MS)
            assert [r.value for rs in got.values() for r in rs] == [value]
            assert front.stats.expired == expired  # woken by the Produce, not answered empty by its wait
        assert front.stats.held >= 3 and front.stats.resent >= 3
        assert front.stats.rewritten >= 2  # the broker's address rewritten to the front's: Metadata, FindCoordinator
        assert front.stats.connections >= 3  # and every connection came here (none went to Tansu directly)
    finally:
        await consumer.stop()
        await producer.stop()


async def is_waiting(front: LongPollFront, topic: str) -> bool:
    return topic in front.topics.waiting
