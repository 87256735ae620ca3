"""The legal-aid service (法律援助): its topics, handlers and HTTP routes."""

from __future__ import annotations

from pathlib import Path

from events.catalog import CONSUMES, service_topic
from services.backbone.runtime import Runtime, ServiceSpec
from services.legal_aid import documents_api
from services.legal_aid.api import router
from services.legal_aid.config import configured
from services.legal_aid.handlers import handlers
from services.legal_aid.registry import sync_lawyers

CONFIG = configured()


async def _seed(runtime: Runtime) -> None:
    await sync_lawyers(runtime.pool, CONFIG.hierarchy)


SPEC = ServiceSpec(
    name="legal_aid",
    topic=service_topic("legal_aid"),
    consumes=CONSUMES["legal_aid"],
    handlers=handlers(CONFIG),
    migrations=Path(__file__).parent / "migrations",
    routers=lambda runtime: [router, documents_api.router],
    on_start=_seed,
)
