"""Kafka plumbing: producer and admin settings, topic creation, and the broker-generation marker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Iterable

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import BrokerResponseError, TopicAlreadyExistsError

from events.catalog import MARKER_TOPIC, TOPICS, dead_letter_topic

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 4


def producer(bootstrap: str, *, idempotence: bool, client_id: str) -> AIOKafkaProducer:
    """acks=all always; the idempotent producer only where the broker supports it (not Tansu)."""
    return AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=idempotence,
        linger_ms=2,
        max_batch_size=256 * 1024,
        request_timeout_ms=15_000,
    )


class BrokerRefused(RuntimeError):
    """The broker cannot do what the configuration asks (a configuration error, not a transient fault)."""


IDEMPOTENCE_HINT = ("set LABORCASE_KAFKA_IDEMPOTENCE=false for a broker without the idempotent producer "
                    "(such as Tansu); keep it on for Apache Kafka")


async def start_producer(producer_: AIOKafkaProducer, *, bootstrap: str, idempotence: bool) -> None:
    """Start a producer; a broker that refuses the idempotent producer is a configuration error, said in one line.

    Against a broker without it (Tansu answers InitProducerId with an error) aiokafka fails at ``start()``.
    """
    try:
        await producer_.start()
    except BrokerResponseError as exc:
        with contextlib.suppress(Exception):
            await producer_.stop()
        if not idempotence:
            raise
        raise BrokerRefused(f"the Kafka broker at {bootstrap} refused the idempotent producer "
                            f"(InitProducerId: {type(exc).__name__}): {IDEMPOTENCE_HINT}") from exc


async def supports_idempotence(bootstrap: str) -> bool:
    """Whether the broker lets aiokafka start an idempotent producer (Apache Kafka yes, Tansu no)."""
    probe = producer(bootstrap, idempotence=True, client_id="laborcase-probe")
    try:
        await start_producer(probe, bootstrap=bootstrap, idempotence=True)
    except BrokerRefused:
        return False
    await probe.stop()
    return True


def topics_for(names: Iterable[str], *, with_dead_letters: Iterable[str] = ()) -> dict[str, int]:
    """Partition counts for topics (catalogued ones as catalogued) and dead-letter topics."""
    wanted: dict[str, int] = {}
    for name in names:
        wanted[name] = TOPICS[name].partitions if name in TOPICS else DEFAULT_PARTITIONS
    for name in with_dead_letters:
        wanted[dead_letter_topic(name)] = 1
    return wanted


async def ensure_topics(bootstrap: str, topics: dict[str, int]) -> list[str]:
    """Create the missing topics with their final partition counts; returns those created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [NewTopic(name, n, 1) for name, n in sorted(topics.items()) if name not in existing]
        if not missing:
            return []
        response = await admin.create_topics(missing)
        created = []
        for name, code, *_ in response.topic_errors:
            if code == 0:
                created.append(name)
            elif code != TopicAlreadyExistsError.errno:
                raise RuntimeError(f"cannot create topic {name}: error code {code}")
        if created:
            log.info("topics created", extra={"topics": created})
        return created
    finally:
        await admin.close()


async def wait_for_broker(bootstrap: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=2_000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except Exception:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)
        finally:
            with contextlib.suppress(Exception):
                await admin.close()


async def read_all(bootstrap: str, topic: str, *, idle_ms: int = 400) -> list:
    """Every record of a topic from the beginning, without a consumer group.

    The local broker reports wrong end offsets, so "the end" is two fetches that return nothing.
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, auto_offset_reset="earliest")
    await consumer.start()
    try:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return []
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        records: list = []
        empty = 0
        while empty < 2:
            batch = await consumer.getmany(timeout_ms=idle_ms)
            got = [r for rs in batch.values() for r in rs]
            records += got
            empty = 0 if got else empty + 1
        return sorted(records, key=lambda r: (r.partition, r.offset))
    finally:
        await consumer.stop()


async def marker_present(bootstrap: str, marker: uuid.UUID) -> bool:
    wanted = str(marker).encode()
    return any(r.value == wanted for r in await read_all(bootstrap, MARKER_TOPIC))


async def write_marker(producer_: AIOKafkaProducer, service: str, marker: uuid.UUID) -> None:
    await producer_.send_and_wait(MARKER_TOPIC, str(marker).encode(), key=service.encode())
