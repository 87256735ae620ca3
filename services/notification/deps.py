"""What notification's routes depend on: the runtime, who may read the messages (operators, and supervisors for
the units in their scope), who may record an opt-out."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from services.backbone.http import at_once
from services.backbone.runtime import RuntimeDep  # noqa: F401 - the routes' runtime, from here like every service
from services.hierarchy.orgunits import default_hierarchy
from services.security.guard import is_system, require_role
from services.security.policy import Role

HIERARCHY = default_hierarchy()
#: who reads the messages sent to workers (operators all of them, supervisors their units')
READERS: tuple[Role, ...] = ("operator", "supervisor")
#: who records that a worker wants no more messages (the hotline clerk hears it, supervisors and operators too)
OPT_OUT: tuple[Role, ...] = ("clerk", "supervisor", "operator")
#: who reads in-console notices (their own)
STAFF: tuple[Role, ...] = ("clerk", "mediator", "legal_aid_officer", "supervisor", "operator")


def message_units(request: Request) -> list[str] | None:
    """The units whose cases' messages the caller reads: None for operators (all); a supervisor's subtree."""
    p = require_role(request, READERS)
    if p.role == "operator" or is_system(p):
        return None
    return list(HIERARCHY.subtree(p.org_unit)) if p.org_unit else []


MessageUnits = Annotated[list[str] | None, Depends(at_once(message_units))]
