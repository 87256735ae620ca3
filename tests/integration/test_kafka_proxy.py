"""The fault-injection proxy against the real broker: every connection goes through it, and a cut takes a
client off the broker until it is restored (docs/domain/targets.md "cutting a service off the broker for 30 s")."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaError

from services.backbone import kafka
from services.stack.kafka_proxy import KafkaProxy

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_clients_stay_behind_the_proxy_and_a_cut_takes_them_off_the_broker(kafka_bootstrap):
    topic = f"proxy-{uuid.uuid4().hex[:8]}"
    await kafka.ensure_topics(kafka_bootstrap, {topic: 2})
    proxy = KafkaProxy(kafka_bootstrap, name="test")
    await proxy.start()
    producer = AIOKafkaProducer(bootstrap_servers=proxy.bootstrap, acks="all", request_timeout_ms=5_000,
                                retry_backoff_ms=100)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=proxy.bootstrap, group_id=f"g-{topic}",
                                auto_offset_reset="earliest", enable_auto_commit=False, session_timeout_ms=6_000,
                                heartbeat_interval_ms=1_000, request_timeout_ms=7_000)
    try:
        await producer.start()
        await consumer.start()
        await producer.send_and_wait(topic, b"before", key=b"k")
        # The broker's address in every answer was rewritten to the proxy's: no connection bypasses it.
        brokers = producer.client.cluster.brokers()
        assert brokers and all(b.port == proxy.port for b in brokers)
        assert proxy.stats.rewritten >= 1
        got = await asyncio.wait_for(consumer.getone(), 20)
        assert got.value == b"before"
        await consumer.commit()

        cut = asyncio.ensure_future(proxy.cut(4, mode="drop"))
        await asyncio.sleep(0.2)
        with pytest.raises((KafkaError, asyncio.TimeoutError)):
            await asyncio.wait_for(producer.send_and_wait(topic, b"during", key=b"k"), 3)
        assert proxy.stats.aborted >= 1
        await cut
        # Restored: the client reconnects by itself and what was sent during the cut is not lost.
        await asyncio.wait_for(producer.send_and_wait(topic, b"after", key=b"k"), 20)
        seen = set()
        while "after" not in seen:
            seen.add((await asyncio.wait_for(consumer.getone(), 30)).value.decode())
        assert "after" in seen

        # A stall holds bytes instead of dropping them: the send completes once the link is back.
        stall = asyncio.ensure_future(proxy.cut(3, mode="stall"))
        await asyncio.sleep(0.2)
        sent = asyncio.ensure_future(producer.send_and_wait(topic, b"stalled", key=b"k"))
        await asyncio.sleep(1.5)
        assert not sent.done()
        await stall
        await asyncio.wait_for(sent, 20)
    finally:
        await producer.stop()
        await consumer.stop()
        await proxy.stop()
