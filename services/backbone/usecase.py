"""The pieces every service's use cases share: running one from HTTP, turning a domain rule's refusal into a
domain error, clocks that may already be where they are asked to go, and a row that must be there.

Use cases raise ``services.backbone.errors`` (NotFound, Conflict, Invalid); the edge maps them to problems.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from services.backbone import audit_store
from services.backbone.consumer import HandlerContext
from services.backbone.deadline import DeadlineError
from services.backbone.errors import Conflict, NotFound

if TYPE_CHECKING:
    from services.backbone.runtime import Runtime

T = TypeVar("T")


async def run(runtime: Runtime, step: Callable[[HandlerContext], Awaitable[T]], *, audited: bool = False) -> T:
    """One use case in one unit of work (state, events and deadlines commit together).

    ``audited``: the request's audit row is written in the same transaction (``audit_store.Pending``), with the
    status its route declares (or the one the step put in ``request.state.audit_status``) — for a use case that is
    the request's last word: nothing after it changes the answer's status or the case it names."""
    pending = audit_store.PENDING.get() if audited else None
    if pending is not None and pending.written is not None:
        pending = None  # a second use case in the same request: its row is the edge's
    row: tuple[Any, ...] | None = None
    async with runtime.unit_of_work() as ctx:
        result = await step(ctx)
        if pending is not None:
            row = pending.row(pending.expected_status())
            ctx.defer(audit_store.WRITE, *row)
    if pending is not None:
        pending.written = row
    return result


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


async def held_if_allowed(take_now: Callable[[], Awaitable[T | None]], read: Callable[[], Awaitable[T | None]],
                          take: Callable[[], Awaitable[T | None]], check: Callable[[T | None], None]) -> T | None:
    """The rows a write locks, for a caller whose right to act on them is checked on those rows (``check`` raises;
    None: not there). Only a caller who may act ever waits for another writer's lock: the rows are taken at once
    when no one holds them (``take_now``: ``FOR UPDATE SKIP LOCKED``, one statement as a rule); when someone does,
    the caller is checked first on them as last committed (``read``) — one out of scope is refused then, as fast as
    for rows that are not there, learning nothing from a wait — and only then are they waited for (``take``) and
    the caller checked again on them as they now are."""
    held = await take_now()
    if held is None:  # not there, or another writer holds them this moment
        check(await read())
        held = await take()
    check(held)
    return held


def found(value: T | None, message: str) -> T:
    """The row a use case acts on; missing (or out of the caller's sight) is NotFound."""
    if value is None:
        raise NotFound(message)
    return value

