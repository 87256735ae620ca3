"""What supervision's routes depend on: the runtime, the hierarchy, the live board, and the case guard."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.backbone.http import at_once
from services.backbone.runtime import RuntimeDep
from services.hierarchy.orgunits import Hierarchy, default_hierarchy
from services.security.guard import authorize_held, require_role
from services.security.policy import Role
from services.supervision import repository
from services.supervision.board import Board
from services.supervision.queries import NOT_FOUND

#: The union's hierarchy the service reads scopes and escalations in (its configuration).
HIERARCHY = default_hierarchy()
#: The live board of this process (moved by NOTIFY, read by the SSE streams).
BOARD = Board()
#: Who may read a case here: the union's staff within their scope, and the partner that referred it.
CASE_READERS: tuple[Role, ...] = ("clerk", "mediator", "legal_aid_officer", "supervisor", "partner")


def _hierarchy() -> Hierarchy:
    return HIERARCHY


def _board() -> Board:
    return BOARD


HierarchyDep = Annotated[Hierarchy, Depends(at_once(_hierarchy))]
BoardDep = Annotated[Board, Depends(at_once(_board))]


async def _guard_case(request: Request, case_id: str, runtime: RuntimeDep, hierarchy: HierarchyDep) -> str:
    """The role first; a case out of scope answers exactly like one that is not there."""
    require_role(request, CASE_READERS)
    scope = await repository.case_scope(runtime.pool, case_id)
    authorize_held(request, "read", unit=scope["org_unit"] if scope else None,
                   partner_code=scope["partner_code"] if scope else None, case_id=case_id,
                   missing=NOT_FOUND.format(case_id), roles=CASE_READERS, hierarchy=hierarchy)
    return case_id


#: The case in the path, once the caller may read it.
GuardedCase = Annotated[str, Depends(_guard_case)]
