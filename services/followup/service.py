"""The follow-up service (回访): its topics, handlers and HTTP routes."""

from __future__ import annotations

from pathlib import Path

from events.catalog import CONSUMES, service_topic
from services.backbone.runtime import ServiceSpec
from services.followup.api import router
from services.followup.config import current
from services.followup.handlers import handlers

CONFIG = current()

SPEC = ServiceSpec(
    name="followup",
    topic=service_topic("followup"),
    consumes=CONSUMES["followup"],
    handlers=handlers(CONFIG),
    migrations=Path(__file__).parent / "migrations",
    routers=lambda runtime: [router],
)
