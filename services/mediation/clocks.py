"""The mediation clocks: the tier clock adopted from intake, the union-mediation window (15 days) and the
court-entrusted window, their pauses (暂停计时) and the one extension of the court window (延长委托调解期限)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from events.mediation import WindowExtended
from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.backbone.deadline import Deadline, DeadlineError
from services.backbone.errors import Conflict
from services.backbone.usecase import quietly
from services.calendar.rules import DueRule
from services.mediation import repository as repo
from services.mediation.config import MediationConfig
from services.mediation.models import MediationCaseRecord

#: the case's clock from intake (its tier's deadline), the union-mediation window, the court-entrusted window
TIER, UNION, COURT = "tier", "union_mediation", "court_entrusted"
WINDOWS = (UNION, COURT)


async def start_windows(ctx: HandlerContext, record: MediationCaseRecord, *, config: MediationConfig,
                        actor: str) -> None:
    """The mediator signed for the file: the union-mediation window starts, and a filed court case's window."""
    union = DueRule(config.clocks.union.method, config.clocks.union.days, ctx.now)
    due_at, provisional = await ctx.due(union, case_id=record.case_id)
    await ctx.deadlines.start(case_id=record.case_id, kind=UNION, started_at=ctx.now, due_at=due_at,
                              provisional=provisional, org_unit=record.org_unit, rule=union, actor=actor,
                              reason="劳动争议调解仲裁法第十四条")
    if record.kind != "court_post_filing":
        return
    simplified = record.procedure == "simplified"
    base = config.clocks.court_simplified if simplified else config.clocks.court_ordinary
    window = DueRule(base.method, base.days, ctx.now)
    due_at, provisional = await ctx.due(window, case_id=record.case_id)
    await ctx.deadlines.start(case_id=record.case_id, kind=COURT, started_at=ctx.now, due_at=due_at,
                              provisional=provisional, org_unit=record.org_unit, rule=window, actor=actor,
                              reason=f"委托调解期限（{'简易' if simplified else '普通'}程序）")


#: every clock a mediation's end or its wait for the court moves together (the windows first, then the tier's)
ALL = (*WINDOWS, TIER)

Clocks = dict[str, Deadline]


async def meet_clocks(ctx: HandlerContext, case_id: str, kinds: Sequence[str], *, actor: str | None, reason: str,
                      clocks: Clocks | None = None) -> None:
    """The case's active clocks among ``kinds`` are met, in that order: read together (one round trip) unless
    ``clocks`` holds them as this transaction has them locked, and written together (another)."""
    if clocks is None:
        clocks = await ctx.deadlines.active_of(case_id, kinds)
    await ctx.deadlines.meet_clocks([clocks[kind] for kind in kinds if kind in clocks], at=ctx.now, actor=actor,
                                    reason=reason)


async def pause_clocks(ctx: HandlerContext, case_id: str, *, actor: str | None) -> None:
    """Waiting for the court's decision: the windows and the tier clock stop (a breached one stays breached)."""
    clocks = await ctx.deadlines.active_of(case_id, ALL)
    for kind in ALL:
        if kind in clocks:
            await quietly(ctx.deadlines.pause_clock(clocks[kind], at=ctx.now, reason="awaiting_court_decision",
                                                    actor=actor or "system"))


async def resume_clocks(ctx: HandlerContext, clocks: Clocks, kinds: Sequence[str], *, actor: str | None,
                        reason: str) -> None:
    """The clocks among ``kinds`` that ``clocks`` (read and locked by ``active_of``) holds run again; ``clocks``
    then holds them as they are now (a clock that was not paused stays as it was)."""
    for kind in kinds:
        if kind in clocks:
            resumed = await quietly(ctx.deadlines.resume_clock(clocks[kind], at=ctx.now, actor=actor or "system",
                                                               reason=reason))
            clocks[kind] = resumed or clocks[kind]


async def hold_clock(ctx: HandlerContext, case_id: str, *, pause: bool, reason: str, actor: str) -> None:
    """Stop the case's clock for a listed reason (party unreachable, awaiting materials), or restart it."""
    await repo.held(ctx, case_id)
    try:
        if pause:
            await ctx.deadlines.pause(case_id=case_id, kind=TIER, at=ctx.now, reason=reason, actor=actor)
        else:
            await ctx.deadlines.resume(case_id=case_id, kind=TIER, at=ctx.now, actor=actor, reason=reason)
    except DeadlineError as exc:
        raise Conflict(f"不能{'暂停' if pause else '恢复'}计时：{exc}") from exc
    caselog.log(ctx, case_id, actor=actor, action="clock_paused" if pause else "clock_resumed", reason=reason)


async def extend_court_window(ctx: HandlerContext, case_id: str, *, consent: str, actor: str,
                              config: MediationConfig) -> datetime:
    """+30 days on both parties' consent, once (recorded as an event with who and why)."""
    await repo.held(ctx, case_id)
    current = await ctx.deadlines.active(case_id, COURT)
    if current is None:
        raise Conflict("本案没有法院委托调解期限，无需延长")
    if current.attributes.get("extended"):
        raise Conflict("委托调解期限已延长过一次")
    due_at = current.due_at + timedelta(days=config.clocks.extension_days)
    extended = await ctx.deadlines.extend(case_id=case_id, kind=COURT, due_at=due_at, at=ctx.now, actor=actor,
                                          reason=f"双方当事人同意延长：{consent}")
    await ctx.deadlines.annotate(extended, extended=True)
    ctx.publish("mediation.window_extended", WindowExtended(case_id=case_id, due_at=due_at, consent=consent,
                                                            actor=actor), subject=case_id)
    caselog.log(ctx, case_id, actor=actor, action="window_extended", due_at=due_at.isoformat(), consent=consent)
    return due_at
