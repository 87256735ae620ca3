"""Every service's audit log route (/api/v1/audit/<service>): who read or changed what.

Who may read which entries is ``policy.audit_scope`` (operators everyone's; supervisors their own unit's people
and below); the rows come from the backbone's audit store.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request

from services.backbone import audit_store
from services.backbone.http import Problem, at_once
from services.backbone.runtime import runtime_of
from services.calendar.model import shanghai_iso
from services.hierarchy.orgunits import Hierarchy, default_hierarchy
from services.security.guard import require_role
from services.security.policy import audit_scope

router = APIRouter()


def hierarchy() -> Hierarchy:
    return default_hierarchy()


@router.get("/api/v1/audit/{service}")
async def audit_log(request: Request, service: str, units_of: Annotated[Hierarchy, Depends(at_once(hierarchy))],
                    case_id: str | None = None, actor: str | None = None, limit: int = 200) -> dict[str, Any]:
    runtime = runtime_of(request)
    if service != runtime.spec.name:
        raise Problem(404, "未找到")
    p = require_role(request, ("supervisor", "operator"))
    units = audit_scope(p, units_of)
    if units == ():
        raise Problem(403, "无权查询审计日志")
    rows = await audit_store.entries(runtime.pool, case_id=case_id, actor=actor, units=units,
                                     limit=max(1, min(limit, 2000)))
    request.state.audit_action = "audit"
    return {"entries": [{"at": shanghai_iso(r.at), "service": r.service, "actor": r.actor, "role": r.role,
                         "action": r.action, "case_id": r.case_id, "method": r.method, "path": r.path,
                         "status": r.status, "client": r.client, "cases": (r.detail or {}).get("cases")}
                        for r in rows]}
