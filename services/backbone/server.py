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
import logging
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from services.backbone.handoff import CONSOLE, MAX_HANDED, Handoff, answer, refusal, same_address

try:  # the C parser (the default wherever its wheel installs): several times less CPU per request than h11's
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as Base
except ImportError:  # pragma: no cover - pure-Python fallback
    Base = H11Protocol  # type: ignore[misc,assignment]


T = TypeVar("T")
log = logging.getLogger(__name__)


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


#: How long a service keeps trying to pass on a request it does not own (the owner's queue full, its own answer
#: still being written out), and how often, before it answers 503.
HAND_RETRY_SECONDS, HAND_RETRY_EVERY = 1.0, 0.02
#: How long, and how much, a connection answered before its request was read is read and dropped before it closes.
LINGER_SECONDS, LINGER_BYTES = 5.0, 64 << 20


class _Handing:
    """Mixed in before ``_HeaderDeadline`` (httptools' protocol only): connections made to the console's origin,
    and those handed to this process, move between requests to the process that answers the next one
    (``handoff.Handoff``); a connection made to a service's own port is that service's (its probes, a gateway's
    calls) and never handed on.

    Between requests means: the last request's message read to its end (an early 401 or 413 leaves its body to
    be read and dropped here), its answer complete, nothing pipelined behind it. Then the next request's head is
    held until it is whole, and goes where it is answered: here when this process owns it, otherwise with the
    connection to its owner. The console answers what it cannot hand on (it relays); a service never answers
    what it does not own: it passes it on (to the owner, else to the console), retries for a moment (a full
    queue, its own answer still being written out), and then says 503 and closes. A request pipelined behind one
    it owns is answered 421 (``_owned_only``); one too large to hand with its connection (``MAX_HANDED``),
    307 to the same address (the client asks again on a new connection, which goes to the console)."""

    handoff: Handoff | None = None
    handed: bytes | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        handed, self.handed = self.handed, None
        handoff = self.handoff
        self._hands = handoff is not None and (handed is not None or handoff.origin)
        self._in_message = False
        self._held = bytearray()  # the next request's head so far (searched only where it grew: a dripped head
        self._searched = 0  # costs no more than a whole one; -1 once it is whole)
        self._retry: asyncio.TimerHandle | None = None
        self._retried = 0
        self._discarding: int | None = None  # bytes read and dropped since this process answered and closes
        if handoff is not None and handed is not None and not handoff.origin:
            self.app = _owned_only(self.app, handoff)  # type: ignore[attr-defined]
        if handed:  # this process answers it (the giver read its head): never handed on before it is answered
            super().data_received(handed)  # type: ignore[misc]

    def on_message_begin(self) -> None:
        self._in_message = True
        super().on_message_begin()  # type: ignore[misc]

    def on_message_complete(self) -> None:
        super().on_message_complete()  # type: ignore[misc]
        self._in_message = False

    def _between_requests(self) -> bool:
        cycle = self.cycle  # type: ignore[attr-defined]
        return not self._in_message and not self.pipeline and (cycle is None or cycle.response_complete)  # type: ignore[attr-defined]

    def data_received(self, data: bytes) -> None:
        if self._discarding is not None:  # answered and closing
            return self._discard(data)
        if not self._hands or (not self._held and not self._between_requests()):
            super().data_received(data)  # type: ignore[misc]
            return
        self._held += data
        if self._deadline is None:  # type: ignore[attr-defined]
            self._arm()  # type: ignore[attr-defined]  # the next request's head has its deadline
        self._unset_keepalive_if_required()  # type: ignore[attr-defined]
        self._route()

    def _route(self) -> None:
        self._retry = None
        handoff = self.handoff
        assert handoff is not None
        if self._searched >= 0:  # (-1: the head is whole, a retry routes it again)
            found = self._held.find(b"\r\n\r\n", max(0, self._searched - 3), MAX_HANDED) >= 0
            self._searched = -1 if found else len(self._held)
        whole = self._searched < 0
        if not whole and len(self._held) <= MAX_HANDED:
            return  # a head in pieces: the rest follows
        data = bytes(self._held)
        owner = handoff.owner(data) if whole else None
        if owner == handoff.me:
            return self._feed(data)
        if handoff.origin:  # the console: to its owner when it can take it, relayed otherwise
            if owner is not None and handoff.give(owner, self.transport, data):  # type: ignore[attr-defined]
                return self._given()
            return self._feed(data)
        if not whole:
            return self._close(b"431 Request Header Fields Too Large", "请求头过大，无法处理")
        if len(data) > MAX_HANDED:  # too much read to pass on: the client asks again, on a new connection
            location = same_address(data) if owner is not None else None
            if location is None:  # (never a redirect elsewhere: a target that is not a plain path is refused)
                return self._close(b"503 Service Unavailable", "请求无法处理，请重新发送")
            return self._close(b"307 Temporary Redirect", "请重新发送请求", (b"location", location))
        for name in dict.fromkeys([owner or CONSOLE, CONSOLE]):
            if handoff.give(name, self.transport, data):  # type: ignore[attr-defined]
                return self._given()
        if self._retried * HAND_RETRY_EVERY < HAND_RETRY_SECONDS:
            self._retried += 1
            self.flow.pause_reading()  # type: ignore[attr-defined]
            self._retry = self.loop.call_later(HAND_RETRY_EVERY, self._route)  # type: ignore[attr-defined]
            return
        log.warning("request not passed on: its owner cannot take it", extra={"owner": owner or CONSOLE})
        self._close(b"503 Service Unavailable", "服务正在重启或繁忙，请稍后刷新页面重试", (b"retry-after", b"1"))

    def _feed(self, data: bytes) -> None:
        self._held, self._searched, self._retried = bytearray(), 0, 0
        self.flow.resume_reading()  # type: ignore[attr-defined]
        super().data_received(data)  # type: ignore[misc]

    def _given(self) -> None:
        self._held = bytearray()
        self.transport.close()  # type: ignore[attr-defined]  # (the receiver holds the socket open)

    def _close(self, status: bytes, text: str, *headers: tuple[bytes, bytes]) -> None:
        """Answer and close, after a lingering read: a client still sending the request's body reads the answer
        only when it is done (closing at once would reset the connection and lose the answer in its buffer).
        What it sends is read and dropped until it closes, ``LINGER_BYTES`` or ``LINGER_SECONDS``."""
        self._held, self._discarding = bytearray(), 0
        self.transport.write(answer(status, text, *headers))  # type: ignore[attr-defined]
        if self.transport.can_write_eof():  # type: ignore[attr-defined]
            self.transport.write_eof()  # type: ignore[attr-defined]
        self.flow.resume_reading()  # type: ignore[attr-defined]
        self._retry = self.loop.call_later(LINGER_SECONDS, self.transport.close)  # type: ignore[attr-defined]

    def _discard(self, data: bytes) -> None:
        self._discarding += len(data)  # type: ignore[operator]
        if self._discarding > LINGER_BYTES:  # type: ignore[operator]
            self.transport.close()  # type: ignore[attr-defined]

    def connection_lost(self, exc: Exception | None) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        super().connection_lost(exc)  # type: ignore[misc]


