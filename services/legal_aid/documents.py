"""Legal aid's document: the 法律援助决定书 / 不予法律援助决定书 with its reasons (法律援助法第四十三条) and, for a
denial, the applicant's right to object. A query: reads the case and renders the template."""

from __future__ import annotations

from services.backbone import caselog
from services.legal_aid import repository
from services.legal_aid.config import LegalAidConfig
from services.legal_aid.models import AidCase
from services.printing import facts as printed
from services.printing.render import render
from services.web.words import unit_name

KINDS = ("legal-aid-decision",)


def kinds_of(case: AidCase | None) -> list[str]:
    return ["legal-aid-decision"] if case is not None and case.decision else []


async def decision(pool: repository.Conn, case_id: str, config: LegalAidConfig) -> bytes | None:
    case = await repository.get(pool, case_id)
    if case is None or not case.decision:
        return None
    decided = [e for e in await caselog.entries(pool, case_id) if e["action"] == f"eligibility_{case.decision}"]
    return render("legal-aid-decision", {
        "case_id": case_id, "approved": case.decision == "approved", "applied_on": case.applied_at,
        "unit_name": unit_name(case.org_unit, config.hierarchy), "reasons": case.decision_reasons or [],
        "decided_on": decided[-1]["at"] if decided else case.updated_at,
        **printed.parties(case.facts, ids="masked")})
