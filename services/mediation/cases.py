"""Mediation's use cases, each inside the caller's unit of work (state, events and clocks together)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import asyncpg

from events.common import Agreement
from events.intake import CaseDispatched, CaseFacts, CaseReclassified
from events.mediation import (
    AssignmentAnswered,
    AssignmentPending,
    CaseOpened,
    CaseReopened,
    CaseResolved,
    ConfirmationRecorded,
    Failed,
    HandedToLegalAid,
    MediatorAssigned,
    PartnerProgress,
    SessionHeld,
    SessionScheduled,
    Settled,
    WindowExtended,
    Withdrawn,
)
from events.partner import UnionConfirmationRequested, UnionMediationFailed, UnionMediationSettled
from services.backbone import caselog
from services.backbone.consumer import HandlerContext, Reject
from services.backbone.deadline import DeadlineError
from services.backbone.usecase import Refused
from services.calendar.model import local_date
from services.calendar.rules import DueRule, tier_rule
from services.hierarchy.orgunits import Hierarchy, default_hierarchy
from services.mediation import repository as repo
from services.mediation.domain.case import MediationCase, MediationError, check_agreement
from services.staffing import assignment

TIER, UNION, COURT = "tier", "union_mediation", "court_entrusted"
CLOCKS_FILE = Path(__file__).parent / "data" / "clocks.json"


@dataclass(frozen=True)
class Clocks:
    union: DueRule
    court_ordinary: DueRule
    court_simplified: DueRule
    extension_days: int

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Clocks:
        def rule(key: str) -> DueRule:
            return DueRule(raw[key]["method"], int(raw[key]["days"]))

        return cls(rule("union_mediation"), rule("court_entrusted_ordinary"), rule("court_entrusted_simplified"),
                   int(raw.get("court_extension_days", 30)))


@lru_cache(maxsize=1)
def default_clocks() -> Clocks:
    return Clocks.from_json(json.loads(Path(os.environ.get("LABORCASE_MEDIATION_CLOCKS_FILE", CLOCKS_FILE)).read_text()))


@dataclass(frozen=True)
class MediationConfig:
    hierarchy: Hierarchy
    clocks: Clocks
    #: how often cases waiting for a mediator with room are offered again
    waiting_queue_seconds: float = 3.0

    @classmethod
    def default(cls) -> MediationConfig:
        return cls(default_hierarchy(), default_clocks())


def _kind(facts: CaseFacts) -> str:
    if facts.refs.court_case_no:
        return "court_post_filing" if facts.refs.referral_kind == "post_filing" else "court_pre_filing"
    if facts.refs.arbitration_case_no:
        return "bureau"
    return "union"


async def _require(ctx: HandlerContext, case_id: str) -> tuple[asyncpg.Record, MediationCase]:
    row = await repo.get(ctx.conn, case_id, lock=True)
    if row is None:
        raise Refused(404, f"调解案件 {case_id} 不存在")
    return row, repo.domain(row)


def _step(fn: Any, *args: Any) -> MediationCase:
    try:
        return fn(*args)
    except MediationError as exc:
        raise Refused(409, str(exc)) from exc


# --- cases in --------------------------------------------------------------------------------------------


async def open_case(ctx: HandlerContext, data: CaseDispatched, config: MediationConfig) -> None:
    """A case dispatched to mediation (first dispatch or re-dispatch after 退单)."""
    existing = await repo.get(ctx.conn, data.case_id, lock=True)
    if existing is not None:
        case = repo.domain(existing)
        if case.state == "resolved" or case.org_unit == data.org_unit:
            return
        await repo.save(ctx.conn, case.move_to(data.org_unit))
        await caselog.log(ctx, data.case_id, actor=None, action="moved", org_unit=data.org_unit,
                       attempt=data.attempt)
        await ctx.conn.execute("UPDATE deadlines SET org_unit = $2 WHERE case_id = $1 AND owner = 'mediation'",
                               data.case_id, data.org_unit)
        await assign(ctx, data.case_id, config=config, reason="退单后重新分派")
        return
    facts = data.facts
    kind = _kind(facts)
    await repo.insert(ctx.conn, {
        "case_id": data.case_id, "org_unit": data.org_unit, "kind": kind, "state": "awaiting_assignment",
        "tier": str(data.tier), "due_at": data.due_at, "received_at": facts.received_at,
        "court_code": facts.refs.court_code, "court_case_no": facts.refs.court_case_no,
        "referral_kind": facts.refs.referral_kind, "procedure": facts.refs.procedure,
        "bureau_code": facts.refs.bureau_code, "arbitration_case_no": facts.refs.arbitration_case_no,
        "facts": facts.model_dump(mode="json"), "group_dispute": facts.group_dispute,
    })
    await repo.add_ref(ctx.conn, "court_case_no", facts.refs.court_case_no, data.case_id)
    await repo.add_ref(ctx.conn, "arbitration_case_no", facts.refs.arbitration_case_no, data.case_id)
    if data.deadline is not None:
        await ctx.deadlines.adopt(data.deadline, case_id=data.case_id, org_unit=data.org_unit, at=ctx.now,
                                  reason="派单至调解")
    await caselog.log(ctx, data.case_id, actor=None, action="opened", org_unit=data.org_unit, kind=kind)
    ctx.publish("mediation.case_opened", CaseOpened(
        case_id=data.case_id, org_unit=data.org_unit, kind=kind, tier=str(data.tier),  # type: ignore[arg-type]
        due_at=data.due_at, court_case_no=facts.refs.court_case_no,
        arbitration_case_no=facts.refs.arbitration_case_no), subject=data.case_id)
    await assign(ctx, data.case_id, config=config, reason="自动分派：按在办案件量与临近期限")


async def reclassified(ctx: HandlerContext, data: CaseReclassified) -> None:
    row = await repo.get(ctx.conn, data.case_id, lock=True)
    if row is None or row["state"] == "resolved":
        return
    await ctx.conn.execute("UPDATE mediation_cases SET tier = $2, due_at = $3 WHERE case_id = $1",
                           data.case_id, str(data.to_tier), data.due_at)
    if await ctx.deadlines.active(data.case_id, TIER) is not None:
        await ctx.deadlines.reschedule(case_id=data.case_id, kind=TIER, due_at=data.due_at,
                                       provisional=data.provisional, at=ctx.now, actor=data.actor, reason=data.reason,
                                       rule=tier_rule(data.to_tier, data.received_at))
    await caselog.log(ctx, data.case_id, actor=data.actor, action="reclassified", tier=str(data.to_tier),
                   reason=data.reason)


# --- mediators -------------------------------------------------------------------------------------------


def _units_for(config: MediationConfig, org_unit: str) -> list[str]:
    """The unit itself and its stations (街道、园区服务站)."""
    return [org_unit, *(u.code for u in config.hierarchy.units.values()
                        if u.parent == org_unit and u.level == "station")]


async def assign(ctx: HandlerContext, case_id: str, *, config: MediationConfig, reason: str,
                 actor: str | None = None, mediator_id: str | None = None, announce_pending: bool = True) -> str | None:
    row = await repo.get(ctx.conn, case_id, lock=True)
    assert row is not None
    case = repo.domain(row)
    soon = ctx.calendar.add_working_days(local_date(ctx.now), 2).day
    candidates = await repo.loads(ctx.conn, _units_for(config, case.org_unit),
                                  soon=datetime.combine(soon, datetime.max.time(), ctx.now.tzinfo))
    if mediator_id is not None:
        chosen = next((c for c in candidates if c.person_id == mediator_id), None)
        if chosen is None:
            raise Refused(422, "该调解员不在本单位或已停用", [("mediator_id", "不在本单位或已停用")])
    else:
        chosen = assignment.choose(candidates, exclude=case.declined_by, unit=case.org_unit)
    if chosen is None:
        if not announce_pending:  # already waiting, and said so when it started to
            return None
        ctx.publish("mediation.assignment_pending", AssignmentPending(
            case_id=case_id, org_unit=case.org_unit, reason="本单位暂无可接案的调解员"), subject=case_id)
        await caselog.log(ctx, case_id, actor=actor, action="assignment_pending", org_unit=case.org_unit)
        return None
    case = _step(case.offer, chosen.person_id)
    await repo.save(ctx.conn, case)
    ctx.publish("mediation.mediator_assigned", MediatorAssigned(
        case_id=case_id, mediator_id=chosen.person_id, mediator_name=chosen.name, org_unit=chosen.org_unit,
        reason=reason, actor=actor), subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action="assigned", mediator_id=chosen.person_id,
                   mediator_name=chosen.name, reason=reason)
    return chosen.person_id


async def accept(ctx: HandlerContext, case_id: str, *, mediator_id: str, config: MediationConfig) -> None:
    """The mediator signs for the file: the union-mediation and court windows start now."""
    row, case = await _require(ctx, case_id)
    first = case.signed_at is None
    case = _step(case.accept, mediator_id, ctx.now)
    await repo.save(ctx.conn, case)
    ctx.publish("mediation.assignment_accepted", AssignmentAnswered(case_id=case_id, mediator_id=mediator_id,
                                                                    at=ctx.now), subject=case_id)
    await caselog.log(ctx, case_id, actor=mediator_id, action="accepted")
    if not first:
        return
    union = DueRule(config.clocks.union.method, config.clocks.union.days, ctx.now)
    due_at, provisional = await ctx.due(union, case_id=case_id)
    await ctx.deadlines.start(case_id=case_id, kind=UNION, started_at=ctx.now, due_at=due_at, provisional=provisional,
                              org_unit=case.org_unit, rule=union, actor=mediator_id, reason="劳动争议调解仲裁法第十四条")
    if row["kind"] == "court_post_filing":
        base = config.clocks.court_simplified if row["procedure"] == "simplified" else config.clocks.court_ordinary
        window = DueRule(base.method, base.days, ctx.now)
        due_at, provisional = await ctx.due(window, case_id=case_id)
        await ctx.deadlines.start(case_id=case_id, kind=COURT, started_at=ctx.now, due_at=due_at,
                                  provisional=provisional, org_unit=case.org_unit, rule=window, actor=mediator_id,
                                  reason=f"委托调解期限（{'简易' if row['procedure'] == 'simplified' else '普通'}程序）")


async def decline(ctx: HandlerContext, case_id: str, *, mediator_id: str, reason: str,
                  config: MediationConfig) -> str | None:
    _, case = await _require(ctx, case_id)
    await repo.save(ctx.conn, _step(case.decline, mediator_id))
    ctx.publish("mediation.assignment_declined", AssignmentAnswered(
        case_id=case_id, mediator_id=mediator_id, at=ctx.now, reason=reason), subject=case_id)
    await caselog.log(ctx, case_id, actor=mediator_id, action="declined", reason=reason)
    return await assign(ctx, case_id, config=config, reason="调解员拒绝后重新分派")


async def reassign(ctx: HandlerContext, case_id: str, *, reason: str, actor: str, config: MediationConfig,
                   mediator_id: str | None = None) -> str | None:
    _, case = await _require(ctx, case_id)
    await repo.save(ctx.conn, _step(case.reassign))
    await caselog.log(ctx, case_id, actor=actor, action="reassigning", reason=reason,
                   previous=case.mediator_id)
    return await assign(ctx, case_id, config=config, reason=f"改派：{reason}", actor=actor, mediator_id=mediator_id)


_room = asyncio.Event()


def room_may_have_freed() -> None:
    """Wake the waiting queue: a mediator may have room now (a case left them, or capacity changed)."""
    _room.set()


async def room_or_timeout(seconds: float) -> None:
    """Wait until a mediator may have room, or ``seconds`` at most (other replicas free room too)."""
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(_room.wait(), seconds)
    _room.clear()


async def offer_waiting(units_of_work: Callable[[], AbstractAsyncContextManager[HandlerContext]],
                        pool: asyncpg.Pool, config: MediationConfig, *, limit: int = 100) -> int:
    """Offer cases waiting for a mediator (everyone was at capacity) as soon as someone has room.

    Earliest due first, per unit; a unit where nobody has room is not tried again in this round. Each
    offer is its own transaction with the case row locked, so replicas and handlers do not collide.
    """
    waiting = await pool.fetch(
        "SELECT case_id, org_unit FROM mediation_cases WHERE state = 'awaiting_assignment' "
        "ORDER BY due_at NULLS LAST, case_id LIMIT $1", limit)
    full: set[str] = set()
    offered = 0
    for row in waiting:
        if row["org_unit"] in full:
            continue
        async with units_of_work() as ctx:
            current = await repo.get(ctx.conn, row["case_id"], lock=True)
            if current is None or current["state"] != "awaiting_assignment":
                continue
            if await assign(ctx, row["case_id"], config=config, reason="调解员有空余，按期限先后自动分派",
                            announce_pending=False) is None:
                full.add(row["org_unit"])
            else:
                offered += 1
    return offered


# --- sessions --------------------------------------------------------------------------------------------


async def schedule_session(ctx: HandlerContext, case_id: str, *, scheduled_at: datetime, location: str,
                           actor: str) -> str:
    _, case = await _require(ctx, case_id)
    _step(case.hold_session)
    session_id = uuid.uuid4()
    await ctx.conn.execute(
        "INSERT INTO sessions (session_id, case_id, scheduled_at, location, created_by) VALUES ($1, $2, $3, $4, $5)",
        session_id, case_id, scheduled_at, location, actor)
    ctx.publish("mediation.session_scheduled", SessionScheduled(
        case_id=case_id, session_id=str(session_id), scheduled_at=scheduled_at, location=location, actor=actor),
        subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action="session_scheduled", at=scheduled_at.isoformat(),
                   location=location)
    return str(session_id)


async def record_session(ctx: HandlerContext, case_id: str, session_id: str, *, held_at: datetime,
                         parties_present: list[str], notes: str, actor: str) -> None:
    _, case = await _require(ctx, case_id)
    _step(case.hold_session)
    status = await ctx.conn.execute(
        "UPDATE sessions SET held_at = $3, parties_present = $4, notes = $5 WHERE case_id = $1 AND session_id = $2",
        case_id, uuid.UUID(session_id), held_at, parties_present, notes)
    if status.endswith(" 0"):
        raise Refused(404, "调解会记录不存在")
    ctx.publish("mediation.session_held", SessionHeld(
        case_id=case_id, session_id=session_id, held_at=held_at, parties_present=parties_present, notes=notes,
        actor=actor), subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action="session_held", parties_present=parties_present)


# --- outcomes --------------------------------------------------------------------------------------------


def _partner_topic(row: asyncpg.Record) -> tuple[str, str, dict[str, str]] | None:
    if row["court_case_no"] and row["kind"].startswith("court"):
        return "court.feedback", row["court_case_no"], {"court_case_no": row["court_case_no"]}
    if row["arbitration_case_no"]:
        return "bureau.feedback", row["arbitration_case_no"], {"arbitration_case_no": row["arbitration_case_no"]}
    return None


async def _stage_clocks(ctx: HandlerContext, case_id: str, action: str, *, actor: str | None, reason: str) -> None:
    """Meet, pause or resume the mediation clocks (union 15 days, court window)."""
    for kind in (UNION, COURT):
        if await ctx.deadlines.active(case_id, kind) is None:
            continue
        if action == "meet":
            await ctx.deadlines.meet(case_id=case_id, kind=kind, at=ctx.now, actor=actor, reason=reason)
        elif action == "pause":
            await _quietly(ctx.deadlines.pause(case_id=case_id, kind=kind, at=ctx.now,
                                               reason="awaiting_court_decision", actor=actor or "system"))
        elif action == "resume":
            await _quietly(ctx.deadlines.resume(case_id=case_id, kind=kind, at=ctx.now, actor=actor or "system",
                                                reason=reason))


async def _quietly(step: Any) -> None:
    try:
        await step
    except DeadlineError:
        pass  # already in that state (a breached clock cannot pause: it stays breached)


async def _resolve(ctx: HandlerContext, row: asyncpg.Record, case: MediationCase, *, outcome: str,
                   agreement: Agreement | None = None, confirmed: bool = False, returned_to: str | None = None,
                   actor: str | None = None, meet_tier: bool = True, to_legal_aid: bool = False) -> None:
    await _stage_clocks(ctx, case.case_id, "meet", actor=actor, reason=outcome)
    if meet_tier:
        await ctx.deadlines.meet(case_id=case.case_id, kind=TIER, at=ctx.now, actor=actor, reason=outcome)
    await ctx.conn.execute("UPDATE mediation_cases SET resolved_at = $2 WHERE case_id = $1", case.case_id, ctx.now)
    ctx.publish("mediation.case_resolved", CaseResolved(
        case_id=case.case_id, outcome=outcome, resolved_at=ctx.now, org_unit=case.org_unit,  # type: ignore[arg-type]
        mediator_id=case.mediator_id, agreement=agreement, confirmed_by_court=confirmed,
        returned_to=returned_to, to_legal_aid=to_legal_aid), subject=case.case_id)  # type: ignore[arg-type]


async def settle(ctx: HandlerContext, case_id: str, *, agreement: Agreement, representatives: list[str],
                 actor: str, request_confirmation: bool = True) -> str:
    row, case = await _require(ctx, case_id)
    problems = check_agreement(agreement, settled_on=local_date(ctx.now))
    names = {w["name"] for w in row["facts"]["workers"]}
    if row["group_dispute"] and not representatives:
        problems.append(("representatives", "集体争议须登记职工代表"))
    problems += [("representatives", f"{n} 不是本案职工") for n in representatives if n not in names]
    if problems:
        raise Refused(422, "调解协议信息有误", problems)
    wants_court = case.is_court_case and request_confirmation
    if not wants_court and case.is_court_case:
        case = MediationCase(**{**case.__dict__, "court_case_no": None})  # settled without judicial confirmation
    settled = _step(case.settle)
    await repo.save(ctx.conn, settled, agreement=agreement.model_dump(mode="json"), representatives=representatives)
    ctx.publish("mediation.settled", Settled(case_id=case_id, settled_at=ctx.now, agreement=agreement,
                                             representatives=representatives, confirmation_requested=wants_court,
                                             actor=actor), subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action="settled", amount_cny=str(agreement.amount_cny),
                   instalments=len(agreement.instalments), confirmation_requested=wants_court)
    partner = _partner_topic(row)
    if partner is not None:
        topic, key, ref = partner
        ctx.publish("union.mediation_settled", UnionMediationSettled(
            case_id=case_id, org_unit=row["org_unit"], settled_at=ctx.now, agreement=agreement, **ref),
            subject=case_id, topic=topic, key=key)
    if wants_court:
        ctx.publish("union.confirmation_requested", UnionConfirmationRequested(
            case_id=case_id, org_unit=row["org_unit"], requested_at=ctx.now, agreement=agreement,
            court_case_no=row["court_case_no"]), subject=case_id, topic="court.feedback", key=row["court_case_no"])
        await _stage_clocks(ctx, case_id, "pause", actor=actor, reason="等待法院司法确认")
        await _quietly(ctx.deadlines.pause(case_id=case_id, kind=TIER, at=ctx.now, reason="awaiting_court_decision",
                                           actor=actor))
        return settled.state
    await _resolve(ctx, row, settled, outcome="settled", agreement=agreement, actor=actor)
    return settled.state


async def confirmation_decided(ctx: HandlerContext, *, court_case_no: str, decision: str, decided_at: datetime,
                               reason: str) -> bool:
    """The court's decision. False when the case is not (yet) waiting for it here: the caller parks it."""
    row = await repo.by_ref(ctx.conn, "court_case_no", court_case_no)
    if row is None or row["state"] != "awaiting_confirmation":
        return False
    _held_by_sender(ctx, row, "court")
    case = repo.domain(row)
    after = _step(case.confirmation, decision)
    await repo.save(ctx.conn, after)
    ctx.publish("mediation.confirmation_recorded", ConfirmationRecorded(
        case_id=case.case_id, court_case_no=court_case_no, decision=decision,  # type: ignore[arg-type]
        decided_at=decided_at, reason=reason), subject=case.case_id)
    await caselog.log(ctx, case.case_id, actor=f"court:{row['court_code']}", action=f"confirmation_{decision}",
                   reason=reason)
    await _quietly(ctx.deadlines.resume(case_id=case.case_id, kind=TIER, at=ctx.now, actor="court",
                                        reason=f"司法确认：{decision}"))
    if decision == "confirmed":
        await _resolve(ctx, row, after, outcome="settled", agreement=Agreement.model_validate(row["agreement"]),
                       confirmed=True, actor="court")
    else:
        await _stage_clocks(ctx, case.case_id, "resume", actor="court", reason=f"法院不予确认：{reason}")
        await ctx.conn.execute("UPDATE mediation_cases SET agreement = NULL WHERE case_id = $1", case.case_id)
    return True


