"""A page of a list: which rows to fetch (limit/offset) and how many pages there are. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")
PER_PAGE = 25


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    total: int
    number: int
    per_page: int = PER_PAGE

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def window(page: Any, per_page: int = PER_PAGE) -> tuple[int, int, int]:
    """(number, limit, offset) for a requested page number (anything not a positive integer is page 1)."""
    try:
        number = max(1, min(int(page), 100_000))
    except (TypeError, ValueError):
        number = 1
    return number, per_page, (number - 1) * per_page


def sort_key(requested: str | None, allowed: dict[str, str], default: str) -> tuple[str, str]:
    """(requested key as shown, SQL ORDER BY clause) — only keys from ``allowed`` (key → column expression)."""
    key = requested if requested and requested.lstrip("-") in allowed else default
    column = allowed[key.lstrip("-")]
    return key, f"{column} {'DESC' if key.startswith('-') else 'ASC'} NULLS LAST"
