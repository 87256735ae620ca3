"""Kafka plumbing: producer and admin settings, topic creation, and the broker-generation marker."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import BrokerResponseError, KafkaError, TopicAlreadyExistsError

from events.catalog import MARKER_TOPIC, TOPICS, dead_letter_topic
from services.backbone.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_PARTITIONS = 4


def connection(settings: Settings | None = None) -> dict[str, Any]:
    """How every client of this process reaches the brokers: plain locally, SASL/SCRAM (over TLS) on a cluster."""
    s = settings or Settings()
    if s.kafka_security_protocol == "PLAINTEXT":
        return {}
    options: dict[str, Any] = {"security_protocol": s.kafka_security_protocol}
    if s.kafka_security_protocol.startswith("SASL"):
        options |= {"sasl_mechanism": s.kafka_sasl_mechanism, "sasl_plain_username": s.kafka_sasl_username,
                    "sasl_plain_password": s.kafka_sasl_password}
    if s.kafka_security_protocol.endswith("SSL"):
        options["ssl_context"] = ssl.create_default_context()
    return options


def waits_without_sleeping(subscriber: Any, *, wait_ms: int, max_records: int) -> None:
    """Make a FastStream batch subscriber wait for records without its sleep after an empty wait.

    FastStream's ``BatchSubscriber.get_msg`` sleeps ``batch_timeout_ms`` after a ``getmany`` that brought nothing,
    and a record arriving during that sleep waits for its end: a hop of the case's journey paid up to that much
    for nothing, and a short timeout (to keep hops short) cost idle CPU. aiokafka's ``getmany`` already returns as
    soon as any record is there, so one long wait and no sleep gives both short hops and a quiet idle loop."""
    if not callable(getattr(subscriber, "get_msg", None)):
        raise TypeError(f"{type(subscriber).__name__} has no get_msg: FastStream's batch subscriber changed")

    async def get_msg(consumer: AIOKafkaConsumer) -> tuple[Any, ...]:
        got = await consumer.getmany(timeout_ms=wait_ms, max_records=max_records)
        return tuple(record for records in got.values() for record in records)

    subscriber.get_msg = get_msg


def broker_security(settings: Settings) -> Any:
    """The same credentials for FastStream's consumer."""
    from faststream.security import SASLScram256, SASLScram512

    if not settings.kafka_security_protocol.startswith("SASL"):
        return None
    kind = SASLScram512 if settings.kafka_sasl_mechanism == "SCRAM-SHA-512" else SASLScram256
    return kind(settings.kafka_sasl_username or "", settings.kafka_sasl_password or "",
                ssl_context=ssl.create_default_context() if settings.kafka_security_protocol == "SASL_SSL" else None)