async def fail(ctx: HandlerContext, case_id: str, *, disputed_points: list[str], summary: str, to_legal_aid: bool,
               actor: str) -> None:
    row, case = await _require(ctx, case_id)
    points = [p.strip() for p in disputed_points if p.strip()]
    if not points:
        raise Refused(422, "调解不成须列明争议焦点", [("disputed_points", "至少填写一项争议焦点")])
    failed = _step(case.fail)
    await repo.save(ctx.conn, failed, disputed_points=points)
    ctx.publish("mediation.failed", Failed(case_id=case_id, failed_at=ctx.now, disputed_points=points,
                                           summary=summary, to_legal_aid=to_legal_aid, actor=actor), subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action="failed", disputed_points=points, to_legal_aid=to_legal_aid)
    partner = _partner_topic(row)
    returned_to = None
    if partner is not None:
        topic, key, ref = partner
        returned_to = "court" if topic == "court.feedback" else "arbitration"
        ctx.publish("union.mediation_failed", UnionMediationFailed(
            case_id=case_id, org_unit=row["org_unit"], failed_at=ctx.now, disputed_points=points, summary=summary,
            **ref), subject=case_id, topic=topic, key=key)
    handover = None
    if to_legal_aid:
        handover = await ctx.deadlines.hand_over(case_id=case_id, kind=TIER, at=ctx.now, to="legal_aid")
        ctx.publish("mediation.handed_to_legal_aid", HandedToLegalAid(
            case_id=case_id, org_unit=row["org_unit"], facts=CaseFacts.model_validate(row["facts"]),
            disputed_points=points, summary=summary, deadline=handover), subject=case_id)
    await _resolve(ctx, row, failed, outcome="failed", returned_to=returned_to, actor=actor,
                   meet_tier=handover is None, to_legal_aid=handover is not None)


