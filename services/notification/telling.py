"""Telling the worker: one message per event and phone, from the templates (services/notification/templates.toml).

A message is queued when it may go now, held until 08:00 in quiet hours, and recorded as skipped (with why) for a
phone that opted out or cannot receive SMS — never dropped without a row that says so. A redelivered event finds
its (event, phone) rows already there and adds nothing.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from events.envelope import CloudEvent
from services.backbone.consumer import HandlerContext, NotYetKnown, Reject
from services.backbone.logs import mask_phone
from services.notification import repository
from services.notification.domain.templates import Catalog, TemplateError

log = logging.getLogger(__name__)

MOBILE = re.compile(r"^1\d{10}$")
OPTED_OUT = "该号码已退订短信通知"
NOT_MOBILE = "固定电话，无法接收短信"


@dataclass
class Telling:
    """The messages of a consumed batch, written together when its work is done (``HandlerContext.gather``): one
    statement for the batch instead of one for each event."""

    told: list[repository.Told] = field(default_factory=list)

    async def flush(self, ctx: HandlerContext) -> None:
        written = await repository.insert_messages(ctx.conn, self.told)
        for row in written:
            log.info("message %s", row.state, extra={"case_id": row.case_id, "kind": row.kind,
                                                      "phone": mask_phone(row.phone),
                                                      "not_before": row.not_before.isoformat(), "reason": row.reason})


async def tell(ctx: HandlerContext, event: CloudEvent, *, case_id: str, kind: str, values: Mapping[str, Any],
               catalog: Catalog, gateway: str, shows_secrets: bool, phones: list[str] | None = None) -> None:
    """Queue (or hold) the message of ``kind`` about ``event`` for each of the case's phones (written with the
    batch's others when its work is done)."""
    to_tell = await repository.to_tell(ctx.conn, case_id, phones)
    if not to_tell:
        raise NotYetKnown(f"no phone known for case {case_id} yet")
    template = catalog[kind]
    try:
        params = template.values(values)
        text = f"【{catalog.sign_name}】" + template.render(values, hide_secrets=not shows_secrets)
    except TemplateError as exc:
        raise Reject(str(exc)) from exc
    due = catalog.quiet.next_allowed(ctx.now)
    copies = []
    for phone, opted in to_tell.items():
        reason = OPTED_OUT if opted else None if MOBILE.match(phone) else NOT_MOBILE
        state = "skipped" if reason else "held" if due > ctx.now else "queued"
        copies.append(repository.Addressed(phone, state, scrubbed(params, template.params, template.secret)
                                           if reason else params, reason))
    ctx.gather("notification.telling", Telling).told.append(repository.Told(
        event_id=uuid.UUID(str(event.id)), case_id=case_id, kind=kind, template_id=template.template_id, text=text,
        copies=copies, not_before=due, event_at=event_time(event, ctx.now), gateway=gateway, at=ctx.now))


def scrubbed(params: list[str], names: tuple[str, ...], secret: tuple[str, ...]) -> list[str]:
    """The variables once a message is final: a secret (the query code) is not kept."""
    return ["" if name in secret else value for name, value in zip(names, params, strict=False)]


def event_time(event: CloudEvent, fallback: datetime) -> datetime:
    return getattr(event, "time", None) or fallback
