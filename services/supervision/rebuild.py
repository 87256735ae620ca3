"""Rebuild the projection from scratch by replaying the topics (``laborcase supervision rebuild``).

Reads every consumed topic from the beginning, orders the events by their CloudEvents time, and applies
them through the same handlers as the live consumer, into an empty database. On Apache Kafka this needs the
topics' retention to cover the period; the local broker keeps everything it has seen since it started.
"""

from __future__ import annotations

import logging

from events.envelope import EventRejected, decode_kafka
from services.backbone import calendar_store, kafka
from services.backbone.consumer import EventProcessor, Inbound
from services.backbone.db import BACKBONE_MIGRATIONS, create_pool, migrate
from services.supervision import repository
from services.supervision.service import SPEC

log = logging.getLogger(__name__)


async def rebuild(bootstrap: str, dsn: str, *, batch: int = 500) -> int:
    pool = await create_pool(dsn, size=2)
    try:
        await migrate(pool, [("backbone", BACKBONE_MIGRATIONS), ("supervision", SPEC.migrations)])  # type: ignore[list-item]
        await repository.empty_projection(pool)
        await calendar_store.seed(pool)
        records: list[tuple[object, Inbound]] = []
        for topic in SPEC.consumes:
            for r in await kafka.read_all(bootstrap, topic):
                inbound = Inbound.of(r)
                try:
                    key = decode_kafka(inbound.value, inbound.headers).time
                except EventRejected:
                    continue  # dead letters are not part of any case
                records.append((key, inbound))
        records.sort(key=lambda pair: (pair[0], pair[1].topic, pair[1].partition, pair[1].offset))
        processor = EventProcessor(pool, SPEC.name, SPEC.topic, SPEC.handlers,
                                   calendar=await calendar_store.load(pool))
        ordered = [inbound for _, inbound in records]
        for start in range(0, len(ordered), batch):
            await processor.process(ordered[start:start + batch])
        log.info("projection rebuilt", extra={"events": len(ordered)})
        return len(ordered)
    finally:
        await pool.close()