def _owned_only(app: Any, handoff: Handoff) -> Any:
    """A handed connection's app in a service: a request it does not own (pipelined behind one it does, so never
    seen between requests) is answered 421 and the connection closed; the client sends it again on a new one."""
    headers, body = refusal("请求发错了处理进程，请重新发送")

    async def guarded(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            accept = ",".join(value.decode("latin-1") for name, value in scope["headers"] if name == b"accept")
            if not handoff.owns(scope["method"], scope["path"], accept):
                await send({"type": "http.response.start", "status": 421, "headers": headers})
                await send({"type": "http.response.body", "body": body})
                return
        await app(scope, receive, send)

    return guarded


def protocol(header_seconds: float, base: type = Base, handoff: Handoff | None = None) -> type:
    if handoff is None or base is H11Protocol:  # (the hand-over follows httptools' parser callbacks)
        return type("HeaderDeadlineProtocol", (_HeaderDeadline, base), {"header_seconds": header_seconds})
    return type("HandingProtocol", (_Handing, _HeaderDeadline, base),
                {"header_seconds": header_seconds, "handoff": handoff})


#: The youngest generation's threshold (CPython's default is 700 allocations). See ``settle_heap``.
YOUNG_GC_THRESHOLD = 20_000


def settle_heap(young: int = YOUNG_GC_THRESHOLD) -> None:
    """Take what the process has built so far (its imports: modules, models, their validators) out of the cyclic
    collector's sight, and collect the young generation less often.

    A service's heap is mostly its imports (pydantic's validators, FastAPI, SQLAlchemy's metadata): hundreds of
    thousands of long-lived objects that every full collection walks again, and a batch of events allocates
    enough to trigger one every few batches. Measured on the rebuild of 100,000 events: 17.1 s of CPU with the
    defaults, 13.9 s with the start-up heap frozen, 12.3 s with the young threshold raised as well. Cycles are
    still collected (a first generation of 20,000 holds a few MiB more at most); nothing frozen is ever freed, so
    this runs once, when start-up is done. ``young``: the first generation's threshold (a replay holds more
    objects alive at once than a service, and sets ten times as many, tens of MiB of cyclic garbage at most:
    services/backbone/replay.py ``YOUNG_GC_THRESHOLD``)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(young, middle, old)


def run(main: Coroutine[Any, Any, T], *, young_gc: int = YOUNG_GC_THRESHOLD) -> T:
    """A process's event loop: uvloop where it is installed (the services' Linux default: the loop's own
    overhead is a large part of a small request's cost), asyncio's own otherwise. Same semantics either way.
    The heap built by the imports is settled first (``settle_heap``, with ``young_gc``)."""
    settle_heap(young_gc)
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
            await self.handoff.aclose()
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
