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
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from events.envelope import CloudEvent
from services.backbone.consumer import HandlerContext, NotYetKnown, Reject
from services.backbone.logs import mask_phone
from services.notification import repository
from services.notification.domain.templates import Catalog, Template, TemplateError
from services.notification.wakeup import QUEUED

log = logging.getLogger(__name__)

MOBILE = re.compile(r"^1\d{10}$")
OPTED_OUT = "该号码已退订短信通知"
NOT_MOBILE = "固定电话，无法接收短信"


@dataclass(frozen=True)
class _Pending:
    """An event's message, rendered, before its phones are known (they are read for the whole batch at once)."""

    message: repository.Told  # its copies not made yet
    template: Template
    params: list[str]
    phones: list[str] | None  # the phones the event names; None: every phone known for the case


@dataclass
class Telling:
    """The phones a consumed batch learned and its messages, written together when its work is done
    (``HandlerContext.gather``): the phones learned in one statement, then the phones of every case told about
    read in one, the messages written in another — instead of a write and a read for each event.

    A message goes to the phones known for its case when the batch ends: a worker whose phone an event later in
    the same batch makes known (a linked complaint) is told too, as when the message waits for the morning.
    A case with no phone known yet fails the batch's end with ``NotYetKnown``: the consumer then applies each event
    on its own, and parks that one event until intake's event with the phones has come."""

    pending: list[_Pending] = field(default_factory=list)
    #: the phones the batch's events made known, by case (``learning.remember_phones``): written first, in one
    #: statement, so that the messages' read finds them
    learned: dict[str, set[str]] = field(default_factory=dict)

    async def flush(self, ctx: HandlerContext) -> None:
        if self.learned:
            await repository.remember_phones(ctx.conn, self.learned)
        if not self.pending:
            return
        known = await repository.phones(ctx.conn, [p.message.case_id for p in self.pending if p.phones is None],
                                        [phone for p in self.pending for phone in p.phones or ()])
        told = [_addressed(p, known) for p in self.pending]
        written = await repository.insert_messages(ctx.conn, told)
        if any(row.state == "queued" for row in written):
            ctx.when_committed(QUEUED.ring)  # sent once this commits, not at the sender's next look
        for row in written:
            log.info("message %s", row.state, extra={"case_id": row.case_id, "kind": row.kind,
                                                      "phone": mask_phone(row.phone),
                                                      "not_before": row.not_before.isoformat(), "reason": row.reason})


def _addressed(p: _Pending, known: repository.Phones) -> repository.Told:
    """The event's message with a copy for each phone: queued, held until morning, or skipped with why."""
    m = p.message
    phones = sorted(set(p.phones)) if p.phones is not None else known.by_case.get(m.case_id, [])
    if not phones:
        raise NotYetKnown(f"no phone known for case {m.case_id} yet")
    copies = []
    for phone in phones:
        reason = OPTED_OUT if phone in known.opted_out else None if MOBILE.match(phone) else NOT_MOBILE
        state = "skipped" if reason else "held" if m.not_before > m.at else "queued"
        copies.append(repository.Addressed(phone, state, scrubbed(p.params, p.template.params, p.template.secret)
                                           if reason else p.params, reason))
    return replace(m, copies=copies)


async def tell(ctx: HandlerContext, event: CloudEvent, *, case_id: str, kind: str, values: Mapping[str, Any],
               catalog: Catalog, gateway: str, shows_secrets: bool, phones: list[str] | None = None) -> None:
    """Queue (or hold) the message of ``kind`` about ``event`` for each of the case's phones (``phones``: those
    the event names), written with the batch's others when its work is done (``Telling.flush``)."""
    template = catalog[kind]
    try:
        params = template.values(values)
        text = f"【{catalog.sign_name}】" + template.render(values, hide_secrets=not shows_secrets)
    except TemplateError as exc:
        raise Reject(str(exc)) from exc
    message = repository.Told(
        event_id=uuid.UUID(str(event.id)), case_id=case_id, kind=kind, template_id=template.template_id, text=text,
        copies=[], not_before=catalog.quiet.next_allowed(ctx.now), event_at=event_time(event, ctx.now),
        gateway=gateway, at=ctx.now)
    batch(ctx).pending.append(_Pending(message, template, params, phones))


def batch(ctx: HandlerContext) -> Telling:
    """The batch's phones learned and messages to write (``HandlerContext.gather``)."""
    return ctx.gather("notification.telling", Telling)


def scrubbed(params: list[str], names: tuple[str, ...], secret: tuple[str, ...]) -> list[str]:
    """The variables once a message is final: a secret (the query code) is not kept."""
    return ["" if name in secret else value for name, value in zip(names, params, strict=False)]


def event_time(event: CloudEvent, fallback: datetime) -> datetime:
    return getattr(event, "time", None) or fallback
