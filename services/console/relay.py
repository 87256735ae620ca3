"""The console's hot path: a request the console only passes on is relayed at the ASGI level to the service that
owns it, over kept-alive HTTP/1.1 connections, its answer streamed back as it comes without being re-parsed.

The console used to pass every API call and page through FastAPI's routing and httpx: about 4 ms of CPU a
request, more than the owning service spent answering a read. Here the request's head is written from the ASGI
scope, the answer's head parsed by httptools (C), and the answer's body relayed chunk by chunk. What the relay
does not take — the console's own routes, live boards (server-sent events, long-lived: httpx's streaming client
with its cap per person), a body cut off — goes to the app's own route as before, which answers it exactly as it
always did. An owner that cannot be reached, or does not answer in 30 s, gets the same 503 page the app's route
gave (the request is never sent twice: a kept-alive connection the service had closed is the one retry, as
nothing was read from it). The edge (sessions, body limits, the signed client address) sits in front of both.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httptools

from services.backbone.http import read_body
from services.console.routing import front_owner
from services.security.guard import CLIENT_HEADER, client_statement

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

#: never passed on from a caller: only the console itself says who the caller is
NOT_FORWARDED = frozenset({b"x-laborcase-client", b"x-forwarded-for"})
HOP_BY_HOP = frozenset({b"connection", b"keep-alive", b"transfer-encoding", b"te", b"trailer", b"upgrade", b"host",
                        b"content-length", b"proxy-authorization", b"proxy-authenticate",
                        b"expect"})  # the body is read already: the service must not answer "100 Continue"
#: the answer must have begun within this long (the old client's read timeout)
ANSWER_SECONDS = 30.0
CONNECT_SECONDS = 2.0


class Unreachable(Exception):
    """The owner could not be reached or gave no answer, and nothing was sent to the caller yet."""


@dataclass
class _Answer:
    """What the parser has read of one answer so far (httptools calls these as bytes are fed)."""

    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    head_done: bool = False
    chunks: list[bytes] = field(default_factory=list)
    done: bool = False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name.lower(), value))

    def on_headers_complete(self) -> None:
        self.head_done = True

    def on_body(self, body: bytes) -> None:
        self.chunks.append(bytes(body))

    def on_message_complete(self) -> None:
        self.done = True


@dataclass
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    def close(self) -> None:
        self.writer.close()


class Upstream:
    """Kept-alive connections to one service (at most ``keep`` idle ones)."""

    def __init__(self, host: str, port: int, *, keep: int = 64):
        self.host, self.port, self.keep = host, port, keep
        self.idle: list[_Connection] = []

    async def connection(self) -> tuple[_Connection, bool]:
        """An idle connection (reused: True) or a new one."""
        while self.idle:
            conn = self.idle.pop()
            if not conn.writer.is_closing() and not conn.reader.at_eof():
                return conn, True
            conn.close()
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(self.host, self.port), CONNECT_SECONDS)
        except (OSError, TimeoutError) as exc:
            raise Unreachable(repr(exc)) from exc
        return _Connection(reader, writer), False

    def give_back(self, conn: _Connection) -> None:
        if len(self.idle) < self.keep:
            self.idle.append(conn)
        else:
            conn.close()

    def close(self) -> None:
        for conn in self.idle:
            conn.close()
        self.idle.clear()


def _head(scope: Scope, body: bytes, upstream: Upstream) -> bytes:
    target = scope.get("raw_path") or scope["path"].encode()
    if scope.get("query_string"):
        target += b"?" + scope["query_string"]
    lines = [b"%s %s HTTP/1.1" % (scope["method"].encode(), target),
             b"host: %s:%d" % (upstream.host.encode(), upstream.port)]
    for name, value in scope["headers"]:
        if name not in HOP_BY_HOP and name not in NOT_FORWARDED:
            lines.append(name + b": " + value)
    caller = (scope.get("state") or {}).get("client")
    if caller:  # signed: a service believes no other statement of who called
        lines.append(b"%s: %s" % (CLIENT_HEADER.encode(), client_statement(caller).encode()))
    if body or scope["method"] in ("POST", "PUT", "PATCH"):
        lines.append(b"content-length: %d" % len(body))
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def relay(upstream: Upstream, scope: Scope, body: bytes, send: Send) -> None:
    """Send the request to ``upstream`` and stream its answer to ``send``; ``Unreachable`` when nothing could be
    sent to the caller (a connection that was kept alive and had been closed by the service is tried once anew)."""
    request = _head(scope, body, upstream) + body
    for attempt in (1, 2):
        conn, reused = await upstream.connection()
        try:
            conn.writer.write(request)
            async with asyncio.timeout(ANSWER_SECONDS):  # (no task per read, unlike wait_for)
                first = await conn.reader.read(65536)
        except (OSError, TimeoutError) as exc:
            conn.close()
            if reused and attempt == 1 and not isinstance(exc, TimeoutError):
                continue
            raise Unreachable(repr(exc)) from exc
        if not first:  # closed without a word
            conn.close()
            if reused and attempt == 1:
                continue
            raise Unreachable("the service closed the connection")
        await _stream(upstream, conn, scope, first, send)
        return


async def _stream(upstream: Upstream, conn: _Connection, scope: Scope, data: bytes, send: Send) -> None:
    answer = _Answer()
    parser = httptools.HttpResponseParser(answer)
    started = False
    head_only = scope["method"] == "HEAD"
    try:
        while True:
            parser.feed_data(data)
            if answer.head_done and not started:
                headers = [(n, v) for n, v in answer.headers if n not in HOP_BY_HOP or
                           (n == b"content-length" and not head_only)]
                await send({"type": "http.response.start", "status": parser.get_status_code(), "headers": headers})
                started = True
            chunks, answer.chunks = answer.chunks, []
            if answer.done or (head_only and started):
                last = b"".join(chunks)  # the whole rest in one message: one send fewer for most answers
                break
            for chunk in chunks:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            async with asyncio.timeout(ANSWER_SECONDS):
                data = await conn.reader.read(65536)
            if not data:
                parser.feed_data(b"")  # an answer that ends with the connection
                if not answer.done:
                    raise ConnectionError("the service closed the connection mid-answer")
                last, answer.chunks = b"".join(answer.chunks), []
                break
    except Exception:
        conn.close()
        if not started:
            raise Unreachable("the answer could not be read") from None
        raise  # the caller's connection is cut: it sees the answer was not whole
    await send({"type": "http.response.body", "body": last, "more_body": False})
    # (httptools forgets whether to keep the connection once the message is complete: read it from the answer)
    keep = parser.get_http_version() == "1.1" and (b"connection", b"close") not in (
        (n, v.lower()) for n, v in answer.headers)
    if answer.done and keep and not head_only:
        upstream.give_back(conn)
    else:
        conn.close()


class RelayFront:
    """In front of the console's app: relays what the console only passes on (``routing.front_owner``),
    hands everything else — and whatever the relay could not deliver — to the app."""

    def __init__(self, app: Any, url_for: Callable[[str], str], unavailable: Callable[[Scope, str], Any]):
        """``unavailable(scope, service)``: the ASGI answer when the owner cannot be reached (the 503 page)."""
        self.app = app
        self.upstreams: dict[str, Upstream] = {}
        self._url_for = url_for
        self._unavailable = unavailable

    def upstream(self, service: str) -> Upstream:
        found = self.upstreams.get(service)
        if found is None:
            parts = urlsplit(self._url_for(service))
            found = self.upstreams[service] = Upstream(parts.hostname or "127.0.0.1", parts.port or 80)
        return found

    def owner(self, scope: Scope) -> str | None:
        accept = b",".join(value for name, value in scope["headers"] if name == b"accept")
        return front_owner(scope["method"], scope["path"], accept.decode("latin-1"))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        service = self.owner(scope) if scope["type"] == "http" else None
        if service is None:
            await self.app(scope, receive, send)
            return
        body = await read_body(self.app, scope, receive, send)
        if body is None:
            return
        try:
            await relay(self.upstream(service), scope, body, send)
        except Unreachable as exc:
            log.warning("upstream unavailable", extra={"service": service, "error": str(exc)})
            await self._unavailable(scope, service)(scope, receive, send)

    def close(self) -> None:
        for upstream in self.upstreams.values():
            upstream.close()
