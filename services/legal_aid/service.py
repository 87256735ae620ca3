"""The legal-aid service (法律援助): its topics, handlers and HTTP routes."""

from __future__ import annotations

from pathlib import Path

from events.catalog import CONSUMES, service_topic
from services.backbone.runtime import Runtime, ServiceSpec
from services.legal_aid.api import build_router
from services.legal_aid.cases import LegalAidConfig, sync_lawyers
from services.legal_aid.handlers import handlers

CONFIG = LegalAidConfig.default()


async def _seed(runtime: Runtime) -> None:
    await sync_lawyers(runtime.pool, CONFIG.hierarchy)


SPEC = ServiceSpec(
    name="legal_aid",
    topic=service_topic("legal_aid"),
    consumes=CONSUMES["legal_aid"],
    handlers=handlers(CONFIG),
    migrations=Path(__file__).parent / "migrations",
    routers=lambda runtime: [build_router(runtime, CONFIG)],
    on_start=_seed,
)
