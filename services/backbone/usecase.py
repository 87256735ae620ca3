"""Running a use case from HTTP: one unit of work, refusals as RFC 9457 problems."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from services.backbone.consumer import HandlerContext
from services.backbone.http import Problem

if TYPE_CHECKING:
    from services.backbone.runtime import Runtime

T = TypeVar("T")


class Refused(Exception):
    """A request the case cannot take: ``status`` for HTTP, ``errors`` field by field (Chinese)."""

    def __init__(self, status: int, message: str, errors: list[tuple[str, str]] | None = None):
        super().__init__(message)
        self.status, self.message, self.errors = status, message, errors or []

    def problem(self) -> Problem:
        return Problem(self.status, self.message, errors=[{"field": f, "reason": r} for f, r in self.errors])


async def run(runtime: Runtime, step: Callable[[HandlerContext], Awaitable[T]]) -> T:
    try:
        async with runtime.unit_of_work() as ctx:
            return await step(ctx)
    except Refused as exc:
        raise exc.problem() from exc
