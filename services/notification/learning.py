"""What notification learns of a case from the other services' events: the workers' phones (intake), the unit that
holds it (dispatch) and its mediator (mediation). Only what a message or a notice needs is kept."""

from __future__ import annotations

from collections.abc import Iterable

from services.backbone.consumer import HandlerContext
from services.notification import repository, telling


def remember_phones(ctx: HandlerContext, case_id: str, phones: Iterable[str]) -> None:
    """The workers' phones, written with the batch's others when its work is done, before its messages read them
    (``telling.Telling.flush``)."""
    wanted = {p for p in phones if p}
    if wanted:
        telling.batch(ctx).learned.setdefault(case_id, set()).update(wanted)


async def held_by(ctx: HandlerContext, case_id: str, org_unit: str) -> None:
    await repository.held_by(ctx.conn, case_id, org_unit)


async def mediator_offered(ctx: HandlerContext, case_id: str, *, org_unit: str | None, mediator_id: str,
                           name: str) -> None:
    await repository.mediator(ctx.conn, case_id, org_unit=org_unit, mediator_id=mediator_id, name=name)
