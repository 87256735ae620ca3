"""The mediation service (调解): its topics, handlers and HTTP routes."""

from __future__ import annotations

from pathlib import Path

from events.catalog import CONSUMES, service_topic
from services.backbone.runtime import Runtime, ServiceSpec
from services.mediation.api import build_router
from services.mediation.cases import MediationConfig, sync_mediators
from services.mediation.handlers import handlers

CONFIG = MediationConfig.default()


async def _seed(runtime: Runtime) -> None:
    await sync_mediators(runtime.pool, CONFIG.hierarchy)


SPEC = ServiceSpec(
    name="mediation",
    topic=service_topic("mediation"),
    consumes=CONSUMES["mediation"],
    handlers=handlers(CONFIG),
    migrations=Path(__file__).parent / "migrations",
    routers=lambda runtime: [build_router(runtime, CONFIG)],
    on_start=_seed,
)
