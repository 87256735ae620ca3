"""The notification service (通知): its topics, handlers, HTTP routes and the sender loop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
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
from services.notification.wakeup import QUEUED

log = logging.getLogger(__name__)

SETTINGS = current()
CATALOG = catalog(SETTINGS.templates)
GATEWAY = gateway_for(SETTINGS, CATALOG.sign_name)


async def sender(runtime: Runtime, stopping: asyncio.Event) -> None:
    """Send what is due, as long as the service runs: a full round goes again at once; an empty one waits until
    a committed transaction queues a message (``wakeup.QUEUED``; the round then starts ``round_gap_seconds`` after
    the one before at the earliest) or ``poll_seconds`` pass."""
    backoff = SETTINGS.poll_seconds
    last = float("-inf")
    with QUEUED.listening() as queued:
        while not stopping.is_set():
            wait = SETTINGS.poll_seconds
            queued.clear()  # before the round reads, never after: a message committed meanwhile rings again
            last = time.monotonic()
            try:
                handled = await usecase.run(runtime, lambda ctx: sending.send_due(
                    ctx, gateway=GATEWAY, catalog=CATALOG, limit=SETTINGS.batch))
                backoff = SETTINGS.poll_seconds
                if handled >= SETTINGS.batch:
                    continue
            except Exception as exc:
                if not is_transient(exc):
                    log.exception("sending failed")
                wait = backoff = min(backoff * 2, 5.0)
                queued.clear()  # a failing round waits its backoff, bell or not
            await _first_of(stopping, queued, wait)
            gap = SETTINGS.round_gap_seconds - (time.monotonic() - last)
            if queued.is_set() and gap > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), gap)


async def _first_of(stopping: asyncio.Event, queued: asyncio.Event, seconds: float) -> None:
    waits = [asyncio.ensure_future(stopping.wait()), asyncio.ensure_future(queued.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waits:
            w.cancel()


SPEC = ServiceSpec(
    name="notification",
    topic=service_topic("notification"),
    consumes=CONSUMES["notification"],
    handlers=handlers(CATALOG, gateway=GATEWAY.name, shows_secrets=GATEWAY.shows_secrets),
    migrations=Path(__file__).parent / "migrations",
    routers=lambda runtime: [router],
    loops=[sender],
)
