"""The HTTP server of every process (uvicorn), with a deadline for a request's headers.

uvicorn closes idle keep-alive connections, but a client that opens a connection and sends a few header
bytes a minute holds it forever (and its first byte cancels the keep-alive timer): 150 such sockets were held
for 40 s in a probe. Here a request's headers must be complete within ``header_seconds`` of the connection, or
of the first byte of the next request on a kept-alive connection; the body's time is bounded by the edge
middleware.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from services.backbone.handoff import Handoff

try:  # the C parser (the default wherever its wheel installs): several times less CPU per request than h11's
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
except ImportError:  # pragma: no cover - pure-Python fallback
    Base = H11Protocol  # type: ignore[misc,assignment]


T = TypeVar("T")


class _HeaderDeadline:
    """Mixed into uvicorn's HTTP protocol (httptools', h11's as the fallback): both keep ``cycle`` the same way."""

    header_seconds: float = 10.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline: asyncio.TimerHandle | None = None
        self._arm()

    def _waiting_for_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.header_seconds, self._expire)

    def _disarm(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            self._deadline.cancel()  # type: ignore[union-attr]
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self._waiting_for_headers():
            self.transport.close()

    def data_received(self, data: bytes) -> None:
        if self._deadline is None and self._waiting_for_headers():
            self._arm()  # the first bytes of the next request on a kept-alive connection
        super().data_received(data)
        if not self._waiting_for_headers():
            self._disarm()  # the headers are in: the request runs (its body has its own limit)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)


class _Handing:
    """Mixed in before ``_HeaderDeadline``: between requests, a connection made to the console's origin whose next
    request another process answers is handed to it (``handoff.Handoff``); a connection handed to this one
    starts with the bytes the other process had read (``handed``). A connection made to a service's own port
    is that service's (its probes, a gateway's calls) and never handed on."""

    handoff: Handoff | None = None
    handed: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self._mid_head = False
        handed, self.handed = self.handed, None
        self._to_origin = handed is not None or (self.handoff is not None and self.handoff.origin)
        if handed:  # this process was chosen for it: never handed on before it is answered
            self._feed(handed)

    def data_received(self, data: bytes) -> None:
        if self._to_origin and not self._mid_head and self._waiting_for_headers():  # type: ignore[attr-defined]
            target = self.handoff.target(data)  # type: ignore[union-attr]
            if target is not None and self.handoff.give(target, self.transport, data):  # type: ignore[union-attr,attr-defined]
                self.transport.close()  # type: ignore[attr-defined]  # (the receiver holds the socket open)
                return
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        super().data_received(data)  # type: ignore[misc]
        # still no request running: a head in pieces is in the parser (the rest must follow it here)
        self._mid_head = self._waiting_for_headers()  # type: ignore[attr-defined]


def protocol(header_seconds: float, base: type = Base, handoff: Handoff | None = None) -> type:
    if handoff is None:
        return type("HeaderDeadlineProtocol", (_HeaderDeadline, base), {"header_seconds": header_seconds})
    return type("HandingProtocol", (_Handing, _HeaderDeadline, base),
                {"header_seconds": header_seconds, "handoff": handoff})


#: The youngest generation's threshold (CPython's default is 700 allocations). See ``settle_heap``.
YOUNG_GC_THRESHOLD = 20_000


def settle_heap() -> None:
    """Take what the process has built so far (its imports: modules, models, their validators) out of the cyclic
    collector's sight, and collect the young generation less often.

    A service's heap is mostly its imports (pydantic's validators, FastAPI, SQLAlchemy's metadata): hundreds of
    thousands of long-lived objects that every full collection walks again, and a batch of events allocates
    enough to trigger one every few batches. Measured on the rebuild of 100,000 events: 17.1 s of CPU with the
    defaults, 13.9 s with the start-up heap frozen, 12.3 s with the young threshold raised as well. Cycles are
    still collected (a larger first generation holds a few MiB more at most); nothing frozen is ever freed, so
    this runs once, when start-up is done."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_GC_THRESHOLD, middle, old)


def run(main: Coroutine[Any, Any, T]) -> T:
    """A process's event loop: uvloop where it is installed (the services' Linux default: the loop's own
    overhead is a large part of a small request's cost), asyncio's own otherwise. Same semantics either way.
    The heap built by the imports is settled first (``settle_heap``)."""
    settle_heap()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the pure-Python loop
        return asyncio.run(main)
    return uvloop.run(main)


class HandingServer(uvicorn.Server):
    """uvicorn, adopting the connections other processes hand to this one (when its protocol hands over)."""

    @property
    def handoff(self) -> Handoff | None:
        return getattr(self.config.http_protocol_class, "handoff", None)

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.handoff is not None and not self.should_exit:
            self.handoff.open(functools.partial(self.config.http_protocol_class, config=self.config,
                                                server_state=self.server_state, app_state=self.lifespan.state))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.handoff is not None:
            self.handoff.close()
        await super().shutdown(sockets)


class Server(HandingServer):
    """uvicorn without its own signal handling: the process owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


def config(app: Any, *, host: str, port: int, header_seconds: float, handoff: Handoff | None = None,
           **kw: Any) -> uvicorn.Config:
    """uvicorn's settings for a service or the console. ``proxy_headers`` is off: uvicorn would otherwise believe
    ``X-Forwarded-For`` from any caller on 127.0.0.1 and put that address in the scope; the edge's ClientAddress
    decides whom to believe (the console's signed statement, the configured proxies), from the real peer."""
    return uvicorn.Config(app, host=host, port=port, http=protocol(header_seconds, handoff=handoff), log_config=None,
                          access_log=False, proxy_headers=False, **kw)
