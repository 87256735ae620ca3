"""The partner ingress (HTTP): a court's or bureau's signed CloudEvent is put on the partner's topic exactly as
received — its own bytes and signature, which every consumer verifies as it would on Kafka — once per event id."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from events.envelope import CloudEvent
from services.backbone.consumer import HandlerContext
from services.backbone.outbox import Record
from services.intake import repository as repo
from services.intake.repository import Executor
from services.security.accounts import Partner


async def case_partner(pool: Executor, partner: Partner, data: Mapping[str, Any]) -> str | None:
    """The court (bureau) of the case an event's case number belongs to, once that case is known here."""
    known = await repo.by_partner_ref(pool, court_case_no=data.get("court_case_no"),
                                      arbitration_case_no=data.get("arbitration_case_no"), lock=False)
    if known is None:
        return None
    return known.court_code if partner.kind == "court" else known.bureau_code


async def forward(ctx: HandlerContext, event: CloudEvent, *, partner: Partner, topic: str, key: str | None,
                  value: bytes, signature: Sequence[tuple[str, bytes]]) -> bool:
    """Publish the partner's event on ``topic`` with this unit of work; False if it was received before (replay)."""
    if not await repo.record_ingress(ctx.conn, event_id=event.id, event_type=event.type, key_id=partner.key_id):
        return False
    ctx.records.append(Record(topic=topic, key=key.encode() if key else None, value=value,
                              headers=(("content-type", b"application/cloudevents+json"),
                                       ("ce_type", event.type.encode()), *signature),
                              event_id=event.id, event_type=event.type))
    return True
