"""Personal information in views: full only for roles that need it (个人信息保护法, docs/domain/security.md)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from services.backbone.logs import mask_id_number, mask_phone
from services.security.guard import is_system, principal


def mask_workers(workers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{**w, "id_number": mask_id_number(w.get("id_number", "")), "phone": mask_phone(w.get("phone", ""))}
            for w in workers]


def mask(request: Request, case: dict[str, Any]) -> dict[str, Any]:
    """A case view with the workers' ID and phone numbers masked unless the caller needs them."""
    p = principal(request)
    if p.sees_pii or is_system(p) or "facts" not in case:
        return case
    facts = dict(case["facts"])
    facts["workers"] = mask_workers(facts.get("workers", []))
    return {**case, "facts": facts}
