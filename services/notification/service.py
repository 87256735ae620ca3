"""The notification service (通知): its topics, handlers, HTTP routes and the sender loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from events.catalog import CONSUMES, service_topic
from services.backbone import usecase
from services.backbone.db import is_transient
from services.backbone.runtime import Runtime, ServiceSpec
from services.notification import sending
from services.notification.api import router
from services.notification.config import catalog, current
from services.notification.gateways import gateway_for
from services.notification.handlers import handlers

log = logging.getLogger(__name__)

SETTINGS = current()
CATALOG = catalog(SETTINGS.templates)
GATEWAY = gateway_for(SETTINGS, CATALOG.sign_name)


async def sender(runtime: Runtime, stopping: asyncio.Event) -> None:
    """Send what is due, as long as the service runs: a full round goes again at once, an empty one waits."""
    backoff = SETTINGS.poll_seconds
    while not stopping.is_set():
        wait = SETTINGS.poll_seconds
        try:
            handled = await usecase.run(runtime, lambda ctx: sending.send_due(ctx, gateway=GATEWAY, catalog=CATALOG,
                                                                              limit=SETTINGS.batch))
            backoff = SETTINGS.poll_seconds
            if handled >= SETTINGS.batch:
                continue
        except Exception as exc:
            if not is_transient(exc):
                log.exception("sending failed")
            wait = backoff = min(backoff * 2, 5.0)
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(stopping.wait(), wait)


SPEC = ServiceSpec(
    name="notification",
    topic=service_topic("notification"),
    consumes=CONSUMES["notification"],
    handlers=handlers(CATALOG, gateway=GATEWAY.name, shows_secrets=GATEWAY.shows_secrets),
    migrations=Path(__file__).parent / "migrations",
    routers=lambda runtime: [router],
    loops=[sender],
)
