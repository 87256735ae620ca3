"""A case's tier (分级: general, complex, difficult) after registration: a clerk or supervisor re-tiers it with a
reason, a link that makes it a group dispute raises it, and a newly loaded calendar year fixes the provisional
due times intake still owns."""

from __future__ import annotations

from typing import TYPE_CHECKING

from events.common import Tier
from events.intake import CaseReclassified
from services.backbone import caselog
from services.backbone.calendar_store import loaded_event
from services.backbone.consumer import HandlerContext
from services.backbone.errors import Conflict, FieldError, Invalid
from services.backbone.usecase import found
from services.calendar.model import YearData
from services.calendar.rules import tier_rule
from services.intake import repository as repo
from services.intake.config import IntakeConfig
from services.intake.dispatch import TIER_DEADLINE, Outcome
from services.intake.domain.triage import Facts, TriageError
from services.intake.models import IntakeCase

if TYPE_CHECKING:
    from services.backbone.runtime import Runtime


def tier_refused(exc: TriageError) -> Invalid:
    """The triage policy refuses a tier (a group dispute is at least 难点): the field ``tier`` says why."""
    return Invalid(str(exc), errors=[FieldError("tier", reason=str(exc), code="tier_rule")])


async def reclassify(ctx: HandlerContext, case_id: str, *, tier: Tier, reason: str, actor: str,
                     config: IntakeConfig) -> Outcome:
    """调整分级: an open case gets another tier, with the reason; its due time follows."""
    case = found(await repo.get(ctx.conn, case_id, lock=True), f"案件 {case_id} 不存在")
    if case.status not in repo.OPEN:
        raise Conflict("案件已办结，不能调整分级", code="closed")
    if case.tier == tier:
        raise Conflict("分级未变化", code="unchanged")
    try:
        config.policy.override(Facts(case.channel, [], case.worker_count), tier, reason)
    except TriageError as exc:
        raise tier_refused(exc) from exc
    await apply_tier(ctx, case, tier, reason.strip(), actor=actor)
    return Outcome.of(found(await repo.get(ctx.conn, case_id), f"案件 {case_id} 不存在"))


async def apply_tier(ctx: HandlerContext, case: IntakeCase, tier: Tier, reason: str, *, actor: str | None) -> None:
    """Give ``case`` the tier: a new due time from its receipt, logged and published; the clock is rescheduled
    while intake still holds it (not yet dispatched)."""
    case_id = case.case_id
    rule = tier_rule(tier, case.received_at)
    due_at, provisional = await ctx.due(rule, case_id=case_id)
    await repo.update_case(ctx.conn, case_id, tier=str(tier), tier_rule="reclassified", tier_reason=reason,
                           due_at=due_at, provisional=provisional)
    caselog.log(ctx, case_id, actor=actor, action="reclassified", from_tier=case.tier, to_tier=str(tier),
                reason=reason, due_at=due_at.isoformat())
    ctx.publish("intake.case_reclassified", CaseReclassified(
        case_id=case_id, from_tier=case.tier, to_tier=tier, reason=reason, actor=actor or "system",  # type: ignore[arg-type]
        received_at=case.received_at, due_at=due_at, provisional=provisional), subject=case_id)
    if case.status == "received":  # intake still holds the clock
        await ctx.deadlines.reschedule(case_id=case_id, kind=TIER_DEADLINE, due_at=due_at, provisional=provisional,
                                       at=ctx.now, actor=actor, reason=reason, rule=rule)


async def load_calendar_year(ctx: HandlerContext, runtime: Runtime, year: YearData) -> YearData:
    """The operator loads a year of the State Council's notice: stored, announced to every service, and the
    provisional due times intake keeps on cases it still holds are computed again."""
    saved = await runtime.apply_calendar_year(ctx, year)
    ctx.publish("calendar.year_loaded", loaded_event(saved), subject=f"calendar-{saved.year}")
    for case in await repo.provisional_received(ctx.conn):  # intake's copy of due times it still owns
        due_at, provisional = tier_rule(case.tier, case.received_at).due(ctx.calendar)
        await repo.update_case(ctx.conn, case.case_id, due_at=due_at, provisional=provisional)
    return saved
