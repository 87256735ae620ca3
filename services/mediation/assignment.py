"""Assigning a case to a mediator (分派): by load and nearing deadlines, the mediator's answer (签收 / 拒绝),
reassignment (改派), and the waiting queue of cases nobody had room for."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import datetime

import asyncpg

from events.mediation import AssignmentAnswered, AssignmentPending, MediatorAssigned
from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.backbone.errors import Invalid
from services.backbone.usecase import found, step
from services.calendar.model import local_date
from services.mediation import repository as repo
from services.mediation.clocks import start_windows
from services.mediation.config import MediationConfig
from services.mediation.domain.case import MediationError
from services.mediation.models import MediationCaseRecord
from services.staffing import assignment as staffing


def units_for(config: MediationConfig, org_unit: str) -> list[str]:
    """The unit itself and its stations (街道、园区服务站): whose mediators may carry its cases."""
    return [org_unit, *(u.code for u in config.hierarchy.units.values()
                        if u.parent == org_unit and u.level == "station")]


async def assign(ctx: HandlerContext, case_id: str, *, config: MediationConfig, reason: str,
                 actor: str | None = None, mediator_id: str | None = None, announce_pending: bool = True,
                 record: MediationCaseRecord | None = None) -> str | None:
    """Offer the case to ``mediator_id``, or to the mediator with room the load rule picks; None when nobody has
    room (the case waits, and says so unless ``announce_pending`` is False: it already did). ``record``: the
    case's row as this transaction holds it (locked, or just written); else it is read and locked here."""
    record = record or found(await repo.get(ctx.conn, case_id, lock=True), repo.missing(case_id))
    case = repo.domain(record)
    soon = ctx.calendar.add_working_days(local_date(ctx.now), 2).day
    candidates = await repo.loads(ctx.conn, units_for(config, case.org_unit),
                                  soon=datetime.combine(soon, datetime.max.time(), ctx.now.tzinfo))
    if mediator_id is not None:
        chosen = next((c for c in candidates if c.person_id == mediator_id), None)
        if chosen is None:
            raise Invalid("该调解员不在本单位或已停用", errors=[("mediator_id", "不在本单位或已停用")])
    else:
        chosen = staffing.choose(candidates, exclude=case.declined_by, unit=case.org_unit)
    if chosen is None:
        if not announce_pending:
            return None
        ctx.publish("mediation.assignment_pending", AssignmentPending(
            case_id=case_id, org_unit=case.org_unit, reason="本单位暂无可接案的调解员"), subject=case_id)
        caselog.log(ctx, case_id, actor=actor, action="assignment_pending", org_unit=case.org_unit)
        return None
    case = step(case.offer, chosen.person_id, refusal=MediationError)
    await repo.save(ctx.conn, case)
    ctx.publish("mediation.mediator_assigned", MediatorAssigned(
        case_id=case_id, mediator_id=chosen.person_id, mediator_name=chosen.name, org_unit=chosen.org_unit,
        reason=reason, actor=actor), subject=case_id)
    caselog.log(ctx, case_id, actor=actor, action="assigned", mediator_id=chosen.person_id,
                mediator_name=chosen.name, reason=reason)
    return chosen.person_id


async def accept(ctx: HandlerContext, case_id: str, *, mediator_id: str, config: MediationConfig) -> None:
    """The mediator signs for the file (签收): the union-mediation and court windows start now."""
    record, case = await repo.held(ctx, case_id)
    first = case.signed_at is None
    case = step(case.accept, mediator_id, ctx.now, refusal=MediationError)
    await repo.save(ctx.conn, case)
    ctx.publish("mediation.assignment_accepted", AssignmentAnswered(case_id=case_id, mediator_id=mediator_id,
                                                                    at=ctx.now), subject=case_id)
    caselog.log(ctx, case_id, actor=mediator_id, action="accepted")
    if first:
        await start_windows(ctx, record, config=config, actor=mediator_id)


async def decline(ctx: HandlerContext, case_id: str, *, mediator_id: str, reason: str,
                  config: MediationConfig) -> str | None:
    """The mediator declines (拒绝接收, e.g. a conflict of interest): offered to someone else."""
    _, case = await repo.held(ctx, case_id)
    await repo.save(ctx.conn, step(case.decline, mediator_id, refusal=MediationError))
    ctx.publish("mediation.assignment_declined", AssignmentAnswered(
        case_id=case_id, mediator_id=mediator_id, at=ctx.now, reason=reason), subject=case_id)
    caselog.log(ctx, case_id, actor=mediator_id, action="declined", reason=reason)
    return await assign(ctx, case_id, config=config, reason="调解员拒绝后重新分派")


async def reassign(ctx: HandlerContext, case_id: str, *, reason: str, actor: str, config: MediationConfig,
                   mediator_id: str | None = None) -> str | None:
    """改派: to ``mediator_id``, or to whoever the load rule picks."""
    _, case = await repo.held(ctx, case_id)
    await repo.save(ctx.conn, step(case.reassign, refusal=MediationError))
    caselog.log(ctx, case_id, actor=actor, action="reassigning", reason=reason, previous=case.mediator_id)
    return await assign(ctx, case_id, config=config, reason=f"改派：{reason}", actor=actor, mediator_id=mediator_id)


async def offer_waiting(units_of_work: Callable[[], AbstractAsyncContextManager[HandlerContext]],
                        pool: asyncpg.Pool, config: MediationConfig, *, limit: int = 100) -> int:
    """Offer cases waiting for a mediator (everyone was at capacity) as soon as someone has room.

    Earliest due first, per unit; a unit where nobody has room is not tried again in this round. Each
    offer is its own transaction with the case row locked, so replicas and handlers do not collide.
    """
    full: set[str] = set()
    offered = 0
    for case_id, org_unit in await repo.waiting(pool, limit=limit):
        if org_unit in full:
            continue
        async with units_of_work() as ctx:
            current = await repo.get(ctx.conn, case_id, lock=True)
            if current is None or current.state != "awaiting_assignment":
                continue
            if await assign(ctx, case_id, config=config, reason="调解员有空余，按期限先后自动分派",
                            announce_pending=False, record=current) is None:
                full.add(org_unit)
            else:
                offered += 1
    return offered
