"""Mediation sessions (调解会): scheduled, then recorded as held with who came."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from events.mediation import SessionHeld, SessionScheduled
from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.backbone.errors import Invalid, NotFound
from services.backbone.usecase import step
from services.mediation import repository as repo
from services.mediation.domain.case import MediationError

SESSION_MISSING = "调解会记录不存在"
#: what may come of a session (events.glossary.SESSION_RESULT)
RESULTS = ("continue", "agreed", "no_agreement", "absent")
#: a session is recorded after it took place: a little slack for clocks that differ
CLOCK_SLACK = timedelta(minutes=10)


async def schedule_session(ctx: HandlerContext, case_id: str, *, scheduled_at: datetime, location: str,
                           actor: str) -> str:
    _, case = await repo.held(ctx, case_id)
    step(case.hold_session, refusal=MediationError)
    session_id = await repo.insert_session(ctx.conn, case_id=case_id, scheduled_at=scheduled_at, location=location,
                                           created_by=actor)
    ctx.publish("mediation.session_scheduled", SessionScheduled(
        case_id=case_id, session_id=str(session_id), scheduled_at=scheduled_at, location=location, actor=actor),
        subject=case_id)
    caselog.log(ctx, case_id, actor=actor, action="session_scheduled", at=scheduled_at.isoformat(),
                location=location)
    return str(session_id)


async def record_session(ctx: HandlerContext, case_id: str, session_id: str, *, held_at: datetime,
                         parties_present: list[str], notes: str, actor: str, result: str = "continue") -> None:
    """What happened at a session (召开调解会): when, who came, what was said and what came of it."""
    _, case = await repo.held(ctx, case_id)
    step(case.hold_session, refusal=MediationError)
    problems: list[tuple[str, str]] = []
    if held_at > ctx.now + CLOCK_SLACK:
        problems.append(("held_at", "召开时间不能晚于现在：调解会召开后再记录"))
    present = [p.strip() for p in parties_present if p.strip()]
    if not present:
        problems.append(("parties_present", "至少选择一方到场人员"))
    if result not in RESULTS:
        problems.append(("result", "请选择调解会结果"))
    if problems:
        raise Invalid("调解会记录有误", errors=problems)
    try:
        key = uuid.UUID(session_id)
    except ValueError:
        raise NotFound(SESSION_MISSING) from None
    if await repo.record_session(ctx.conn, case_id, key, held_at=held_at, parties_present=present,
                                 notes=notes, result=result) is None:
        raise NotFound(SESSION_MISSING)
    ctx.publish("mediation.session_held", SessionHeld(
        case_id=case_id, session_id=session_id, held_at=held_at, parties_present=present, notes=notes,
        actor=actor), subject=case_id)
    caselog.log(ctx, case_id, actor=actor, action="session_held", at=held_at.isoformat(),
                parties_present=present, result=result)
