"""What mediation's routes depend on: the running service, its configuration, and the case guard."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.backbone.http import Problem
from services.backbone.runtime import Runtime
from services.mediation import repository as repo
from services.mediation.config import MediationConfig, default_config
from services.mediation.waiting import RoomSignal, room_signal
from services.security.guard import acting_mediator, authorize_held, require_role
from services.security.policy import Action, Role


def current_runtime(request: Request) -> Runtime:
    return request.app.state.runtime  # type: ignore[no-any-return]


def current_room(request: Request) -> RoomSignal:
    return room_signal(current_runtime(request))


RuntimeDep = Annotated[Runtime, Depends(current_runtime)]
ConfigDep = Annotated[MediationConfig, Depends(default_config)]
#: raised after a use case that may free a mediator's room (settlement, failure, decline, capacity change)
RoomDep = Annotated[RoomSignal, Depends(current_room)]


class CaseGuard:
    """Authorizes the caller on the case in the path (out of scope answers like not found); gives its id.

    A mediator writes only the cases they carry (or one offered to them); a supervisor of the unit may too."""

    def __init__(self, action: Action, roles: tuple[Role, ...]):
        self.action, self.roles = action, roles

    async def __call__(self, request: Request, case_id: str, runtime: RuntimeDep, config: ConfigDep) -> str:
        me = require_role(request, self.roles)  # roles first: a refusal for the role says nothing about the case
        held = await repo.scope(runtime.pool, case_id)
        unit = held.org_unit if held else None
        if held and me.role == "mediator" and me.mediator_id and held.mediator_id == me.mediator_id:
            unit = me.org_unit  # the mediator carrying the case (a station's, for a case its parent unit holds)
        p = authorize_held(request, self.action, unit=unit, case_id=case_id, roles=self.roles,
                           missing=f"调解案件 {case_id} 不存在", hierarchy=config.hierarchy)
        if self.action == "write" and p.role == "mediator" and held and held.mediator_id \
                and held.state != "offered" and held.mediator_id != p.mediator_id:
            raise Problem(403, "该案件由其他调解员承办，只有承办调解员或督办人员可以办理")
        return case_id


#: a case the caller may read (mediators and supervisors)
ReadableCase = Annotated[str, Depends(CaseGuard("read", ("mediator", "supervisor")))]
#: a case the caller works on as its mediator
MediatorsCase = Annotated[str, Depends(CaseGuard("write", ("mediator",)))]
#: a case the caller may reassign (its mediator, or a supervisor)
SupervisedCase = Annotated[str, Depends(CaseGuard("write", ("mediator", "supervisor")))]


def required_mediator(request: Request, claimed: str | None) -> str:
    """The mediator acting: the logged-in one, or the one named in the body (unauthenticated test setups)."""
    me = acting_mediator(request, claimed)
    if me is None:
        raise Problem(422, "请指明调解员", errors=[{"field": "mediator_id", "reason": "缺少调解员"}])
    return me
