"""What legal aid's routes depend on: the runtime, the service's configuration, and the case guard."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from services.backbone.http import at_once
from services.backbone.runtime import RuntimeDep
from services.legal_aid import repository
from services.legal_aid.config import LegalAidConfig, configured, missing
from services.security.guard import authorize_held, require_role
from services.security.policy import Action, Role

ConfigDep = Annotated[LegalAidConfig, Depends(at_once(configured))]

READERS: tuple[Role, ...] = ("legal_aid_officer", "supervisor")
OFFICERS: tuple[Role, ...] = ("legal_aid_officer",)


def case_guard(action: Action, roles: tuple[Role, ...]) -> Callable[..., Awaitable[str]]:
    """The case in the path, if the caller may ``action`` it: roles first, then scope (out of scope is not found)."""

    async def guard(request: Request, case_id: str, runtime: RuntimeDep, config: ConfigDep) -> str:
        require_role(request, roles)
        unit = await repository.unit_of(runtime.pool, case_id)
        authorize_held(request, action, unit=unit, case_id=case_id, roles=roles, missing=missing(case_id),
                       hierarchy=config.hierarchy)
        return case_id

    return guard


#: a case the caller may read (officers and supervisors in scope)
ReadableCase = Annotated[str, Depends(case_guard("read", READERS))]
#: a case the caller may act on (legal-aid officers in scope)
WritableCase = Annotated[str, Depends(case_guard("write", OFFICERS))]
