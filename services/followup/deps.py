"""What follow-up's routes depend on: the runtime, the configuration, and the guards that authorize the caller on
the case (or call) in the path — a case out of the caller's scope answers exactly like one that does not exist."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from services.backbone.errors import NotFound
from services.backbone.http import at_once
from services.backbone.runtime import Runtime, RuntimeDep
from services.followup import repository
from services.followup.calls import MISSING
from services.followup.config import FollowupConfig, current
from services.followup.models import FollowupCase
from services.followup.repository import CallScope
from services.hierarchy.orgunits import default_hierarchy
from services.security.guard import authorize, authorize_held, require_role, scope_units
from services.security.policy import Action, Role

HIERARCHY = default_hierarchy()
#: who reads a case's follow-up, who records calls, who sees the worklist
READERS: tuple[Role, ...] = ("clerk", "mediator", "supervisor")
CALLERS: tuple[Role, ...] = ("clerk", "mediator")
WORKLIST: tuple[Role, ...] = ("clerk", "supervisor")

Config = Annotated[FollowupConfig, Depends(at_once(current))]


async def held_case(request: Request, case_id: str, runtime: RuntimeDep) -> FollowupCase:
    """The case in the path, for a caller who may read it."""
    require_role(request, READERS)
    case = await repository.case(runtime.pool, case_id)
    authorize_held(request, "read", roles=READERS, unit=case.org_unit if case else None, case_id=case_id,
                   missing=f"回访案件 {case_id} 不存在", hierarchy=HIERARCHY)
    assert case is not None
    return case


def _authorized(request: Request, action: Action, scope: CallScope | None, followup_id: str,
                roles: tuple[Role, ...]) -> None:
    """May the caller ``action`` the case of the call (``scope`` None: no such call)? Missing and out of scope
    answer alike."""
    authorize_held(request, action, roles=roles, unit=scope.org_unit if scope else None,
                   case_id=scope.case_id if scope else followup_id, missing=MISSING, hierarchy=HIERARCHY)


async def _call(request: Request, followup_id: str, runtime: Runtime, action: Action,
                roles: tuple[Role, ...]) -> CallScope:
    require_role(request, roles)
    key = repository.call_id(followup_id)
    if key is None:
        raise NotFound(MISSING)
    scope = await repository.call_scope(runtime.pool, key)
    _authorized(request, action, scope, followup_id, roles)
    assert scope is not None
    return scope


@dataclass(frozen=True)
class RecordedCall:
    """The call a caller records. Their role is checked before anything is read; whether they may write its case
    is checked in the recording's own transaction, on the rows it locks (``check``): one read, not a read before
    the transaction and another under its lock."""

    followup_id: str
    check: Callable[[CallScope | None], None]


def recorded_call(request: Request, followup_id: str) -> RecordedCall:
    """The call in the path, for a caller who may record it (write on its case)."""
    require_role(request, CALLERS)
    if repository.call_id(followup_id) is None:  # names no call: refused before any transaction, as ``_call`` does
        raise NotFound(MISSING)
    return RecordedCall(followup_id, lambda scope: _authorized(request, "write", scope, followup_id, CALLERS))


async def readable_call(request: Request, followup_id: str, runtime: RuntimeDep) -> CallScope:
    """The call in the path, for a caller who may read its case (the call's page)."""
    return await _call(request, followup_id, runtime, "read", READERS)


def worklist_units(request: Request, org_unit: str | None = None) -> list[str] | None:
    """The units whose calls a worklist shows: the caller's own (or one asked for, in scope) and those below it."""
    unit = scope_units(request, org_unit, HIERARCHY)
    authorize(request, "read", roles=WORKLIST, unit=unit, hierarchy=HIERARCHY)
    return list(HIERARCHY.subtree(unit)) if unit else None


HeldCase = Annotated[FollowupCase, Depends(held_case)]
HeldCall = Annotated[RecordedCall, Depends(at_once(recorded_call))]
ReadableCall = Annotated[CallScope, Depends(readable_call)]
WorklistUnits = Annotated[list[str] | None, Depends(at_once(worklist_units))]