async def hold_clock(ctx: HandlerContext, case_id: str, *, pause: bool, reason: str, actor: str) -> None:
    """Stop the case's clock for a listed reason (party unreachable, awaiting materials), or restart it."""
    await _require(ctx, case_id)
    try:
        if pause:
            await ctx.deadlines.pause(case_id=case_id, kind=TIER, at=ctx.now, reason=reason, actor=actor)
        else:
            await ctx.deadlines.resume(case_id=case_id, kind=TIER, at=ctx.now, actor=actor, reason=reason)
    except DeadlineError as exc:
        raise Refused(409, f"不能{'暂停' if pause else '恢复'}计时：{exc}") from exc
    await caselog.log(ctx, case_id, actor=actor, action="clock_paused" if pause else "clock_resumed",
                      reason=reason)


async def withdraw(ctx: HandlerContext, case_id: str, *, reason: str, actor: str) -> None:
    row, case = await _require(ctx, case_id)
    after = _step(case.withdraw)
    await repo.save(ctx.conn, after)
    ctx.publish("mediation.withdrawn", Withdrawn(case_id=case_id, withdrawn_at=ctx.now, reason=reason, actor=actor),
                subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action="withdrawn", reason=reason)
    await _resolve(ctx, row, after, outcome="withdrawn", actor=actor)


