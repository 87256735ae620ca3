"""Where a registered case goes: dispatched to the union unit that serves it (派单), answered or referred elsewhere
on the spot, or given back by the unit it was dispatched to (退单) and dispatched to the parent unit.

The tier clock (``tier``) starts when a case is received; intake hands it over on the first dispatch and meets it
when the case is resolved in intake.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from events.deadlines import DeadlineHandover
from events.intake import CaseAnswered, CaseDeclined, CaseDispatched, CaseFacts, ValidationWarning
from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.backbone.errors import Conflict
from services.backbone.usecase import found
from services.calendar.model import shanghai_iso
from services.hierarchy.orgunits import Hierarchy, OrgUnit
from services.intake import repository as repo
from services.intake.config import IntakeConfig
from services.intake.models import IntakeCase
from services.security.query_codes import shown

#: the deadline kind of the tier's time limit (分级办理时限)
TIER_DEADLINE = "tier"


@dataclass(frozen=True)
class Outcome:
    """Where a case stands after a use case: the answer of the case routes."""

    case_id: str
    status: str
    tier: str
    due_at: datetime
    provisional: bool
    org_unit: str | None
    route: str | None
    linked: bool = False
    warnings: list[ValidationWarning] = field(default_factory=list)
    #: the worker's query code (查询码), issued with this submission: shown once, to whoever registered it
    query_code: str | None = None
    #: the answer of an earlier request with the same Idempotency-Key: nothing was registered this time
    replayed: bool = False

    @classmethod
    def of(cls, case: IntakeCase, *, linked: bool = False) -> Outcome:
        return cls(case.case_id, case.status, case.tier, case.due_at, case.provisional, case.org_unit, case.route,
                   linked, [ValidationWarning(**w) for w in case.warnings])

    def as_json(self, hierarchy: Hierarchy) -> dict[str, Any]:
        unit = hierarchy.get(self.org_unit) if self.org_unit else None
        return {"case_id": self.case_id, "status": self.status, "tier": self.tier, "due_at": shanghai_iso(self.due_at),
                "provisional": self.provisional, "org_unit": self.org_unit,
                "org_unit_name": unit.name if unit else None, "route": self.route, "linked": self.linked,
                "warnings": [w.model_dump() for w in self.warnings], "replayed": self.replayed,
                **({"query_code": shown(self.query_code)} if self.query_code else {})}


async def dispatch(ctx: HandlerContext, case_id: str, unit: OrgUnit, route: str, *, attempt: int,
                   handover: DeadlineHandover | None, actor: str | None, written: IntakeCase | None = None) -> Outcome:
    """派单: the case goes to ``unit`` on ``route`` (mediation or legal aid); ``handover`` carries the tier clock
    on the first dispatch. ``written``: the case's row as this unit of work wrote it, dispatched already (a new
    case); else its row is updated here."""
    case = written or found(await repo.update_case(ctx.conn, case_id, status="dispatched", org_unit=unit.code,
                                                   route=route, dispatch_attempt=attempt), f"案件 {case_id} 不存在")
    ctx.publish("intake.case_dispatched", CaseDispatched(
        case_id=case_id, org_unit=unit.code, route=route, tier=case.tier, due_at=case.due_at,  # type: ignore[arg-type]
        provisional=case.provisional, facts=CaseFacts.model_validate(case.facts), attempt=attempt,
        deadline=handover), subject=case_id)
    caselog.log(ctx, case_id, actor=actor, action="dispatched", org_unit=unit.code, route=route,
                attempt=attempt)
    return Outcome.of(case)


async def resolve_in_intake(ctx: HandlerContext, case_id: str, resolution: str, answer: str, *,
                            actor: str | None, org_unit: str | None) -> Outcome:
    """当场答复 or 告知转出: the case ends in intake with the answer given; the tier clock is met."""
    case = found(await repo.update_case(ctx.conn, case_id, status=resolution, route=resolution, answer=answer,
                                        org_unit=org_unit), f"案件 {case_id} 不存在")
    ctx.publish("intake.case_answered", CaseAnswered(case_id=case_id, resolution=resolution,  # type: ignore[arg-type]
                                                     answer=answer, answered_at=ctx.now, actor=actor, org_unit=org_unit),
                subject=case_id)
    await ctx.deadlines.meet(case_id=case_id, kind=TIER_DEADLINE, at=ctx.now, actor=actor, reason=resolution)
    caselog.log(ctx, case_id, actor=actor, action=resolution, answer=answer)
    return Outcome.of(case)


async def decline(ctx: HandlerContext, case_id: str, *, org_unit: str, reason: str, actor: str,
                  config: IntakeConfig) -> Outcome:
    """退单: the unit gives the case back with a reason; it goes to the parent unit."""
    case = found(await repo.get(ctx.conn, case_id, lock=True), f"案件 {case_id} 不存在")
    if case.status != "dispatched":
        raise Conflict("只有已派单、未办结的案件可以退单", code="not-dispatched")
    if case.org_unit != org_unit:
        raise Conflict("只能由当前承办单位退单", code="not-holder")
    parent = config.hierarchy.parent(org_unit)
    if parent is None:
        raise Conflict("最高一级工会不能退单，请自行办理或转出", code="no-parent")
    ctx.publish("intake.case_declined", CaseDeclined(case_id=case_id, org_unit=org_unit, reason=reason, actor=actor,
                                                     redispatched_to=parent.code), subject=case_id)
    caselog.log(ctx, case_id, actor=actor, action="declined", org_unit=org_unit, reason=reason)
    return await dispatch(ctx, case_id, parent, case.route,  # type: ignore[arg-type]  # dispatched: it has a route
                          attempt=case.dispatch_attempt + 1, handover=None, actor=actor)
