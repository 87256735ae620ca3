"""Intake's documents (文书): the 受理回执 a worker takes home. A query: reads the case, renders the template."""

from __future__ import annotations

from services.backbone import caselog
from services.intake import query_codes
from services.intake import repository as repo
from services.intake.config import IntakeConfig
from services.intake.repository import Executor
from services.printing import facts as printed
from services.printing import people
from services.printing.render import render
from services.security.query_codes import shown
from services.web.words import unit_name

#: the documents intake issues
KINDS = ("receipt",)


#: a reprint: the code is kept only as a hash, so it cannot be printed again (docs/domain/worker-door.md)
CODE_TOLD = "已在首次打印的回执中告知（遗失的，可请工作人员重新生成）"


async def receipt(pool: Executor, case_id: str, config: IntakeConfig, *, query_code: str | None = None) -> bytes | None:
    """The receipt, or None while the case has none (answered on the spot or referred elsewhere: no receipt).

    ``query_code``: the first print, right after registration, carries the code the registration answered (it must
    be a live code of this case); a reprint says where the code was given."""
    case = await repo.get(pool, case_id)
    if case is None or case.status in ("answered", "referred_elsewhere"):
        return None
    log = await caselog.entries(pool, case_id)
    received = next((e for e in log if e["action"] == "received"), None)
    unit = case.org_unit or config.serving(case.region_code)
    return render("receipt", {
        "case_id": case.case_id, "channel": case.channel, "received_at": case.received_at, "tier": case.tier,
        "due_at": case.due_at, "provisional": case.provisional,
        "unit_name": unit_name(unit, config.hierarchy) if unit else "—",
        "query_code": shown(query_code) if query_code and await query_codes.valid(pool, case_id, query_code)
        else CODE_TOLD,
        "clerk": people.person(received["actor"] if received else None),
        "issued_on": case.received_at, **printed.parties(case.facts, ids="masked")})


async def available(pool: Executor, case_id: str) -> list[str]:
    case = await repo.get(pool, case_id)
    return ["receipt"] if case is not None and case.status not in ("answered", "referred_elsewhere") else []