def producer(bootstrap: str, *, idempotence: bool, client_id: str, settings: Settings | None = None
             ) -> AIOKafkaProducer:
    """acks=all always; the idempotent producer only where the broker supports it (not Tansu)."""
    return AIOKafkaProducer(
        **connection(settings),
        bootstrap_servers=bootstrap,
        client_id=client_id,
        acks="all",
        enable_idempotence=idempotence,
        linger_ms=2,
        max_batch_size=256 * 1024,
        # room for a dead letter: a refused record of the largest accepted size plus the reason headers
        max_request_size=2 * 1024 * 1024,
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


def topics_for(names: Iterable[str], *, with_dead_letters: Iterable[str] = (),
               settings: Settings | None = None) -> dict[str, int]:
    """Partition counts for topics (catalogued ones as catalogued, at most ``LABORCASE_KAFKA_PARTITIONS``) and
    dead-letter topics."""
    cap = settings.kafka_partitions if settings is not None else None
    wanted: dict[str, int] = {}
    for name in names:
        count = TOPICS[name].partitions if name in TOPICS else DEFAULT_PARTITIONS
        wanted[name] = min(count, cap) if cap else count
    for name in with_dead_letters:
        wanted[dead_letter_topic(name)] = 1
    return wanted


def catalog_topics(settings: Settings | None = None) -> dict[str, int]:
    """Every catalogued topic and the partitions it is created with."""
    return topics_for(TOPICS, settings=settings)


@dataclass(frozen=True)
class TopicPlan:
    """How a topic is created: its partitions, copies and configuration."""

    name: str
    partitions: int
    replication_factor: int
    configs: dict[str, str]


DAY_MS = 24 * 3600 * 1000
#: A dead letter carries a refused record of the largest accepted size plus its reason headers.
DEAD_LETTER_MAX_BYTES = 2 * 1024 * 1024 + 65536


def topic_plan(topics: dict[str, int], *, brokers: int, settings: Settings) -> list[TopicPlan]:
    """The durable shape of each topic (docs/domain/events.md): copies and min in-sync from configuration or the cluster's
    size, dead letters kept far longer than events, generation markers kept for good."""
    rf = settings.kafka_replication_factor or max(1, min(3, brokers))
    min_isr = settings.kafka_min_insync_replicas or (2 if rf >= 3 else rf - 1 if rf == 2 else None)
    if min_isr is not None and min_isr > rf:
        raise ValueError(f"LABORCASE_KAFKA_MIN_INSYNC_REPLICAS={min_isr} exceeds the replication factor {rf}")
    plans = []
    for name, partitions in sorted(topics.items()):
        configs: dict[str, str] = {}
        if name.endswith(".dlq"):
            configs["retention.ms"] = str(int(settings.dead_letter_retention_days * DAY_MS))
            configs["max.message.bytes"] = str(DEAD_LETTER_MAX_BYTES)
        elif name == MARKER_TOPIC:
            configs["retention.ms"] = "-1"  # a marker that expired would look like a lost log
        else:
            configs["retention.ms"] = str(int(settings.topic_retention_days * DAY_MS))
        if min_isr is not None and rf > 1:
            configs["min.insync.replicas"] = str(min_isr)
        plans.append(TopicPlan(name, partitions, rf, configs))
    return plans


async def ensure_topics(bootstrap: str, topics: dict[str, int], *, settings: Settings | None = None) -> list[str]:
    """Create the missing topics with their final partition counts, copies and configuration; returns those
    created. An existing topic with fewer copies than wanted is reported (changing it is a reassignment)."""
    settings = settings or Settings()
    admin = AIOKafkaAdminClient(**connection(settings), bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        brokers = len(admin._client.cluster.brokers()) or 1
        plans = topic_plan(topics, brokers=brokers, settings=settings)
        existing = set(await admin.list_topics())
        missing = [NewTopic(p.name, p.partitions, p.replication_factor, topic_configs=p.configs)
                   for p in plans if p.name not in existing]
        await _report_under_replicated(admin, [p for p in plans if p.name in existing])
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
            log.info("topics created", extra={"topics": created, "replication_factor": plans[0].replication_factor})
        return created
    finally:
        await admin.close()


async def _report_under_replicated(admin: AIOKafkaAdminClient, plans: list[TopicPlan]) -> None:
    wanted = {p.name: p.replication_factor for p in plans if p.replication_factor > 1}
    if not wanted:
        return
    with contextlib.suppress(Exception):  # a report only: never in the way of starting
        for topic in await admin.describe_topics(list(wanted)):
            copies = min((len(p["replicas"]) for p in topic.get("partitions", ())), default=0)
            if copies and copies < wanted[topic["topic"]]:
                log.warning("topic has fewer copies than configured", extra={
                    "topic": topic["topic"], "copies": copies, "wanted": wanted[topic["topic"]]})


async def wait_for_broker(bootstrap: str, timeout: float = 30) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        admin = AIOKafkaAdminClient(**connection(), bootstrap_servers=bootstrap, request_timeout_ms=2_000)
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


async def partitions_of(consumer: AIOKafkaConsumer, topics: Iterable[str]) -> list[TopicPartition]:
    """Every partition of ``topics`` (metadata refreshed once if the client does not know a topic yet)."""
    tps: list[TopicPartition] = []
    for topic in topics:
        partitions = consumer.partitions_for_topic(topic)
        if partitions is None:
            await consumer._client.force_metadata_update()
            partitions = consumer.partitions_for_topic(topic)
        tps += [TopicPartition(topic, p) for p in sorted(partitions or ())]
    return tps


async def committed_positions(bootstrap: str, group: str, topics: Iterable[str]) -> dict[tuple[str, int], int] | None:
    """Where consumer group ``group`` has committed on ``topics``, per (topic, partition): the records before each
    position are the ones it applied. Empty when the group never committed; None when the broker could not say.
    Read as the group's own consumers read it (OffsetFetch through a consumer that joins nothing)."""
    consumer = AIOKafkaConsumer(**connection(), bootstrap_servers=bootstrap, group_id=group,
                                enable_auto_commit=False, request_timeout_ms=10_000)
    try:
        await consumer.start()
        positions = {}
        for tp in await partitions_of(consumer, topics):
            offset = await consumer.committed(tp)
            if offset is not None and offset >= 0:
                positions[(tp.topic, tp.partition)] = offset
        return positions
    except (TimeoutError, KafkaError, OSError) as exc:
        log.warning("committed offsets not read", extra={"group": group, "error": repr(exc)})
        return None
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()


async def read_all(bootstrap: str, topic: str, *, idle_ms: int = 400) -> list:
    """Every record of a topic from the beginning, without a consumer group.

    The local broker reports wrong end offsets, so "the end" is two fetches that return nothing.
    """
    consumer = AIOKafkaConsumer(**connection(), bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        tps = await partitions_of(consumer, [topic])
        if not tps:
            return []
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


MarkerState = Literal["present", "absent", "empty", "no_topic", "unknown"]


async def marker_state(bootstrap: str, marker: uuid.UUID, *, timeout: float = 10) -> MarkerState:
    """Whether the broker still holds ``marker``, decided only on evidence.

    ``present``; ``absent`` (the whole topic read, the marker is not in it); ``empty`` (the topic exists and
    holds nothing); ``no_topic``; ``unknown`` when the broker could not be read in time (slow, cut off,
    electing a leader) — which must never be taken for a lost log. Tansu under-reports end offsets after
    multi-record batches, so reading goes on past them until two fetches come back empty.
    """
    wanted = str(marker).encode()
    consumer = AIOKafkaConsumer(**connection(), bootstrap_servers=bootstrap, enable_auto_commit=False,
                                auto_offset_reset="earliest", request_timeout_ms=int(timeout * 1000) + 1000)
    try:
        async with asyncio.timeout(timeout):
            await consumer.start()
            topics = await consumer.topics()
            if MARKER_TOPIC not in topics:
                return "no_topic"
            partitions = consumer.partitions_for_topic(MARKER_TOPIC) or set()
            tps = [TopicPartition(MARKER_TOPIC, p) for p in sorted(partitions)]
            if not tps:
                return "unknown"
            begin, end = await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
            if all(end[tp] <= begin[tp] for tp in tps):
                return "empty"
            consumer.assign(tps)
            await consumer.seek_to_beginning(*tps)
            empty_after_end = 0
            while empty_after_end < 2:
                batch = await consumer.getmany(timeout_ms=300)
                if any(r.value == wanted for rs in batch.values() for r in rs):
                    return "present"
                positions = [await consumer.position(tp) for tp in tps]
                reached = all(pos >= end[tp] for pos, tp in zip(positions, tps, strict=True))
                empty_after_end = empty_after_end + 1 if reached and not batch else 0
            return "absent"
    except (TimeoutError, KafkaError, OSError) as exc:
        log.warning("broker generation unknown: could not read the marker topic", extra={"error": repr(exc)})
        return "unknown"
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()


async def write_marker(producer_: AIOKafkaProducer, service: str, marker: uuid.UUID) -> None:
    await producer_.send_and_wait(MARKER_TOPIC, str(marker).encode(), key=service.encode())
