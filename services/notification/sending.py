"""Sending what is due: the messages queued, and those held through the night once it is 08:00.

Each round takes the due messages under ``FOR UPDATE SKIP LOCKED`` (replicas share the work), calls the gateway
and records the outcome in the same transaction: sent (or delivered), failed with the provider's reason, or —
for a transient failure — queued again after a backoff, until ``MAX_ATTEMPTS`` calls. A process killed in the
middle rolls the round back: the recording gateway's record goes with it (exactly once); a real provider may
then have taken a message that is sent again (at least once: the window is one HTTP call).
"""

from __future__ import annotations

import logging

from events.notification import MessageOutcome
from services.backbone.consumer import HandlerContext
from services.backbone.logs import mask_phone
from services.notification import repository
from services.notification.domain.retry import MAX_ATTEMPTS, backoff
from services.notification.domain.templates import Catalog
from services.notification.gateways import Gateway, GatewayFailure, Outgoing, Sent
from services.notification.models import Message
from services.notification.telling import OPTED_OUT, scrubbed

log = logging.getLogger(__name__)


async def send_due(ctx: HandlerContext, *, gateway: Gateway, catalog: Catalog, limit: int = 20) -> int:
    """One round: every due message (at most ``limit``) sent or rescheduled; how many were handled. Whether each
    phone has opted out is read once for the round, in its transaction (an opt-out committed before the round
    stops the message, as it did when each message read it)."""
    due = await repository.due(ctx.conn, ctx.now, limit)
    if not due:
        return 0
    opted_out = await repository.opted_out(ctx.conn, sorted({m.phone for m in due}))
    done = [await send_one(ctx, message, gateway=gateway, catalog=catalog, opted_out=message.phone in opted_out)
            for message in due]
    await repository.save_all(ctx.conn, done)  # every outcome of the round in one statement
    return len(due)


async def send_one(ctx: HandlerContext, m: Message, *, gateway: Gateway, catalog: Catalog, opted_out: bool) -> Message:
    """One due message sent, held, skipped, failed or queued again: the message as it is now, for the round to
    save (``send_due``)."""
    now = ctx.now
    template = catalog[m.kind]
    if catalog.quiet.is_quiet(now):  # its time came, then the night: held until 08:00
        return _updated(m, state="held", not_before=catalog.quiet.next_allowed(now))
    if opted_out:
        return _final(m, template.params, template.secret, state="skipped", reason=OPTED_OUT)
    values = dict(zip(template.params, m.params, strict=False))
    out = Outgoing(message_id=m.message_id, phone=m.phone, template_id=m.template_id, params=list(m.params),
                   text=f"【{catalog.sign_name}】" + template.render(values))
    try:
        sent: Sent = await gateway.send(ctx, out, at=now)
    except GatewayFailure as failure:
        attempts = m.attempts + failure.attempts
        if failure.transient and attempts < MAX_ATTEMPTS:
            retry_at = catalog.quiet.next_allowed(now + backoff(attempts))
            log.warning("message not sent; trying again", extra={
                "case_id": m.case_id, "kind": m.kind, "phone": mask_phone(m.phone), "attempts": attempts,
                "reason": failure.reason, "retry_at": retry_at.isoformat()})
            return _updated(m, state="queued", attempts=attempts, not_before=retry_at, reason=failure.reason)
        log.error("message failed", extra={"case_id": m.case_id, "kind": m.kind, "phone": mask_phone(m.phone),
                                           "attempts": attempts, "reason": failure.reason})
        failed = _final(m, template.params, template.secret, state="failed", attempts=attempts,
                              reason=failure.reason)
        _publish(ctx, failed, "notification.failed")
        return failed
    done = _final(m, template.params, template.secret, state=sent.state, attempts=m.attempts + sent.attempts,
                        sent_at=now, provider_ref=sent.provider_ref, reason=None)
    log.info("message sent", extra={"case_id": m.case_id, "kind": m.kind, "phone": mask_phone(m.phone),
                                    "attempts": done.attempts, "latency_s": round((now - m.event_at).total_seconds(), 3)})
    _publish(ctx, done, "notification.sent")
    return done


def _updated(m: Message, **changes: object) -> Message:
    return m.model_copy(update=changes)


def _final(m: Message, names: tuple[str, ...], secret: tuple[str, ...], *, state: str,
                 **changes: object) -> Message:
    """A message at its end: its secret variables (the query code) are not kept."""
    return _updated(m, state=state, params=scrubbed(list(m.params), names, secret), **changes)


def _publish(ctx: HandlerContext, m: Message, event_type: str) -> None:
    ctx.publish(event_type, MessageOutcome(case_id=m.case_id, notification_id=str(m.message_id), kind=m.kind,
                                           source_event_id=str(m.event_id), attempts=m.attempts,
                                           at=m.sent_at or ctx.now, reason=m.reason), subject=m.case_id)


def latency_seconds(m: Message) -> float | None:
    return (m.sent_at - m.event_at).total_seconds() if m.sent_at else None

