"""Mediation sessions (调解会): scheduled, then recorded as held with who came."""

from __future__ import annotations

import uuid
from datetime import datetime

from events.mediation import SessionHeld, SessionScheduled
from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.backbone.errors import NotFound
from services.backbone.usecase import step
from services.mediation import repository as repo
from services.mediation.domain.case import MediationError

SESSION_MISSING = "调解会记录不存在"


async def schedule_session(ctx: HandlerContext, case_id: str, *, scheduled_at: datetime, location: str,
                           actor: str) -> str:
    _, case = await repo.held(ctx.conn, case_id)
    step(case.hold_session, refusal=MediationError)
    session_id = await repo.insert_session(ctx.conn, case_id=case_id, scheduled_at=scheduled_at, location=location,
                                           created_by=actor)
    ctx.publish("mediation.session_scheduled", SessionScheduled(
        case_id=case_id, session_id=str(session_id), scheduled_at=scheduled_at, location=location, actor=actor),
        subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action="session_scheduled", at=scheduled_at.isoformat(),
                      location=location)
    return str(session_id)


async def record_session(ctx: HandlerContext, case_id: str, session_id: str, *, held_at: datetime,
                         parties_present: list[str], notes: str, actor: str) -> None:
    _, case = await repo.held(ctx.conn, case_id)
    step(case.hold_session, refusal=MediationError)
    try:
        key = uuid.UUID(session_id)
    except ValueError:
        raise NotFound(SESSION_MISSING) from None
    if await repo.record_session(ctx.conn, case_id, key, held_at=held_at, parties_present=parties_present,
                                 notes=notes) is None:
        raise NotFound(SESSION_MISSING)
    ctx.publish("mediation.session_held", SessionHeld(
        case_id=case_id, session_id=session_id, held_at=held_at, parties_present=parties_present, notes=notes,
        actor=actor), subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action="session_held", parties_present=parties_present)