async def extend_court_window(ctx: HandlerContext, case_id: str, *, consent: str, actor: str,
                              config: MediationConfig) -> datetime:
    """+30 days on both parties' consent (recorded as an event with who and why)."""
    await _require(ctx, case_id)
    current = await ctx.deadlines.active(case_id, COURT)
    if current is None:
        raise Refused(409, "本案没有法院委托调解期限，无需延长")
    if current.attributes.get("extended"):
        raise Refused(409, "委托调解期限已延长过一次")
    due_at = current.due_at + timedelta(days=config.clocks.extension_days)
    d = await ctx.deadlines.extend(case_id=case_id, kind=COURT, due_at=due_at, at=ctx.now, actor=actor,
                                   reason=f"双方当事人同意延长：{consent}")
    await ctx.conn.execute("UPDATE deadlines SET attributes = attributes || '{\"extended\": true}' WHERE id = $1", d.id)
    ctx.publish("mediation.window_extended", WindowExtended(case_id=case_id, due_at=due_at, consent=consent,
                                                            actor=actor), subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action="window_extended", due_at=due_at.isoformat(),
                   consent=consent)
    return due_at


async def reopen(ctx: HandlerContext, *, case_id: str, route: str, reason: str, config: MediationConfig) -> None:
    """Follow-up found the agreement not honoured (DESIGN §2: a case can be reopened)."""
    row = await repo.get(ctx.conn, case_id, lock=True)
    if row is None or row["state"] != "resolved":
        return
    if route == "legal_aid":  # a confirmed agreement is enforceable: legal aid applies for enforcement
        ctx.publish("mediation.handed_to_legal_aid", HandedToLegalAid(
            case_id=case_id, org_unit=row["org_unit"], facts=CaseFacts.model_validate(row["facts"]),
            disputed_points=["调解协议未履行，申请强制执行"], summary=reason), subject=case_id)
        await caselog.log(ctx, case_id, actor="followup", action="enforcement_requested", reason=reason)
        return
    after = _step(repo.domain(row).reopen)
    await repo.save(ctx.conn, after, resolved_at=None)
    rule = tier_rule(row["tier"], ctx.now)
    due_at, provisional = await ctx.due(rule, case_id=case_id)
    await ctx.deadlines.start(case_id=case_id, kind=TIER, started_at=ctx.now, due_at=due_at, provisional=provisional,
                              org_unit=row["org_unit"], rule=rule, actor="followup", reason=f"重新调解：{reason}")
    ctx.publish("mediation.case_reopened", CaseReopened(case_id=case_id, reason=reason, mediator_id=after.mediator_id,
                                                        due_at=due_at), subject=case_id)
    await caselog.log(ctx, case_id, actor="followup", action="reopened", reason=reason)
    if after.state == "awaiting_assignment":
        await assign(ctx, case_id, config=config, reason="重新调解")


