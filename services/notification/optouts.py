"""Opt-out (退订): a worker asks for no more messages; staff record it, and nothing more is sent to that phone
(what is already queued or held is skipped when its time comes). Opting in again removes the record."""

from __future__ import annotations

import logging
import re
from typing import Any

from services.backbone.consumer import HandlerContext
from services.backbone.errors import Invalid, NotFound
from services.backbone.logs import mask_phone
from services.calendar.model import shanghai_iso
from services.notification import repository

log = logging.getLogger(__name__)

MOBILE = re.compile(r"^1\d{10}$")


def _mobile(phone: str) -> str:
    phone = phone.strip().replace(" ", "").replace("-", "")
    if not MOBILE.match(phone):
        raise Invalid("请填写11位手机号码", errors=[("phone", "手机号码应为以1开头的11位数字")])
    return phone


async def opt_out(ctx: HandlerContext, *, phone: str, reason: str, actor: str) -> dict[str, Any]:
    phone = _mobile(phone)
    row = await repository.opt_out(ctx.conn, phone=phone, reason=reason, actor=actor, at=ctx.now)
    log.info("phone opted out", extra={"phone": mask_phone(phone), "actor": actor})
    return {"phone": mask_phone(row.phone), "opted_out": True, "at": shanghai_iso(row.at), "reason": row.reason}


async def opt_in(ctx: HandlerContext, *, phone: str, actor: str) -> dict[str, Any]:
    phone = _mobile(phone)
    if await repository.opt_in(ctx.conn, phone) is None:
        raise NotFound("该号码没有退订记录")
    log.info("phone opted in again", extra={"phone": mask_phone(phone), "actor": actor})
    return {"phone": mask_phone(phone), "opted_out": False}
