"""A resolved case enters follow-up (回访): its calls are planned, each with a clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from events.common import Agreement
from events.followup import FollowupScheduled
from events.intake import CaseFacts
from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.calendar.model import end_of_day
from services.followup import repository
from services.followup.config import FollowupConfig
from services.followup.domain.schedule import plan


def clock_kind(kind: str, seq: int, cycle: int) -> str:
    """The clock of a call: ``followup_first`` or ``instalment_check_<n>``, with ``_c<cycle>`` after a reopening."""
    base = "followup_first" if kind == "first" else f"instalment_check_{seq}"
    return base if cycle == 1 else f"{base}_c{cycle}"


async def case_resolved(ctx: HandlerContext, *, case_id: str, source: str, org_unit: str, outcome: str,
                        resolved_at: datetime, agreement: Agreement | None, confirmed_by_court: bool,
                        config: FollowupConfig) -> None:
    """A resolved case enters follow-up (again, after a reopening: a new cycle): the first call some working
    days after the resolution, a check after each instalment of the agreement."""
    started = await repository.start_cycle(ctx.conn, case_id=case_id, source=source, org_unit=org_unit,
                                           outcome=outcome, resolved_at=resolved_at,
                                           confirmed_by_court=confirmed_by_court,
                                           agreement=agreement.model_dump(mode="json") if agreement else None)
    if started is None:
        return  # already being followed up (a redelivered or late duplicate)
    cycle = started.cycle
    for planned in plan(resolved_at=resolved_at, instalments=agreement.instalments if agreement else [],
                        calendar=ctx.calendar, policy=config.policy):
        call = await repository.insert_call(ctx.conn, case_id=case_id, cycle=cycle, kind=planned.kind,
                                            seq=planned.seq, due_date=planned.due.day,
                                            instalment_due=planned.instalment_due, amount=planned.amount)
        await ctx.deadlines.start(case_id=case_id, kind=clock_kind(planned.kind, planned.seq, cycle),
                                  started_at=ctx.now, due_at=max(end_of_day(planned.due.day), ctx.now),
                                  provisional=planned.due.provisional, org_unit=org_unit,
                                  reason="回访" if planned.kind == "first" else f"第{planned.seq}期履行情况核查")
        ctx.publish("followup.scheduled", FollowupScheduled(
            case_id=case_id, followup_id=str(call.followup_id), kind=planned.kind,  # type: ignore[arg-type]
            due_date=planned.due.day.isoformat(), instalment_no=planned.seq or None, amount_cny=planned.amount),
            subject=case_id)
    caselog.log(ctx, case_id, actor=None, action="followup_scheduled", cycle=cycle, outcome=outcome)


@dataclass
class Facts:
    """The batch's facts, case by case, the last event about a case winning (``HandlerContext.gather``): written
    in one statement when its work is done, instead of one a event (intake registers a case and dispatches it
    with the same facts, most often in the same batch). Nothing in a batch reads them back."""

    by_case: dict[str, tuple[list[dict[str, Any]], str, str]] = field(default_factory=dict)

    async def flush(self, ctx: HandlerContext) -> None:
        if self.by_case:
            await repository.remember_facts(ctx.conn, self.by_case)


def remember_facts(ctx: HandlerContext, *, case_id: str, facts: CaseFacts) -> None:
    """Who the caller will ring when the case is resolved: its workers (name, phone), employer and summary, as
    intake registered or last dispatched it."""
    ctx.gather("followup.facts", Facts).by_case[case_id] = (
        [{"name": w.name, "phone": w.phone} for w in facts.workers], facts.employer.name, facts.summary)
