"""The worker's query code (查询码): issued with every registered case, rotated by staff, checked for the worker's
own uploads. Intake keeps only the salted hash (``query_codes``); the code itself leaves this transaction twice —
in the answer to whoever registered (shown once) and in ``intake.query_code_issued`` on ``worker.notices``, which
only the notification service reads (its SMS). The hash goes on ``intake.events`` (``intake.query_code_set``) for
supervision's progress projection. Rules of the code: services/security/query_codes.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from events.catalog import WORKER_NOTICES
from events.intake import QueryCodeIssued, QueryCodeReason, QueryCodeSet
from services.backbone import caselog
from services.backbone.consumer import HandlerContext
from services.backbone.errors import NotFound
from services.intake import repository as repo
from services.security import query_codes as codes


async def issue(ctx: HandlerContext, case_id: str, *, phones: Sequence[str], reason: QueryCodeReason,
                actor: str | None, replaces: bool = False) -> str:
    """A new code for ``case_id``: its hash kept, the code published for the worker's SMS; returns the code (the
    caller shows it once)."""
    code = codes.new_code()
    code_hash = codes.hashed(case_id, code)
    await repo.add_query_code(ctx.conn, case_id, code_hash=code_hash, reason=reason, issued_at=ctx.now,
                              issued_by=actor, replaces=replaces)
    ctx.publish("intake.query_code_set", QueryCodeSet(case_id=case_id, code_hash=code_hash, reason=reason,
                                                      replaces=replaces, issued_at=ctx.now), subject=case_id)
    ctx.publish("intake.query_code_issued", QueryCodeIssued(
        case_id=case_id, query_code=code, phones=sorted(set(phones)), reason=reason, issued_at=ctx.now),
        subject=case_id, topic=WORKER_NOTICES, key=case_id)
    return code


async def rotate(ctx: HandlerContext, case_id: str, *, actor: str) -> str:
    """重新生成查询码: staff issue a new code (the worker lost theirs); every earlier code stops working."""
    if await repo.get(ctx.conn, case_id, lock=True) is None:
        raise NotFound(f"案件 {case_id} 不存在")
    phones = [w["phone"] for w in await repo.workers_of_case(ctx.conn, case_id)]
    code = await issue(ctx, case_id, phones=phones, reason="rotated", actor=actor, replaces=True)
    caselog.log(ctx, case_id, actor=actor, action="query_code_rotated")
    return code


async def valid(conn: repo.Executor, case_id: str, typed: str | None) -> bool:
    """Whether ``typed`` is a live code of ``case_id`` (False for a case that does not exist, alike)."""
    return codes.verify(case_id, typed, await repo.live_query_codes(conn, case_id))
