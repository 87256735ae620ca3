"""Names on a document: staff by their account's name, courts and bureaus by their partner name."""

from __future__ import annotations

from services.security.accounts import accounts


def person(username: str | None) -> str:
    if not username:
        return "—"
    user = accounts().users.get(username)
    return (user or {}).get("name") or "—"


def partner(kind: str, code: str | None, fallback: str) -> str:
    for p in accounts().partners.values():
        if p.kind == kind and p.code == code and p.name:
            return p.name
    return fallback
