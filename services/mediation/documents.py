"""Mediation's documents (文书): the 调解协议书 once the parties settle, and the 委托调解反馈函 to the court or
bureau when mediation of its case fails. Queries: they read the case and render a template."""

from __future__ import annotations

from typing import Any

from services.backbone import caselog
from services.mediation import repository as repo
from services.mediation.config import MediationConfig
from services.mediation.models import MediationCaseRecord
from services.mediation.repository import Executor
from services.printing import facts as printed
from services.printing import people
from services.printing.render import render
from services.web.words import unit_name

KINDS = ("agreement", "feedback-letter")


def has_agreement(case: MediationCaseRecord) -> bool:
    return case.agreement is not None and case.outcome in (None, "settled")


def has_feedback_letter(case: MediationCaseRecord) -> bool:
    return case.outcome == "failed" and bool(case.court_case_no or case.arbitration_case_no)


def kinds_of(case: MediationCaseRecord | None) -> list[str]:
    """The documents a case has now, in the order a page offers them."""
    if case is None:
        return []
    return [k for k, has in (("agreement", has_agreement), ("feedback-letter", has_feedback_letter)) if has(case)]


async def _common(pool: Executor, case: MediationCaseRecord, config: MediationConfig) -> dict[str, Any]:
    mediator = await repo.mediator(pool, case.mediator_id) if case.mediator_id else None
    return {"case_id": case.case_id, "court_case_no": case.court_case_no,
            "arbitration_case_no": case.arbitration_case_no, "referral_kind": case.referral_kind,
            "unit_name": unit_name(case.org_unit, config.hierarchy), "mediator_name": mediator.name if mediator else "—",
            "received_at": case.received_at}


async def _logged_at(pool: Executor, case_id: str, action: str) -> str | None:
    entries = [e for e in await caselog.entries(pool, case_id) if e["action"] == action]
    return entries[-1]["at"] if entries else None


async def agreement(pool: Executor, case_id: str, config: MediationConfig) -> bytes | None:
    case = await repo.get(pool, case_id)
    if case is None or not has_agreement(case):
        return None
    agreed = case.agreement
    return render("agreement", await _common(pool, case, config) | {
        "amount": agreed["amount_cny"], "amount_words": printed.amount_in_words(agreed["amount_cny"]),
        "instalments": agreed.get("instalments") or [], "terms": agreed.get("terms") or "",
        "representatives": case.representatives or [],
        "settled_on": await _logged_at(pool, case_id, "settled") or case.resolved_at or case.updated_at,
        **printed.parties(case.facts, ids="full")})


async def feedback_letter(pool: Executor, case_id: str, config: MediationConfig) -> bytes | None:
    """To the court (or bureau) only what it needs: the parties' names, the disputed points, the mediator."""
    case = await repo.get(pool, case_id)
    if case is None or not has_feedback_letter(case):
        return None
    if case.court_case_no:
        addressee = people.partner("court", case.court_code, "人民法院")
    else:
        addressee = people.partner("bureau", case.bureau_code, "劳动人事争议仲裁委员会")
    return render("feedback-letter", await _common(pool, case, config) | {
        "addressee": addressee, "disputed_points": case.disputed_points or [],
        "failed_on": await _logged_at(pool, case_id, "failed") or case.resolved_at or case.updated_at,
        **printed.parties(case.facts, ids="none")})
