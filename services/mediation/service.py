"""The mediation service (调解): its topics, handlers and HTTP routes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from events.catalog import CONSUMES, service_topic
from services.backbone.runtime import Runtime, ServiceSpec
from services.mediation import documents_api
from services.mediation.api import router
from services.mediation.assignment import offer_waiting
from services.mediation.config import default_config
from services.mediation.handlers import handlers
from services.mediation.registry import sync_mediators
from services.mediation.waiting import room_signal

CONFIG = default_config()


log = logging.getLogger(__name__)


async def _seed(runtime: Runtime) -> None:
    await sync_mediators(runtime.pool, CONFIG.hierarchy)


async def waiting_queue(runtime: Runtime, stopping: asyncio.Event) -> None:
    """Offer waiting cases to mediators with room: at once after a use case here, every few seconds anyway."""
    room = room_signal(runtime)
    while not stopping.is_set():
        await room.wait(CONFIG.waiting_queue_seconds)
        if stopping.is_set():
            return
        try:
            if await offer_waiting(runtime.unit_of_work, runtime.pool, CONFIG):
                runtime.relay.wake()
        except Exception as exc:
            log.warning("offering waiting cases failed", extra={"error": repr(exc)})


SPEC = ServiceSpec(
    name="mediation",
    topic=service_topic("mediation"),
    consumes=CONSUMES["mediation"],
    handlers=handlers(CONFIG),
    migrations=Path(__file__).parent / "migrations",
    routers=lambda runtime: [router, documents_api.router],
    on_start=_seed,
    loops=(waiting_queue,),
)
