"""Rendering a console page: the service's own templates over the shared layout, with who is logged in, the
sections their role may open, and the filters that turn codes, money and times into words."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates
from jinja2 import pass_context

from events import glossary
from services.security.policy import ROLE_ZH, Principal
from services.web import words
from services.web.nav import sections_for

SHARED = Path(__file__).parent / "templates"


def who(request: Request) -> Principal | None:
    p = getattr(request.state, "principal", None)
    return p if isinstance(p, Principal) else None


@pass_context
def _unit(context: Any, code: Any) -> str:
    return words.unit_name(code, context.get("hierarchy"))


@pass_context
def _url(context: Any, **changes: Any) -> str:
    """This page's URL with some query parameters changed (filters, sort and page kept in the URL)."""
    request: Request = context["request"]
    params = dict(request.query_params)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    if "page" not in changes and set(changes) - {"page"}:
        params.pop("page", None)  # a new filter or sort starts at page 1
    query = urlencode(params)
    return request.url.path + (f"?{query}" if query else "")


class Pages:
    """One service's pages: ``Pages(Path(__file__).parent / "templates")``."""

    def __init__(self, *folders: Path | str):
        self.templates = Jinja2Templates(directory=[str(f) for f in folders] + [str(SHARED)])
        env = self.templates.env
        env.filters.update(money=words.money, when=words.when, day=words.day, plain=words.plain, unit=_unit)
        env.globals.update(zh=glossary.zh, url=_url, role_zh=ROLE_ZH)

    def render(self, request: Request, name: str, context: dict[str, Any] | None = None, *,
               status_code: int = 200) -> Response:
        me = who(request)
        ctx = {"me": me, "sections": sections_for(me), **(context or {})}
        return self.templates.TemplateResponse(request, name, ctx, status_code=status_code)


SHARED_PAGES = Pages()
