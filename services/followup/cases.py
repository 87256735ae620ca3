"""Follow-up's use cases (回访): schedule calls for resolved cases, record them, close or reopen the case."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from events.common import Agreement
from events.followup import (
    CaseClosed,
    CaseFlagged,
    CaseReopened,
    FollowupAttempted,
    FollowupCompleted,
    FollowupEscalated,
    FollowupScheduled,
    InstalmentChecked,
)
from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.backbone.deadline import DeadlineError
from services.backbone.usecase import Refused
from services.calendar.model import end_of_day, local_date
from services.followup.domain.schedule import Call, Policy, default_policy, is_low, next_attempt, plan, verdict


@dataclass(frozen=True)
class FollowupConfig:
    policy: Policy

    @classmethod
    def default(cls) -> FollowupConfig:
        return cls(default_policy())


def clock_kind(kind: str, seq: int, cycle: int) -> str:
    base = "followup_first" if kind == "first" else f"instalment_check_{seq}"
    return base if cycle == 1 else f"{base}_c{cycle}"


async def case_resolved(ctx: HandlerContext, *, case_id: str, source: str, org_unit: str, outcome: str,
                        resolved_at: datetime, agreement: Agreement | None, confirmed_by_court: bool,
                        config: FollowupConfig) -> None:
    """A resolved case enters follow-up (again, after a reopening: a new cycle)."""
    row = await ctx.conn.fetchrow("SELECT * FROM followup_cases WHERE case_id = $1 FOR UPDATE", case_id)
    if row is not None and row["state"] == "monitoring":
        return  # already being followed up (a redelivered or late duplicate)
    cycle = 1 if row is None else row["cycle"] + 1
    values = (case_id, source, org_unit, outcome, resolved_at, confirmed_by_court,
              agreement.model_dump(mode="json") if agreement else None, cycle)
    if row is None:
        await ctx.conn.execute(
            "INSERT INTO followup_cases (case_id, source, org_unit, outcome, resolved_at, confirmed_by_court, "
            "agreement, state, cycle) VALUES ($1, $2, $3, $4, $5, $6, $7, 'monitoring', $8)", *values)
    else:
        await ctx.conn.execute(
            "UPDATE followup_cases SET source = $2, org_unit = $3, outcome = $4, resolved_at = $5, "
            "confirmed_by_court = $6, agreement = $7, state = 'monitoring', cycle = $8, closed_at = NULL, "
            "updated_at = now() WHERE case_id = $1", *values)
    for planned in plan(resolved_at=resolved_at, instalments=agreement.instalments if agreement else [],
                        calendar=ctx.calendar, policy=config.policy):
        followup_id = uuid.uuid4()
        await ctx.conn.execute(
            "INSERT INTO followups (followup_id, case_id, cycle, kind, seq, due_date, instalment_due, amount, state) "
            "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'scheduled')",
            followup_id, case_id, cycle, planned.kind, planned.seq, planned.due.day, planned.instalment_due,
            planned.amount)
        await ctx.deadlines.start(case_id=case_id, kind=clock_kind(planned.kind, planned.seq, cycle),
                                  started_at=ctx.now, due_at=max(end_of_day(planned.due.day), ctx.now),
                                  provisional=planned.due.provisional, org_unit=org_unit,
                                  reason="回访" if planned.kind == "first" else f"第{planned.seq}期履行情况核查")
        ctx.publish("followup.scheduled", FollowupScheduled(
            case_id=case_id, followup_id=str(followup_id), kind=planned.kind,  # type: ignore[arg-type]
            due_date=planned.due.day.isoformat(), instalment_no=planned.seq or None, amount_cny=planned.amount),
            subject=case_id)
    await caselog.log(ctx, case_id, actor=None, action="followup_scheduled", cycle=cycle, outcome=outcome)


async def record_call(ctx: HandlerContext, followup_id: str, *, reached: bool, actor: str,
                      satisfaction: int | None = None, comment: str = "", paid: bool | None = None,
                      config: FollowupConfig) -> dict[str, Any]:
    f = await ctx.conn.fetchrow("SELECT * FROM followups WHERE followup_id = $1 FOR UPDATE", uuid.UUID(followup_id))
    if f is None:
        raise Refused(404, "回访任务不存在")
    if f["state"] != "scheduled":
        raise Refused(409, "该回访已完成，不能重复登记")
    case_id, kind = f["case_id"], clock_kind(f["kind"], f["seq"], f["cycle"])
    case = await ctx.conn.fetchrow("SELECT * FROM followup_cases WHERE case_id = $1 FOR UPDATE", case_id)
    attempt = f["attempts"] + 1
    if not reached:
        return await _not_reached(ctx, f, case, attempt=attempt, kind=kind, actor=actor, config=config)
    if f["kind"] == "first" and satisfaction is None:
        raise Refused(422, "接通后请登记满意度（1–5分）", [("satisfaction", "缺少满意度")])
    if f["kind"] == "instalment" and paid is None:
        raise Refused(422, "请登记该期款项是否已支付", [("paid", "缺少履行情况")])
    await ctx.conn.execute(
        "UPDATE followups SET state = 'done', attempts = $2, reached = true, paid = $3, satisfaction = $4, "
        "comment = $5, done_at = $6 WHERE followup_id = $1", f["followup_id"], attempt, paid, satisfaction, comment,
        ctx.now)
    await ctx.deadlines.meet(case_id=case_id, kind=kind, at=ctx.now, actor=actor, reason="reached")
    ctx.publish("followup.attempted", FollowupAttempted(case_id=case_id, followup_id=followup_id, reached=True,
                                                        attempt=attempt, actor=actor), subject=case_id)
    if f["kind"] == "first":
        await ctx.conn.execute("UPDATE followup_cases SET satisfaction = $2, comment = $3 WHERE case_id = $1",
                               case_id, satisfaction, comment)
        ctx.publish("followup.completed", FollowupCompleted(case_id=case_id, followup_id=followup_id,
                                                            satisfaction=satisfaction, comment=comment, actor=actor),
                    subject=case_id)
        if is_low(satisfaction, config.policy):
            await ctx.conn.execute("UPDATE followup_cases SET flagged = true WHERE case_id = $1", case_id)
            ctx.publish("followup.flagged", CaseFlagged(case_id=case_id, reason="low_satisfaction",
                                                        satisfaction=satisfaction, comment=comment), subject=case_id)
    else:
        event_type = "followup.instalment_paid" if paid else "followup.instalment_missed"
        ctx.publish(event_type, InstalmentChecked(case_id=case_id, instalment_no=f["seq"],
                                                  due_date=f["instalment_due"].isoformat(), amount_cny=f["amount"],
                                                  actor=actor), subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action=f"call_{f['kind']}", reached=True, paid=paid,
                      satisfaction=satisfaction)
    return {"case_id": case_id, "case_state": await _settle_case(ctx, case_id, case, actor=actor, config=config)}


async def _not_reached(ctx: HandlerContext, f: asyncpg.Record, case: asyncpg.Record, *, attempt: int, kind: str,
                       actor: str, config: FollowupConfig) -> dict[str, Any]:
    case_id = f["case_id"]
    if attempt >= config.policy.max_attempts:
        await ctx.conn.execute("UPDATE followups SET state = 'unreachable', attempts = $2, reached = false, "
                               "done_at = $3 WHERE followup_id = $1", f["followup_id"], attempt, ctx.now)
        await ctx.deadlines.meet(case_id=case_id, kind=kind, at=ctx.now, actor=actor, reason="unreachable")
        ctx.publish("followup.attempted", FollowupAttempted(case_id=case_id, followup_id=str(f["followup_id"]),
                                                            reached=False, attempt=attempt, actor=actor),
                    subject=case_id)
        ctx.publish("followup.flagged", CaseFlagged(case_id=case_id, reason="unreachable"), subject=case_id)
        await caselog.log(ctx, case_id, actor=actor, action="unreachable", attempts=attempt)
        return {"case_id": case_id, "case_state": await _settle_case(ctx, case_id, case, actor=actor, config=config)}
    retry = next_attempt(ctx.calendar, local_date(ctx.now))
    await ctx.conn.execute("UPDATE followups SET attempts = $2, due_date = $3 WHERE followup_id = $1",
                           f["followup_id"], attempt, retry.day)
    try:
        await ctx.deadlines.reschedule(case_id=case_id, kind=kind, due_at=end_of_day(retry.day),
                                       provisional=retry.provisional, at=ctx.now, actor=actor,
                                       reason=f"第{attempt}次未接通，次一工作日再次回访")
    except DeadlineError:
        pass
    ctx.publish("followup.attempted", FollowupAttempted(
        case_id=case_id, followup_id=str(f["followup_id"]), reached=False, attempt=attempt,
        next_attempt_date=retry.day.isoformat(), actor=actor), subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action="not_reached", attempt=attempt,
                      next_attempt=retry.day.isoformat())
    return {"case_id": case_id, "case_state": case["state"], "next_attempt_date": retry.day.isoformat()}


async def _settle_case(ctx: HandlerContext, case_id: str, case: asyncpg.Record, *, actor: str,
                       config: FollowupConfig) -> str:
    calls = [Call(r["kind"], r["state"], r["reached"], r["paid"]) for r in await ctx.conn.fetch(
        "SELECT kind, state, reached, paid FROM followups WHERE case_id = $1 AND cycle = $2", case_id, case["cycle"])]
    outcome = verdict(calls)
    if outcome == "open":
        return "monitoring"
    if outcome == "reopen":
        route = config.policy.unpaid_route(confirmed_by_court=case["confirmed_by_court"])
        reason = "分期款项未按期履行"
        await _cancel_pending(ctx, case_id, case["cycle"], actor=actor)
        await ctx.conn.execute("UPDATE followup_cases SET state = 'reopened', updated_at = now() WHERE case_id = $1",
                               case_id)
        ctx.publish("followup.escalated", FollowupEscalated(case_id=case_id, route=route, reason=reason,  # type: ignore[arg-type]
                                                            confirmed_by_court=case["confirmed_by_court"]),
                    subject=case_id)
        ctx.publish("followup.case_reopened", CaseReopened(case_id=case_id, reopened_at=ctx.now, reason=reason,
                                                           route=route), subject=case_id)  # type: ignore[arg-type]
        await caselog.log(ctx, case_id, actor=actor, action="reopened", route=route, reason=reason)
        return "reopened"
    state = "unreachable" if outcome == "unreachable" else "closed"
    satisfaction = await ctx.conn.fetchval("SELECT satisfaction FROM followup_cases WHERE case_id = $1", case_id)
    await ctx.conn.execute("UPDATE followup_cases SET state = $2, closed_at = $3, updated_at = now() "
                           "WHERE case_id = $1", case_id, state, ctx.now)
    reason = "回访完成，协议已全部履行" if state == "closed" else "多次回访未能联系到职工，按程序结案"
    ctx.publish("followup.case_closed", CaseClosed(case_id=case_id, closed_at=ctx.now, satisfaction=satisfaction,
                                                   reason=reason), subject=case_id)
    await caselog.log(ctx, case_id, actor=actor, action="closed", reason=reason)
    return state


async def _cancel_pending(ctx: HandlerContext, case_id: str, cycle: int, *, actor: str) -> None:
    rows = await ctx.conn.fetch("UPDATE followups SET state = 'cancelled' WHERE case_id = $1 AND cycle = $2 "
                                "AND state = 'scheduled' RETURNING kind, seq", case_id, cycle)
    for r in rows:
        await ctx.deadlines.cancel(case_id=case_id, kind=clock_kind(r["kind"], r["seq"], cycle), at=ctx.now,
                                   actor=actor, reason="案件重新办理")

