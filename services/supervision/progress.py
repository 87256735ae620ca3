"""The worker's door in supervision (进度查询, 评价): answered from the ``public_progress`` projection, which the
case events keep (``projection._worker_step``) — one indexed read per lookup, nothing assembled per request.

The worker proves who they are with the case number and a query code; the projection holds only the codes'
salted hashes (``intake.query_code_set``). A case that does not exist and a wrong code are the same answer
(``public_door.not_found``), counted against the case number and the address alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from events.supervision import WorkerRated
from services.backbone.consumer import HandlerContext
from services.backbone.errors import Conflict
from services.calendar.model import shanghai_iso
from services.security import public_door
from services.security import query_codes as codes
from services.supervision import repository
from services.supervision.domain import worker_steps

#: compared against when the case has no code (or does not exist): the same work as a wrong code
_NOBODY = ("v1$0000000000000000$" + "0" * 64,)
NOT_YET = "案件办结后才能评价。您可以随时在本页查询办理进度。"
ALREADY = "您已评价过本案，感谢您的反馈。"


@dataclass(frozen=True)
class Lookup:
    """A lookup's row: the case's view when the code is right (None otherwise), and the throttles."""

    view: dict[str, Any] | None
    throttles: public_door.Throttles


def _view(row: asyncpg.Record) -> dict[str, Any]:
    steps = row["steps"] or []
    return {
        "case_id": row["case_id"], "status": worker_steps.status_of(steps, resolved=row["resolved"]),
        "steps": [{"at": shanghai_iso(datetime.fromisoformat(s["at"])), "title": s["title"]} for s in steps],
        "resolved": row["resolved"], "can_rate": bool(row["resolved"]) and row["score"] is None,
        "rating": None if row["score"] is None else {"score": row["score"], "rated_at": shanghai_iso(row["rated_at"])},
        "org_unit": row["org_unit"],
    }


async def lookup(pool: asyncpg.Pool, case_id: str, typed_code: str | None, client: str) -> Lookup:
    """One round trip: the case's view, its rating and both throttles; the code checked against the hashes."""
    case_key, addr_key = public_door.keys(case_id, client)
    row = await repository.public_lookup(pool, case_id[:public_door.CASE_ID_MAX], case_key, addr_key)
    hashes = row["code_hashes"] if row["case_id"] is not None and row["code_hashes"] else _NOBODY
    ok = codes.verify(case_id, typed_code, hashes) and row["case_id"] is not None
    return Lookup(_view(row) if ok else None, public_door.Throttles.of(row))


async def rate(ctx: HandlerContext, case_id: str, *, score: int, comment: str, org_unit: str | None) -> None:
    """评价: once the case is resolved, once per case; follow-up takes it as the worker's satisfaction and the
    statistics count it (the case's satisfaction here)."""
    if not await repository.public_resolved_now(ctx.conn, case_id):
        raise Conflict(NOT_YET, code="not-resolved")
    if not await repository.insert_rating(ctx.conn, case_id, score, comment, ctx.now):
        raise Conflict(ALREADY, code="already-rated")
    await repository.set_case(ctx.conn, case_id, satisfaction=score)
    ctx.publish("supervision.worker_rated", WorkerRated(case_id=case_id, score=score, comment=comment,
                                                        rated_at=ctx.now, org_unit=org_unit), subject=case_id)
