"""Which service owns which public API route (docs/domain/routes.md). Pure: tested without servers."""

from __future__ import annotations

import re

# (methods, path pattern, owning service) — first match wins.
ROUTES: tuple[tuple[frozenset[str], re.Pattern[str], str], ...] = tuple(
    (frozenset(methods.split()), re.compile(pattern), service)
    for methods, pattern, service in (
        ("POST", r"^/api/v1/cases$", "intake"),
        # the worker's door (no login): applying and the worker's own uploads at intake; progress and rating from
        # supervision's projection made for them
        ("POST", r"^/api/v1/public/applications$", "intake"),
        ("POST", r"^/api/v1/public/cases/[^/]+/attachments$", "intake"),
        ("POST", r"^/api/v1/public/(progress|ratings)$", "supervision"),
        ("POST", r"^/api/v1/events$", "intake"),
        ("GET POST", r"^/api/v1/auth/(login|logout|me)$", "intake"),
        ("GET HEAD", r"^/api/v1/cases(/[^/]+)?$", "supervision"),
        ("GET HEAD", r"^/api/v1/(alerts|stats|stream|forecast)(/.*)?$", "supervision"),
        ("GET POST PUT PATCH DELETE", r"^/api/v1/intake(/.*)?$", "intake"),
        # printable documents (文书), each from the service that owns its stage; attachments: intake holds the file
        ("GET HEAD POST", r"^/api/v1/cases/[^/]+/documents/receipt\.pdf$", "intake"),
        ("GET HEAD", r"^/api/v1/cases/[^/]+/documents/(agreement|feedback-letter)\.pdf$", "mediation"),
        ("GET HEAD", r"^/api/v1/cases/[^/]+/documents/legal-aid-decision\.pdf$", "legal_aid"),
        ("GET POST", r"^/api/v1/cases/[^/]+/attachments(/[^/]+)?$", "intake"),
        ("GET POST PUT PATCH DELETE", r"^/api/v1/cases/[^/]+/(tier|decline)$", "intake"),
        ("GET POST PUT PATCH DELETE", r"^/api/v1/mediation(/.*)?$", "mediation"),
        ("GET POST PUT PATCH DELETE", r"^/api/v1/legal-aid(/.*)?$", "legal_aid"),
        ("GET POST PUT PATCH DELETE", r"^/api/v1/followup(/.*)?$", "followup"),
        ("GET POST PUT PATCH DELETE", r"^/api/v1/supervision(/.*)?$", "supervision"),
        ("GET POST PUT PATCH DELETE", r"^/api/v1/notification(/.*)?$", "notification"),
    )
)


def owner_of(method: str, path: str) -> str | None:
    for methods, pattern, service in ROUTES:
        if method.upper() in methods and pattern.match(path):
            return service
    return None


#: Console pages owned by a service (served by it, through this one origin).
PAGES: tuple[tuple[str, str], ...] = (
    ("/intake", "intake"),
    ("/mediation", "mediation"),
    ("/legal-aid", "legal_aid"),
    ("/followup", "followup"),
    ("/supervision", "supervision"),
    ("/notification", "notification"),
    # the worker's door: public pages, no login (services/security/guard.py WORKER_DOOR)
    ("/apply", "intake"),
    ("/progress", "supervision"),
)


def page_owner(path: str) -> str | None:
    for prefix, service in PAGES:
        if path == prefix or path.startswith(prefix + "/"):
            return service
    return None


_API_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"})


def front_owner(method: str, path: str, accept: str = "") -> str | None:
    """The service that answers a request made to the console's origin, None for the console itself: its own
    pages and routes, and live boards (server-sent events: the console holds them, with its cap per person)."""
    if "text/event-stream" in accept:
        return None
    if path.startswith("/api/v1/"):
        if path == "/api/v1/stream" or method not in _API_METHODS:
            return None
        return owner_of(method, path)
    if method in ("GET", "HEAD"):
        return page_owner(path)
    return None
