"""In-console notices for staff (站内通知): a case newly offered to a mediator, a deadline at risk or passed.

A notice goes to the case's mediator when one is known (``mediator:<id>``), else to the supervisors of the unit
holding it (``unit:<code>``); one per event and recipient. People read theirs at /notification and
``GET /api/v1/notification/notices``."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime

from events.deadlines import DeadlineSignal
from events.envelope import CloudEvent
from events.glossary import zh
from events.mediation import MediatorAssigned
from services.backbone.consumer import HandlerContext
from services.notification import learning, repository
from services.notification.models import Notice
from services.security.policy import Principal
from services.web.words import when


def mediator(mediator_id: str) -> str:
    return f"mediator:{mediator_id}"


def unit(code: str) -> str:
    return f"unit:{code}"


@dataclass
class Notices:
    """A batch's notices, written in one statement when its work is done (``HandlerContext.gather``) instead of
    one a event; nothing in the batch reads them back."""

    rows: list[tuple[uuid.UUID, str, str, str, str, datetime]] = field(default_factory=list)

    async def flush(self, ctx: HandlerContext) -> None:
        if self.rows:
            await repository.insert_notices(ctx.conn, self.rows)


def _notice(ctx: HandlerContext, event: CloudEvent, *, recipient: str, case_id: str, kind: str, text: str) -> None:
    ctx.gather("notification.notices", Notices).rows.append((event.id, recipient, case_id, kind, text, ctx.now))


def case_assigned(ctx: HandlerContext, event: CloudEvent, data: MediatorAssigned) -> None:
    _notice(ctx, event, recipient=mediator(data.mediator_id), case_id=data.case_id, kind="case_assigned",
            text=f"案件 {data.case_id} 已分派给您，请及时签收。")


async def deadline_at_risk(ctx: HandlerContext, event: CloudEvent, data: DeadlineSignal) -> None:
    """A deadline warned or breached: told to the case's mediator, else to its unit's supervisors."""
    case = await learning.known(ctx, data.case_id)
    if case is not None and case.mediator_id:
        recipient = mediator(case.mediator_id)
    elif data.org_unit or (case and case.org_unit):
        recipient = unit(data.org_unit or case.org_unit)  # type: ignore[union-attr, arg-type]
    else:
        return  # nobody holds the case yet (intake's own clocks are the clerks' worklist)
    clock = zh("clock", data.kind)
    breached = event.type == "deadline.breached"
    text = (f"案件 {data.case_id} 的{clock}已于 {when(data.due_at)} 超期，请尽快办理。" if breached else
            f"案件 {data.case_id} 的{clock}将于 {when(data.due_at)} 到期，请抓紧办理。")
    _notice(ctx, event, recipient=recipient, case_id=data.case_id,
            kind="deadline_breached" if breached else "deadline_warning", text=text)


def recipients_of(p: Principal, subtree: tuple[str, ...] = ()) -> list[str]:
    """Whose notices a person reads: a mediator their own; a supervisor those of their unit and the units below."""
    if p.role == "mediator" and p.mediator_id:
        return [mediator(p.mediator_id)]
    if p.role == "supervisor":
        return [unit(u) for u in subtree]
    return []


async def mark_read(ctx: HandlerContext, notice_id: str, recipients: list[str]) -> Notice | None:
    try:
        key = uuid.UUID(notice_id)
    except ValueError:
        return None
    return await repository.mark_read(ctx.conn, key, recipients, ctx.now)
