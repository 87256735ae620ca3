"""Recording a follow-up call (回访登记): the first call asks the worker's satisfaction, an instalment check asks
whether that instalment was paid; a worker not reached is called again the next working day, up to the policy's
number of attempts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from events.followup import FollowupAttempted, FollowupCompleted, InstalmentChecked
from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.backbone.errors import Conflict, Invalid
from services.backbone.usecase import found, held_if_allowed, quietly
from services.calendar.model import end_of_day, local_date
from services.followup import closing, repository
from services.followup.config import FollowupConfig
from services.followup.domain.schedule import is_low, next_attempt
from services.followup.models import Followup, FollowupCase
from services.followup.scheduling import clock_kind

MISSING = "回访任务不存在"


def _scope(held: tuple[Any, FollowupCase] | None) -> repository.CallScope | None:
    return repository.CallScope(held[1].case_id, held[1].org_unit) if held else None


async def record_call(ctx: HandlerContext, followup_id: str, *, reached: bool, actor: str,
                      satisfaction: int | None = None, comment: str = "", paid: bool | None = None,
                      config: FollowupConfig,
                      check: Callable[[repository.CallScope | None], None] | None = None) -> dict[str, Any]:
    """Record one call; returns the case's state after it (and the next attempt's day when not reached).
    ``check``: the caller's right to write the call's case, checked on the rows this locks (it raises); only a
    caller who may write it waits for another writer's lock (``usecase.held_if_allowed``)."""
    key = repository.call_id(followup_id)
    if key is None:  # names no call
        held = None
        if check is not None:
            check(None)
    elif check is None:
        held = await repository.locked_call_and_case(ctx.conn, key)
    else:
        held = await held_if_allowed(lambda: repository.locked_call_and_case(ctx.conn, key, wait=False),
                                     lambda: repository.call_and_case(ctx.conn, key),
                                     lambda: repository.locked_call_and_case(ctx.conn, key),
                                     lambda h: check(_scope(h)))
    call, case = found(held, MISSING)
    if call.state != "scheduled":
        raise Conflict("该回访已完成，不能重复登记")
    attempt = call.attempts + 1
    if not reached:
        return await _not_reached(ctx, call, case, attempt=attempt, actor=actor, config=config)
    if call.kind == "first" and satisfaction is None:
        raise Invalid("接通后请登记满意度（1–5分）", errors=[("satisfaction", "缺少满意度")])
    if call.kind == "instalment" and paid is None:
        raise Invalid("请登记该期款项是否已支付", errors=[("paid", "缺少履行情况")])
    if call.kind == "instalment" and paid is False:
        _due_before_missed(call, today=local_date(ctx.now))
    case_id = call.case_id
    await repository.save_call(ctx.conn, call.model_copy(update={
        "state": "done", "attempts": attempt, "reached": True, "paid": paid, "satisfaction": satisfaction,
        "comment": comment, "done_at": ctx.now}))
    await ctx.deadlines.meet(case_id=case_id, kind=clock_kind(call.kind, call.seq, call.cycle), at=ctx.now,
                             actor=actor, reason="reached")
    ctx.publish("followup.attempted", FollowupAttempted(case_id=case_id, followup_id=followup_id, reached=True,
                                                        attempt=attempt, actor=actor), subject=case_id)
    changes: dict[str, Any] = {}  # the case's own columns this call changes, written with what it settles
    if call.kind == "first":
        changes.update(satisfaction=satisfaction, comment=comment)
        ctx.publish("followup.completed", FollowupCompleted(case_id=case_id, followup_id=followup_id,
                                                            satisfaction=satisfaction, comment=comment, actor=actor),
                    subject=case_id)
        if is_low(satisfaction, config.policy):
            changes["flagged"] = True
            closing.flag_dissatisfied(ctx, case_id, satisfaction=satisfaction, comment=comment)
    else:
        assert call.instalment_due is not None
        event_type = "followup.instalment_paid" if paid else "followup.instalment_missed"
        ctx.publish(event_type, InstalmentChecked(case_id=case_id, instalment_no=call.seq,
                                                  due_date=call.instalment_due.isoformat(), amount_cny=call.amount,
                                                  actor=actor), subject=case_id)
    caselog.log(ctx, case_id, actor=actor, action=f"call_{call.kind}", reached=True, paid=paid,
                satisfaction=satisfaction)
    return {"case_id": case_id, "case_state": await closing.settle(ctx, case, actor=actor, config=config,
                                                                   changes=changes)}


def _due_before_missed(call: Followup, *, today: date) -> None:
    """An instalment can only be missed once it has fallen due (its due date, Shanghai business day, included);
    paid ahead of time is fine."""
    due = call.instalment_due
    if due is not None and today < due:
        day = f"{due.month}月{due.day}日" if due.year == today.year else f"{due.year}年{due.month}月{due.day}日"
        raise Invalid("该期款项尚未到期，不能登记为未履行",
                      errors=[("paid", f"该期约定履行日期为{day}，尚未到期，不能登记为未履行")])


async def _not_reached(ctx: HandlerContext, call: Followup, case: FollowupCase, *, attempt: int, actor: str,
                       config: FollowupConfig) -> dict[str, Any]:
    """Not reached: again the next working day, or — the attempts spent — the call is given up and flagged."""
    case_id, followup_id, kind = call.case_id, str(call.followup_id), clock_kind(call.kind, call.seq, call.cycle)
    if attempt >= config.policy.max_attempts:
        await repository.save_call(ctx.conn, call.model_copy(update={
            "state": "unreachable", "attempts": attempt, "reached": False, "done_at": ctx.now}))
        await ctx.deadlines.meet(case_id=case_id, kind=kind, at=ctx.now, actor=actor, reason="unreachable")
        ctx.publish("followup.attempted", FollowupAttempted(case_id=case_id, followup_id=followup_id, reached=False,
                                                            attempt=attempt, actor=actor), subject=case_id)
        closing.flag_unreachable(ctx, case_id)
        caselog.log(ctx, case_id, actor=actor, action="unreachable", attempts=attempt)
        return {"case_id": case_id, "case_state": await closing.settle(ctx, case, actor=actor, config=config)}
    retry = next_attempt(ctx.calendar, local_date(ctx.now))
    await repository.save_call(ctx.conn, call.model_copy(update={"attempts": attempt, "due_date": retry.day}))
    await quietly(ctx.deadlines.reschedule(case_id=case_id, kind=kind, due_at=end_of_day(retry.day),
                                           provisional=retry.provisional, at=ctx.now, actor=actor,
                                           reason=f"第{attempt}次未接通，次一工作日再次回访"))
    ctx.publish("followup.attempted", FollowupAttempted(
        case_id=case_id, followup_id=followup_id, reached=False, attempt=attempt,
        next_attempt_date=retry.day.isoformat(), actor=actor), subject=case_id)
    caselog.log(ctx, case_id, actor=actor, action="not_reached", attempt=attempt,
                next_attempt=retry.day.isoformat())
    return {"case_id": case_id, "case_state": case.state, "next_attempt_date": retry.day.isoformat()}


async def worker_rated(ctx: HandlerContext, case_id: str, *, score: int, comment: str) -> None:
    """评价: the worker rated the service online once the case was resolved — their satisfaction, as a call would
    have recorded it (the latest word of the worker counts)."""
    if await repository.update_if_here(ctx.conn, case_id, satisfaction=score,
                                       comment=f"网上评价：{comment}" if comment else "网上评价") is None:
        return  # not followed up here (answered elsewhere): the statistics still count it in supervision
    caselog.log(ctx, case_id, actor="职工本人（网上）", action="worker_rated", satisfaction=score)
