"""Notification's HTTP API (/api/v1/notification) and the console page (/notification): the messages sent to
workers (operators, supervisors), opt-outs (staff), and each person's in-console notices."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import Field

from services.backbone import usecase
from services.backbone.http import StrictModel
from services.backbone.logs import mask_phone
from services.backbone.usecase import found
from services.calendar.model import shanghai_iso
from services.notification import notices, optouts, repository
from services.notification.deps import HIERARCHY, OPT_OUT, READERS, STAFF, MessageUnits, RuntimeDep, message_units
from services.notification.gateways import reason_words
from services.notification.models import Notice
from services.security.guard import acting, require_role
from services.web.pages import Pages, who
from services.web.paging import Page, sort_key, window

router = APIRouter()
pages = Pages(Path(__file__).parent / "templates")

STATES = ("queued", "held", "sent", "delivered", "failed", "skipped")


class OptOutBody(StrictModel):
    phone: str = Field(min_length=7, max_length=20, description="the worker's mobile number")
    reason: str = Field(default="", max_length=200)


def _message(m: dict[str, Any]) -> dict[str, Any]:
    return {"message_id": str(m["message_id"]), "case_id": m["case_id"], "phone": mask_phone(m["phone"]),
            "kind": m["kind"], "state": m["state"], "attempts": m["attempts"], "text": m["text"],
            "reason": m["reason"], "reason_words": reason_words(m["reason"]), "gateway": m["gateway"], "org_unit": m["org_unit"],
            "created_at": shanghai_iso(m["created_at"]), "not_before": shanghai_iso(m["not_before"]),
            "sent_at": shanghai_iso(m["sent_at"]) if m["sent_at"] else None}


def _notice(n: Notice) -> dict[str, Any]:
    return {"notice_id": str(n.notice_id), "case_id": n.case_id, "kind": n.kind, "text": n.text,
            "created_at": shanghai_iso(n.created_at), "read": n.read_at is not None}


@router.get("/api/v1/notification/messages")
async def list_messages(runtime: RuntimeDep, units: MessageUnits, state: str | None = None,
                        q: str | None = Query(default=None, max_length=40),
                        phone: str | None = Query(default=None, pattern=r"^\d{4}$",
                                                  description="the phone's last four digits"),
                        sort: str | None = None, page: int = 1, limit: int = 100) -> dict[str, Any]:
    """The SMS sent (or to be sent) to workers, newest first: state, masked phone, text."""
    key, order = sort_key(sort, repository.MESSAGES_SORT, "-created")
    number, per_page, offset = window(page, max(1, min(limit, 500)))
    rows, total = await repository.messages(runtime.pool, units=units, state=state if state in STATES else None,
                                            q=q or None, last4=phone, order=order, limit=per_page, offset=offset)
    return {"total": total, "page": number, "per_page": per_page, "sort": key,
            "messages": [_message(m) for m in rows]}


@router.post("/api/v1/notification/opt-outs", status_code=201)
async def opt_out(request: Request, body: OptOutBody, runtime: RuntimeDep) -> dict[str, Any]:
    """A worker asked for no more messages: none is sent to this phone from now on (queued ones are skipped)."""
    require_role(request, OPT_OUT)
    return await usecase.run(runtime, lambda ctx: optouts.opt_out(ctx, phone=body.phone, reason=body.reason,
                                                                  actor=acting(request)))


class OptInBody(StrictModel):
    phone: str = Field(min_length=7, max_length=20)


@router.post("/api/v1/notification/opt-ins")
async def opt_in(request: Request, body: OptInBody, runtime: RuntimeDep) -> dict[str, Any]:
    """The worker wants messages again (the phone in the body: never in a URL, which logs keep)."""
    require_role(request, OPT_OUT)
    return await usecase.run(runtime, lambda ctx: optouts.opt_in(ctx, phone=body.phone, actor=acting(request)))


def _recipients(request: Request) -> list[str]:
    p = require_role(request, STAFF)
    return notices.recipients_of(p, HIERARCHY.subtree(p.org_unit) if p.org_unit else ())


@router.get("/api/v1/notification/notices")
async def my_notices(request: Request, runtime: RuntimeDep, limit: int = 50) -> dict[str, Any]:
    """The logged-in person's notices (a case offered to them, a deadline at risk), newest first."""
    rows, unread = await repository.notices(runtime.pool, _recipients(request), max(1, min(limit, 200)))
    return {"unread": unread, "notices": [_notice(n) for n in rows]}


@router.post("/api/v1/notification/notices/{notice_id}/read")
async def read_notice(request: Request, notice_id: str, runtime: RuntimeDep) -> dict[str, Any]:
    recipients = _recipients(request)
    notice = await usecase.run(runtime, lambda ctx: notices.mark_read(ctx, notice_id, recipients))
    return _notice(found(notice, "通知不存在"))


@router.get("/notification", response_class=HTMLResponse, include_in_schema=False)
async def page(request: Request, runtime: RuntimeDep, state: str | None = None,
               q: str | None = Query(default=None, max_length=40), sort: str | None = None,
               page: int = 1) -> Response:
    """Operators and supervisors: the messages to workers; everyone on the staff: their own notices."""
    p = require_role(request, STAFF)
    rows, unread = await repository.notices(runtime.pool, _recipients(request), 20)
    data: dict[str, Any] | None = None
    if p.role in READERS:
        data = await list_messages(runtime, message_units(request), state=state, q=q, phone=None, sort=sort,
                                   page=page, limit=25)
    return pages.render(request, "notification.html", {
        "notices": [_notice(n) for n in rows], "unread": unread,
        "page": Page(data["messages"], data["total"], data["page"]) if data else None,
        "sort": data["sort"] if data else "-created", "state": state if state in STATES else "", "states": STATES,
        "q": q or "", "may_opt_out": p.role in OPT_OUT, "who": who(request)})

