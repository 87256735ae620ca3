"""What intake's routes depend on: the runtime, the configuration, and the caller's right to the case in the path."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from services.backbone.http import at_once
from services.backbone.runtime import RuntimeDep
from services.intake import repository as repo
from services.intake.config import IntakeConfig, intake_config
from services.security.guard import authorize, authorize_held, require_role
from services.security.policy import Action, Role

ConfigDep = Annotated[IntakeConfig, Depends(at_once(intake_config))]


def case_guard(action: Action, roles: tuple[Role, ...]) -> Callable[..., Awaitable[str]]:
    """A dependency that authorizes the caller on ``{case_id}``: the role first, before anything is looked up;
    then the unit holding the case (or serving its region). Out of scope answers exactly like a missing case."""

    async def guard(request: Request, case_id: str, runtime: RuntimeDep, config: ConfigDep) -> str:
        missing = f"案件 {case_id} 不存在"
        require_role(request, roles)
        scope = await repo.case_scope(runtime.pool, case_id)
        if scope is None:
            authorize_held(request, action, unit=None, case_id=case_id, roles=roles, missing=missing)
        else:
            authorize(request, action, roles=roles, unit=scope.org_unit or config.serving(scope.region_code),
                      case_id=case_id, missing=missing, hierarchy=config.hierarchy)
        return case_id

    return guard


#: a case the caller (clerk or supervisor) may read
ReadableCase = Annotated[str, Depends(case_guard("read", ("clerk", "supervisor")))]
#: a case the caller (clerk or supervisor) may change
WritableCase = Annotated[str, Depends(case_guard("write", ("clerk", "supervisor")))]
