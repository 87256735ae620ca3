"""What notification learns of a case from the other services' events: the workers' phones (intake), the unit that
holds it (dispatch) and its mediator (mediation). Only what a message or a notice needs is kept."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from services.backbone.consumer import HandlerContext
from services.notification import repository, telling
from services.notification.models import CaseInfo


def remember_phones(ctx: HandlerContext, case_id: str, phones: Iterable[str]) -> None:
    """The workers' phones, written with the batch's others when its work is done, before its messages read them
    (``telling.Telling.flush``)."""
    wanted = {p for p in phones if p}
    if wanted:
        telling.batch(ctx).learned.setdefault(case_id, set()).update(wanted)


@dataclass
class Holders:
    """What the batch's events taught of who holds each case — its unit (dispatch), its mediator (an offer) — kept
    per case, the later event winning, and written in one statement when the batch's work is done
    (``HandlerContext.gather``) instead of one a event. The batch's own reads see it (``known``)."""

    #: case_id -> [unit, mediator id, mediator name]; None: not learnt in this batch
    by_case: dict[str, list[str | None]] = field(default_factory=dict)

    async def flush(self, ctx: HandlerContext) -> None:
        if self.by_case:
            await repository.learned(ctx.conn, {case: (v[0], v[1], v[2]) for case, v in self.by_case.items()})


_HOLDERS = "notification.holders"


def _holders(ctx: HandlerContext) -> Holders:
    return ctx.gather(_HOLDERS, Holders)


def held_by(ctx: HandlerContext, case_id: str, org_unit: str) -> None:
    _holders(ctx).by_case.setdefault(case_id, [None, None, None])[0] = org_unit


def mediator_offered(ctx: HandlerContext, case_id: str, *, org_unit: str | None, mediator_id: str, name: str) -> None:
    learnt = _holders(ctx).by_case.setdefault(case_id, [None, None, None])
    if org_unit is not None:
        learnt[0] = org_unit
    learnt[1], learnt[2] = mediator_id, name


async def known(ctx: HandlerContext, case_id: str) -> CaseInfo | None:
    """The case as the database holds it, with what this batch has taught of it so far."""
    case = await repository.case(ctx.conn, case_id)
    holders = ctx.gathered.get(_HOLDERS)
    learnt = holders.by_case.get(case_id) if isinstance(holders, Holders) else None
    if learnt is None:
        return case
    update: dict[str, str | None] = {}
    if learnt[0] is not None:
        update["org_unit"] = learnt[0]
    if learnt[1] is not None:
        update["mediator_id"], update["mediator_name"] = learnt[1], learnt[2]
    base = case if case is not None else CaseInfo(case_id=case_id, updated_at=ctx.now)
    return base.model_copy(update=update)
