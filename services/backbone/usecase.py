"""The pieces every service's use cases share: running one from HTTP, turning a domain rule's refusal into a
domain error, clocks that may already be where they are asked to go, and a row that must be there.

Use cases raise ``services.backbone.errors`` (NotFound, Conflict, Invalid); the edge maps them to problems.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from services.backbone.consumer import HandlerContext
from services.backbone.deadline import DeadlineError
from services.backbone.errors import Conflict, NotFound

if TYPE_CHECKING:
    from services.backbone.runtime import Runtime

T = TypeVar("T")


async def run(runtime: Runtime, step: Callable[[HandlerContext], Awaitable[T]]) -> T:
    """One use case in one unit of work (state, events and deadlines commit together)."""
    async with runtime.unit_of_work() as ctx:
        return await step(ctx)


def step(rule: Callable[..., T], *args: Any, refusal: type[Exception] = ValueError, **kwargs: Any) -> T:
    """Apply a pure domain transition; the domain's own refusal (``refusal``) becomes a Conflict."""
    try:
        return rule(*args, **kwargs)
    except refusal as exc:
        raise Conflict(str(exc)) from exc


async def quietly(clock_change: Awaitable[T]) -> T | None:
    """A clock asked to go where it already is (paused twice, met after a breach): nothing to do."""
    try:
        return await clock_change
    except DeadlineError:
        return None


def found(value: T | None, message: str) -> T:
    """The row a use case acts on; missing (or out of the caller's sight) is NotFound."""
    if value is None:
        raise NotFound(message)
    return value

