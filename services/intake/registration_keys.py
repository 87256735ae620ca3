"""A registration sent twice is registered once (``Idempotency-Key``).

A clerk's answer lost on the way back, a double click, a worker's phone that lost its signal: the same submission
arrives again. Without a key, a retry links to the case the first one registered (same worker, same employer) and
issues the worker a second query code — a second SMS — or, on the public door where nothing is linked, becomes a
second case. With a key, the retry answers the case the first one registered or joined (``replayed``); nothing is
written, published or sent again. The key is the caller's: the same key from another login is another key. The
same key with a different body is refused (422): it is not a retry.

The key is claimed in the registering transaction, so two requests racing with one key cannot both register: the
second waits on the first's row and then finds it (or claims it, when the first rolled back).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace

from services.backbone.consumer import HandlerContext
from services.backbone.errors import FieldError, Invalid, NotFound
from services.backbone.usecase import found
from services.intake import repository as repo
from services.intake.dispatch import Outcome

HEADER = "Idempotency-Key"
#: printable ASCII without spaces, as a UUID, a ULID or any client's own token
KEY = re.compile(r"^[\x21-\x7e]{8,200}$")
REUSED = "该 Idempotency-Key 已用于另一份不同内容的登记；如上次提交可能已成功，请先查看已登记的案件"


@dataclass(frozen=True)
class RegistrationKey:
    caller: str
    key: str
    fingerprint: str

    @classmethod
    def of(cls, caller: str, key: str, body: bytes) -> RegistrationKey:
        """``body``: the submission in a canonical form (the same submission gives the same bytes)."""
        if not KEY.match(key):
            raise Invalid(f"{HEADER} 应为 8 至 200 个可见 ASCII 字符", code="invalid-idempotency-key",
                          errors=[FieldError(HEADER, "应为 8 至 200 个可见 ASCII 字符", code="invalid")])
        return cls(caller, key, hashlib.sha256(body).hexdigest())

    @classmethod
    def sent(cls, headers: Mapping[str, str], caller: str, body: bytes) -> RegistrationKey | None:
        """The request's key (None: the caller sent none, and gets no protection from retries)."""
        key = headers.get(HEADER)
        return None if key is None else cls.of(caller, key, body)


async def once(ctx: HandlerContext, key: RegistrationKey | None, register: Callable[[], Awaitable[Outcome]], *,
               visible: Callable[[str | None], bool] | None = None) -> Outcome:
    """``register`` the first time ``key`` is seen; the case it registered (``replayed``) every later time —
    unless it has since gone where the caller may not see it (``visible``: the caller's scope)."""
    if key is None:
        return await register()
    if not await repo.claim_registration_key(ctx.conn, key.caller, key.key, key.fingerprint):
        earlier = await repo.registration_key(ctx.conn, key.caller, key.key)
        assert earlier is not None  # claimed by a committed transaction: the row is there
        if earlier["fingerprint"] != key.fingerprint:
            raise Invalid(REUSED, code="idempotency-key-reused",
                          errors=[FieldError(HEADER, REUSED, code="reused")])
        case = found(await repo.get(ctx.conn, earlier["case_id"]), f"案件 {earlier['case_id']} 不存在")
        if visible is not None and not visible(case.org_unit):
            raise NotFound("此前以同一 Idempotency-Key 提交的登记已受理，该案件现已不在您的查看范围内")
        return replace(Outcome.of(case, linked=earlier["linked"]), replayed=True)
    outcome = await register()
    await repo.settle_registration_key(ctx.conn, key.caller, key.key, outcome.case_id, outcome.linked)
    return outcome