async def court_filed(ctx: HandlerContext, *, court_case_no: str, filed_at: datetime) -> bool:
    row = await repo.by_ref(ctx.conn, "court_case_no", court_case_no)
    if row is None:
        return False
    _held_by_sender(ctx, row, "court")
    case = repo.domain(row)
    ctx.publish("mediation.partner_progress", PartnerProgress(
        case_id=case.case_id, kind="case_filed", at=filed_at, court_case_no=court_case_no), subject=case.case_id)
    await caselog.log(ctx, case.case_id, actor=f"court:{row['court_code']}", action="court_filed")
    if case.state != "resolved":
        after = case.court_filed()
        await repo.save(ctx.conn, after)
        await _resolve(ctx, row, after, outcome="closed_by_court", returned_to="court", actor="court")
    return True


async def bureau_progress(ctx: HandlerContext, *, arbitration_case_no: str, kind: str, at: datetime,
                          amount: float | None = None) -> bool:
    row = await repo.by_ref(ctx.conn, "arbitration_case_no", arbitration_case_no)
    if row is None:
        return False
    _held_by_sender(ctx, row, "bureau")
    ctx.publish("mediation.partner_progress", PartnerProgress(
        case_id=row["case_id"], kind=kind, at=at, arbitration_case_no=arbitration_case_no,  # type: ignore[arg-type]
        amount_awarded_cny=amount), subject=row["case_id"])
    await caselog.log(ctx, row["case_id"], actor=f"bureau:{row['bureau_code']}", action=kind,
                   amount_awarded_cny=amount)
    return True


def _held_by_sender(ctx: HandlerContext, row: asyncpg.Record, kind: str) -> None:
    """A court's (bureau's) event applies only to a case that court (bureau) referred: bound to the signer."""
    sender = getattr(ctx.partner, "code", None)
    if ctx.partner is not None and row[f"{kind}_code"] != sender:
        raise Reject(f"out_of_scope: the case was not referred by {kind} {sender}")


async def sync_mediators(pool: asyncpg.Pool, hierarchy: Hierarchy) -> int:
    """Seed the registry from configuration: new mediators are added, edits made through the API are kept."""
    rows = [(m["id"], m["name"], unit.code, int(m.get("capacity", 8)), list(m.get("specialties", [])))
            for unit in hierarchy.units.values() for m in unit.attributes.get("mediators", [])]
    await pool.executemany(
        "INSERT INTO mediators (mediator_id, name, org_unit, capacity, specialties) VALUES ($1, $2, $3, $4, $5) "
        "ON CONFLICT (mediator_id) DO NOTHING", rows)
    return len(rows)

