"""The supervision service (督办): projection of every service's events, alerts and escalation, statistics."""

from __future__ import annotations

import asyncio
from pathlib import Path

from events.catalog import CONSUMES, service_topic
from services.backbone.consumer import HandlerContext
from services.backbone.deadline import Deadline
from services.backbone.runtime import Runtime, ServiceSpec
from services.supervision import alerts, bulk, public_api
from services.supervision.api import router
from services.supervision.deps import BOARD, HIERARCHY
from services.supervision.projection import handlers

__all__ = ["BOARD", "HIERARCHY", "SPEC"]


async def _board_loop(runtime: Runtime, stopping: asyncio.Event) -> None:
    await BOARD.listen(runtime.dsn, stopping)


async def _indexes_back(runtime: Runtime) -> None:
    await bulk.put_back_on_start(runtime.pool)


async def _on_deadline(ctx: HandlerContext, deadline: Deadline, signal: str) -> None:
    """An escalation clock ran out: the case is still overdue one working day later → the parent unit."""
    if signal == "breached" and deadline.kind.startswith(alerts.ESCALATION_PREFIX):
        await alerts.escalate(ctx, alert_id=int(deadline.attributes["alert_id"]), at=deadline.due_at,
                              hierarchy=HIERARCHY)


SPEC = ServiceSpec(
    name="supervision",
    topic=service_topic("supervision"),
    consumes=CONSUMES["supervision"],
    handlers=handlers(hierarchy=HIERARCHY),
    migrations=Path(__file__).parent / "migrations",
    routers=lambda runtime: [public_api.router, router],
    loops=(_board_loop,),
    on_start=_indexes_back,
    on_deadline=_on_deadline,
    front=public_api.front,
)
