"""Choosing who takes a case (a mediator, a lawyer): balanced by open load, then by how many of their
cases are due soon. Pure."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Load:
    person_id: str
    name: str
    org_unit: str
    capacity: int
    open_cases: int
    due_soon: int
    """open cases due within the next two working days"""

    @property
    def free(self) -> bool:
        return self.open_cases < self.capacity

    def score(self) -> tuple[float, int, int, str]:
        return (self.open_cases / max(self.capacity, 1), self.due_soon, self.open_cases, self.person_id)


def choose(candidates: Iterable[Load], *, exclude: Iterable[str] = (), unit: str | None = None) -> Load | None:
    """The least loaded free person not excluded; the case's own unit before its stations on a tie."""
    excluded = set(exclude)
    free = [c for c in candidates if c.free and c.person_id not in excluded]
    if not free:
        return None
    return min(free, key=lambda c: (*c.score()[:3], c.org_unit != unit, c.person_id))
