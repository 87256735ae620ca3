"""What mediation's routes depend on: the runtime, the service's configuration, the waiting queue's wake-up,
and the case guard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.backbone.http import Problem, at_once
from services.backbone.runtime import RuntimeDep
from services.mediation import repository as repo
from services.mediation.config import MediationConfig, default_config
from services.mediation.waiting import RoomSignal, room_signal
from services.security.guard import acting_mediator, authorize_held, principal, require_role
from services.security.policy import Action, Role

ConfigDep = Annotated[MediationConfig, Depends(at_once(default_config))]


def current_room(runtime: RuntimeDep) -> RoomSignal:
    return room_signal(runtime)


#: raised after a use case that may free a mediator's room (settlement, failure, decline, capacity change)
RoomDep = Annotated[RoomSignal, Depends(at_once(current_room))]


def _authorized(request: Request, action: Action, held: repo.CaseScope | None, case_id: str,
                roles: tuple[Role, ...], config: MediationConfig) -> None:
    """May the caller ``action`` the case as ``held`` (None: not here)? Out of scope answers as not found.

    A mediator carrying the case acts on it from their own unit (a station's mediator may carry a case its
    parent unit holds); a mediator writes only the cases they carry (or one offered to them)."""
    me = principal(request)
    unit = held.org_unit if held else None
    if held and me.role == "mediator" and me.mediator_id and held.mediator_id == me.mediator_id:
        unit = me.org_unit
    p = authorize_held(request, action, unit=unit, case_id=case_id, roles=roles, missing=repo.missing(case_id),
                       partner_code=held.partner_code if held and me.role == "partner" else None,
                       hierarchy=config.hierarchy)
    if action == "write" and p.role == "mediator" and held and held.mediator_id \
            and held.state != "offered" and held.mediator_id != p.mediator_id:
        raise Problem(403, "该案件由其他调解员承办，只有承办调解员或督办人员可以办理")


def case_guard(action: Action, roles: tuple[Role, ...]) -> Callable[..., Awaitable[str]]:
    """The case in the path, if the caller may ``action`` it: roles first, then scope (``_authorized``)."""

    async def guard(request: Request, case_id: str, runtime: RuntimeDep, config: ConfigDep) -> str:
        require_role(request, roles)
        _authorized(request, action, await repo.scope(runtime.pool, case_id), case_id, roles, config)
        return case_id

    return guard


@dataclass(frozen=True)
class WrittenCase:
    """The case a write route acts on. The caller's role is checked before anything is read; whether they may
    write this case is checked in the use case's own transaction, on the row it locks (``check``, run by
    ``api.run``): one read of the case, not a read before the transaction and another under its lock."""

    case_id: str
    check: Callable[[repo.CaseScope | None], None]


def write_guard(roles: tuple[Role, ...]) -> Callable[..., WrittenCase]:
    def guard(request: Request, case_id: str, config: ConfigDep) -> WrittenCase:
        require_role(request, roles)
        return WrittenCase(case_id, lambda held: _authorized(request, "write", held, case_id, roles, config))

    return guard


#: a case the caller may read (mediators and supervisors in scope)
ReadableCase = Annotated[str, Depends(case_guard("read", ("mediator", "supervisor")))]
#: a case whose documents the caller may read: mediators and supervisors in scope, and the court or bureau that
#: referred it (the agreement it confirms or closes its referral on, the feedback letter addressed to it; a
#: partner reads no other document and no attachment: docs/adr/0006)
DocumentsCase = Annotated[str, Depends(case_guard("read", ("mediator", "supervisor", "partner")))]
#: a case the caller works on as its mediator (checked on the row the use case locks)
MediatorsCase = Annotated[WrittenCase, Depends(at_once(write_guard(("mediator",))))]
#: a case the caller may reassign (its mediator, or a supervisor in scope)
SupervisedCase = Annotated[WrittenCase, Depends(at_once(write_guard(("mediator", "supervisor"))))]


def required_mediator(request: Request, claimed: str | None) -> str:
    """The mediator acting: a logged-in mediator themselves, or the one a supervisor (or a test setup) names."""
    me = acting_mediator(request, claimed)
    if me is None:
        raise Problem(422, "请指明调解员", errors=[{"field": "mediator_id", "reason": "缺少调解员"}])
    return me
