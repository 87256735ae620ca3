"""What the calls made so far mean for the case: it stays followed up, closes (the agreement honoured, or the
worker never reached), or reopens (an instalment unpaid); and a dissatisfied worker flags it."""

from __future__ import annotations

from typing import Any

from events.followup import CaseClosed, CaseFlagged, CaseReopened, FollowupEscalated
from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.followup import repository
from services.followup.config import FollowupConfig
from services.followup.domain.schedule import Call, verdict
from services.followup.models import FollowupCase
from services.followup.scheduling import clock_kind


async def settle(ctx: HandlerContext, case: FollowupCase, *, actor: str, config: FollowupConfig,
                 changes: dict[str, Any] | None = None) -> str:
    """The case's state after a call: monitoring | closed | unreachable | reopened. ``changes``: the case's columns
    the call itself changed (satisfaction, comment, flag), written in the same statement as what it settles."""
    changes = changes or {}
    calls = [Call(c.kind, c.state, c.reached, c.paid) for c in await repository.cycle_calls(ctx.conn, case.case_id,
                                                                                            case.cycle)]
    outcome = verdict(calls)
    if outcome == "open":
        if changes:
            await repository.update_case(ctx.conn, case.case_id, **changes)
        return "monitoring"
    if outcome == "reopen":
        await reopen(ctx, case, actor=actor, config=config, changes=changes)
        return "reopened"
    return await close(ctx, case, unreachable=outcome == "unreachable", actor=actor, changes=changes)


async def reopen(ctx: HandlerContext, case: FollowupCase, *, actor: str, config: FollowupConfig,
                 changes: dict[str, Any] | None = None) -> None:
    """An instalment went unpaid: the calls left are cancelled and the case goes back (to mediation, or to legal
    aid for enforcement when a court confirmed the agreement)."""
    route = config.policy.unpaid_route(confirmed_by_court=case.confirmed_by_court)
    reason = "分期款项未按期履行"
    await _cancel_scheduled(ctx, case, actor=actor)
    await repository.update_case(ctx.conn, case.case_id, **(changes or {}), state="reopened")
    ctx.publish("followup.escalated", FollowupEscalated(case_id=case.case_id, route=route,  # type: ignore[arg-type]
                                                        reason=reason, confirmed_by_court=case.confirmed_by_court),
                subject=case.case_id)
    ctx.publish("followup.case_reopened", CaseReopened(case_id=case.case_id, reopened_at=ctx.now, reason=reason,
                                                       route=route), subject=case.case_id)  # type: ignore[arg-type]
    caselog.log(ctx, case.case_id, actor=actor, action="reopened", route=route, reason=reason)


async def close(ctx: HandlerContext, case: FollowupCase, *, unreachable: bool, actor: str,
                changes: dict[str, Any] | None = None) -> str:
    """Every call made: the agreement honoured (closed), or the worker never reached (unreachable)."""
    state = "unreachable" if unreachable else "closed"
    closed = await repository.update_case(ctx.conn, case.case_id, **(changes or {}), state=state, closed_at=ctx.now)
    reason = "多次回访未能联系到职工，按程序结案" if unreachable else "回访完成，协议已全部履行"
    ctx.publish("followup.case_closed", CaseClosed(case_id=case.case_id, closed_at=ctx.now,
                                                   satisfaction=closed.satisfaction, reason=reason),
                subject=case.case_id)
    caselog.log(ctx, case.case_id, actor=actor, action="closed", reason=reason)
    return state


def flag_dissatisfied(ctx: HandlerContext, case_id: str, *, satisfaction: int | None, comment: str) -> None:
    """A low satisfaction score: the supervisor is told (the caller sets the case's ``flagged`` column with the
    rest of what the call changes)."""
    ctx.publish("followup.flagged", CaseFlagged(case_id=case_id, reason="low_satisfaction", satisfaction=satisfaction,
                                                comment=comment), subject=case_id)


def flag_unreachable(ctx: HandlerContext, case_id: str) -> None:
    """The worker could not be reached: the supervisor is told (the case's own state says unreachable once the
    cycle settles; the ``flagged`` column stays the worker's dissatisfaction)."""
    ctx.publish("followup.flagged", CaseFlagged(case_id=case_id, reason="unreachable"), subject=case_id)


async def _cancel_scheduled(ctx: HandlerContext, case: FollowupCase, *, actor: str) -> None:
    for call in await repository.cancel_scheduled(ctx.conn, case.case_id, case.cycle):
        await ctx.deadlines.cancel(case_id=case.case_id, kind=clock_kind(call.kind, call.seq, case.cycle), at=ctx.now,
                                   actor=actor, reason="案件重新办理")
