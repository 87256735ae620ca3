"""The intake service (受理): its topics, handlers and HTTP routes."""

from __future__ import annotations

from pathlib import Path

from events.catalog import CONSUMES, service_topic
from services.backbone.runtime import ServiceSpec
from services.intake import attachments_api, documents_api, public_api
from services.intake import repository as repo
from services.intake.api import router
from services.intake.config import intake_config
from services.intake.handlers import referral_handlers
from services.security import auth_api

CONFIG = intake_config()

SPEC = ServiceSpec(
    name="intake",
    topic=service_topic("intake"),
    consumes=CONSUMES["intake"],
    handlers=referral_handlers(CONFIG),
    migrations=Path(__file__).parent / "migrations",
    routers=lambda runtime: [router, auth_api.router, documents_api.router, attachments_api.router,
                              public_api.router],
    housekeeping=(lambda runtime: repo.prune_replay_caches(runtime.pool,
                                                           days=runtime.settings.ingress_retention_days),),
)
