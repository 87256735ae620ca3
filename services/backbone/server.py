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
import gc
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

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


def protocol(header_seconds: float, base: type = Base) -> type:
    return type("HeaderDeadlineProtocol", (_HeaderDeadline, base), {"header_seconds": header_seconds})


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


class Server(uvicorn.Server):
    """uvicorn without its own signal handling: the process owns shutdown."""

    @contextlib.contextmanager
    def capture_signals(self):  # type: ignore[override]
        yield


def config(app: Any, *, host: str, port: int, header_seconds: float, **kw: Any) -> uvicorn.Config:
    """uvicorn's settings for a service or the console. ``proxy_headers`` is off: uvicorn would otherwise believe
    ``X-Forwarded-For`` from any caller on 127.0.0.1 and put that address in the scope; the edge's ClientAddress
    decides whom to believe (the console's signed statement, the configured proxies), from the real peer."""
    return uvicorn.Config(app, host=host, port=port, http=protocol(header_seconds), log_config=None,
                          access_log=False, proxy_headers=False, **kw)
