"""The composition root: one service process assembled from the backbone's runtime, the security edge and the
service's own spec.

The backbone (services/backbone) runs a service — database, outbox relay, consumer, deadlines — and knows
nothing of who is calling; the security package (services/security) decides who may do what. Only this module
knows both: it gives the runtime the partner signature check and the session registry, puts the edge
(tokens, sessions, body limits, audit log) in front of the service's routes, and serves the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter

from events.contracts import asyncapi
from services.backbone import audit_store, kafka, logs, profiling
from services.backbone import server as http_server
from services.backbone.handoff import Handoff
from services.backbone.http import service_app
from services.backbone.runtime import CONFIGURATION_ERROR, EX_CONFIG, Runtime, ServiceSpec
from services.backbone.settings import Settings
from services.console.routing import front_owner
from services.security import audit_api, partners, sessions
from services.security.guard import ClientAddress, EdgeMiddleware
from services.web import errors as error_pages

log = logging.getLogger(__name__)


def runtime_for(spec: ServiceSpec, settings: Settings | None = None, *, dsn: str | None = None) -> Runtime:
    """A service's runtime with what every service process carries: partner records checked against their
    signers' keys, and the sessions every request is held against (revocations applied as they arrive)."""
    registry = sessions.SessionRegistry()
    runtime = Runtime(spec, settings, dsn=dsn, authenticate=partners.authenticate_record,
                      extensions=[sessions.extension(registry)])
    runtime.sessions = registry
    return runtime


def secured_app(runtime: Runtime, routers: Sequence[APIRouter] | None = None) -> Any:
    """The service's HTTP app behind the edge: tokens, sessions, body limits, audit log (docs/domain/security.md)."""
    spec, settings = runtime.spec, runtime.settings
    if routers is None:
        routers = spec.routers(runtime) if spec.routers else ()
    app = service_app(spec.name, readiness=runtime.readiness, asyncapi=lambda: asyncapi(spec.name),
                      routers=[*routers, audit_api.router], page=error_pages.page)
    app.state.runtime = runtime

    writer: list[audit_store.GroupWriter] = []  # made on first use: the pool exists once the runtime started

    async def audit(entry: dict[str, Any]) -> None:
        if not writer or writer[0].pool is not runtime.pool:
            writer[:] = [audit_store.GroupWriter(runtime.pool, spec.name)]
        await writer[0].write(entry)

    inner = spec.front(runtime, app) if spec.front is not None else app
    return EdgeMiddleware(inner, service=spec.name, required=settings.auth_required, audit=audit,
                          max_body=settings.max_body_bytes, ready=lambda: runtime.started, sessions=runtime.sessions,
                          clients=ClientAddress(settings.trusted_proxy_list), body_seconds=settings.request_body_seconds,
                          max_upload=settings.upload_max_body)


async def serve(spec: ServiceSpec, settings: Settings | None = None) -> None:
    """Run one service until SIGTERM/SIGINT, then stop gracefully."""
    settings = settings or Settings()
    runtime = runtime_for(spec, settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    if settings.profile_dir:
        profiling.OnSignal(spec.name, Path(settings.profile_dir)).install(loop)
    app = secured_app(runtime)
    server = http_server.Server(http_server.config(app, host=settings.host, port=settings.port_for(spec.name),
                                                   header_seconds=settings.request_header_seconds, lifespan="off",
                                                   handoff=Handoff.configured(settings.handoff_dir, spec.name, front_owner)))
    http = asyncio.ensure_future(server.serve())
    try:
        await runtime.start()
    except kafka.BrokerRefused as exc:
        log.error(CONFIGURATION_ERROR, extra={"reason": str(exc)})
        server.should_exit = True
        await http
        with contextlib.suppress(Exception):
            await runtime.stop()
        raise SystemExit(EX_CONFIG) from None
    except Exception:
        log.exception("service failed to start")
        server.should_exit = True
        await http
        raise
    await stop.wait()
    log.info("shutting down")
    server.should_exit = True
    await runtime.stop()
    await http


def main(spec: ServiceSpec) -> None:
    settings = Settings()
    logs.configure(spec.name, settings.log_level)
    http_server.run(serve(spec, settings))
