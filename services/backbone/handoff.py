"""Routing at the edge on one machine: the console hands a client's connection to the service that answers it.

In a cluster the Ingress routes each request to its owner (deploy/). On one machine the console is the one
origin, and relaying every request through it cost a second HTTP hop's CPU (its own parse, a write to the
service, a read, a write back): reads through the console ran at about 0.6–0.7 of the same reads sent straight
to the service. Here the console reads a new request's head, and when another process answers it (the same
``console.routing.front_owner`` the relay uses) it passes the client's socket itself — the file descriptor, over a Unix
socket (``SCM_RIGHTS``) — with the bytes it has read, and forgets it. The owning service adopts the connection
into its own HTTP server and answers it, and the next requests on it too, at its own speed; a request on that
connection that another process answers (a browser asks the console's own pages and several services' through
one connection) is handed on the same way, back to the console or to the next owner.

On wherever ``LABORCASE_HANDOFF_DIR`` names a directory (``laborcase up`` sets it unless ``LABORCASE_HANDOFF=off``).

What it relies on:

- a connection is handed only between requests: the last request's message read to its end, its answer
  complete and written out (nothing left in the giver's buffer), the next request's whole head read (a head in
  pieces is held until it is whole) and at most ``MAX_HANDED`` bytes read in all;
- the console answers anything (it relays what it cannot hand on); a service answers only what it owns: a
  request on a handed connection that another process answers goes on to it (or to the console), and when
  nobody can take it the service says so (503, ``connection: close``) rather than answer for another — a
  pipelined request behind its own (421) or a request too large to hand (more than ``MAX_HANDED`` read: 307 to
  the same address on a new connection) included (``services/backbone/server.py``);
- every service has the whole edge itself (tokens, sessions, body limits, audit; ``EdgeMiddleware``), and
  the caller's address is the socket's own peer, which nobody can restate;
- the Unix sockets live in a directory only the stack's user can open (0700): nobody else can receive the
  clients' connections, or squat on a name first (a filesystem name, never an abstract one);
- a hand-over that cannot be made (the owner is down, its queue full) is not an error: the request is answered
  where it is (the console relays it, and its 503 page says an owner cannot be reached).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import logging
import os
import re
import socket
import stat
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httptools

from services.backbone.metrics import ADOPTED, HANDED

log = logging.getLogger(__name__)

#: The most a process reads of a connection before handing it on (a request's head and a small body).
MAX_HANDED = 65_536
#: How long a stopping process keeps trying to give its queued connections back to the console, and how often.
GIVE_BACK_SECONDS, GIVE_BACK_EVERY = 1.0, 0.02
#: The console: whatever no service owns.
CONSOLE = "console"
#: Who answers a request made to the console's origin: (method, path, Accept) → a service, None for the console
#: (``services.console.routing.front_owner``, given by the composition root).
Route = Callable[[str, str, str], str | None]
#: Longest path of a Unix socket (sun_path is 108 bytes with its terminating zero).
_MAX_PATH = 107


def refusal(text: str, *headers: tuple[bytes, bytes]) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and page of an answer that refuses a request and closes its connection (``text``: what the
    person reads)."""
    body = ("<!doctype html><html lang=zh-CN><meta charset=utf-8><title>" + text + "</title><p>" + text
            + "</p></html>").encode()
    return [(b"content-type", b"text/html; charset=utf-8"), (b"content-length", b"%d" % len(body)), *headers,
            (b"connection", b"close"), (b"cache-control", b"no-store")], body


def answer(status: bytes, text: str, *headers: tuple[bytes, bytes]) -> bytes:
    """A whole refusal (``refusal``) as written where no ASGI app runs, before the connection closes."""
    head, body = refusal(text, *headers)
    return b"".join([b"HTTP/1.1 ", status, b"\r\n", *[name + b": " + value + b"\r\n" for name, value in head],
                     b"\r\n", body])


def fits(directory: Path, names: Iterable[str]) -> bool:
    """Whether the sockets of these processes can be named in ``directory`` (a Unix socket's path is short)."""
    return all(len(os.fsencode(directory / f"{name}.sock")) <= _MAX_PATH for name in names)


def request_head(data: bytes) -> tuple[str, str, str] | None:
    """(method, decoded path, Accept) of the request ``data`` begins with, when its whole head is there and it is
    a plain HTTP/1.1 request; None for anything else (it is then answered where it is)."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = data[:end].split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or parts[2] != b"HTTP/1.1" or not parts[1].startswith(b"/"):
        return None
    try:
        method = parts[0].decode("ascii")
        # (the server's own parser: no query, no fragment)
        path = unquote(httptools.parse_url(parts[1]).path.decode("ascii"))
    except (UnicodeDecodeError, httptools.HttpParserInvalidURLError):
        return None
    if not method.isalpha() or not method.isupper():
        return None
    accept = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon:
            return None
        name = name.strip().lower()
        if name in (b"upgrade", b"http2-settings"):
            return None
        if name == b"accept":
            accept.append(value.strip().decode("latin-1"))
    return method, path, ",".join(accept)


#: A target a client may be sent back to: a path on this origin (never ``//host`` or ``/\\host``, which browsers
#: read as another host), in the characters of RFC 3986, no fragment.
_SAME_ORIGIN = re.compile(rb"/(?![/\\])[A-Za-z0-9\-._~!$&'()*+,;=:@%/?]*")


def same_address(data: bytes) -> bytes | None:
    """The target of the request ``data`` begins with, when it is a plain path on this origin (a 307's
    ``location``: the client asks the same again); None otherwise."""
    target = data.split(b"\r\n", 1)[0].split(b" ")
    if len(target) != 3 or not _SAME_ORIGIN.fullmatch(target[1]):
        return None
    return target[1]


def answerer(data: bytes, route: Route) -> str | None:
    """Which process answers the request ``data`` begins with (a service's name or ``CONSOLE``); None when it
    cannot be told from these bytes (then the process that holds the connection answers it)."""
    head = request_head(data)
    if head is None:
        return None
    return route(*head) or CONSOLE


class Handoff:
    """One process's end: hands connections to the others (``give``) and adopts those handed to it (``open``)."""

    def __init__(self, directory: Path, me: str, route: Route):
        self.directory, self.me, self.route = Path(directory), me, route
        #: the console's origin: every connection made to it may be handed on (a service hands on only those
        #: handed to it)
        self.origin = me == CONSOLE
        self._out: socket.socket | None = None
        self._in: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._adopt: Callable[[], Any] | None = None
        self._adopting: set[asyncio.Task[None]] = set()
        self.given = self.adopted = 0

    @classmethod
    def configured(cls, directory: str | None, me: str, route: Route) -> Handoff | None:
        """The hand-over of this process, or None where it is not configured (or the directory's path is too long
        for a Unix socket: then the console relays, as in a cluster without an Ingress)."""
        if not directory:
            return None
        found = cls(Path(directory), me, route)
        try:
            mode = found.directory.stat()
        except OSError:
            mode = None
        if mode is None or not fits(found.directory, [me]) or not stat.S_ISDIR(mode.st_mode):
            log.warning("connection hand-over off: its directory is missing or its path is too long",
                        extra={"directory": str(directory)})
            return None
        if mode.st_uid != os.getuid() or mode.st_mode & 0o077:
            # whoever else can open it could receive the clients' connections or take a name first
            log.warning("connection hand-over off: its directory is not this user's alone (mode 0700)",
                        extra={"directory": str(directory), "mode": oct(mode.st_mode & 0o777)})
            return None
        return found

    def path(self, name: str) -> str:
        return str(self.directory / f"{name}.sock")  # (the name ``fits`` checks)

    def owner(self, data: bytes) -> str | None:
        """Who answers the request ``data`` begins with; None when that cannot be told (not a whole, plain HTTP/1.1
        head)."""
        return answerer(data, self.route)

    def owns(self, method: str, path: str, accept: str) -> bool:
        """Whether this process answers that request (what a service checks of a request it did not hand on)."""
        return (self.route(method, path, accept) or CONSOLE) == self.me

    def give(self, name: str, transport: asyncio.Transport, data: bytes) -> bool:
        """Send the connection under ``transport`` and the bytes read from it to ``name``; False when it could not
        be sent (nothing is lost: the caller answers the request itself). On True the caller closes its
        transport without writing to it (the socket stays open: the receiver holds it)."""
        sock = transport.get_extra_info("socket")
        if sock is None or len(data) > MAX_HANDED or transport.get_write_buffer_size():
            # an answer not yet written out would be flushed by this process after the other one writes its own
            return False
        if not self._send(name, sock, data):
            return False
        self.given += 1
        HANDED.labels(self.me, name).inc()
        return True

    def _send(self, name: str, sock: socket.socket, data: bytes) -> bool:
        if self._out is None:
            self._out = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            self._out.setblocking(False)
        try:
            # (socket.send_fds ignores its address: sendmsg itself)
            self._out.sendmsg([data], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [sock.fileno()]))],
                              0, self.path(name))
        except OSError as exc:  # not listening (down, restarting), its queue full: the caller decides
            log.debug("hand-over refused: %r", exc, extra={"to": name})
            return False
        return True

    def open(self, adopt: Callable[[], Any]) -> None:
        """Listen for connections handed to this process; ``adopt()`` makes the HTTP protocol that serves one
        (its ``handed`` attribute gets the bytes already read)."""
        self._loop, self._adopt = asyncio.get_running_loop(), adopt
        path = self.path(self.me)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a previous run's, no longer bound
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        os.chmod(path, 0o600)
        sock.setblocking(False)
        self._in = sock
        self._loop.add_reader(sock.fileno(), self._ready)

    def _ready(self) -> None:
        assert self._in is not None and self._loop is not None
        while True:
            try:
                data, fds, flags, _ = socket.recv_fds(self._in, MAX_HANDED + 1, 4)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                log.warning("hand-over not received", extra={"error": repr(exc)})
                return
            conns = [socket.socket(fileno=fd) for fd in fds]
            if len(conns) != 1 or flags & (socket.MSG_TRUNC | socket.MSG_CTRUNC) or len(data) > MAX_HANDED:
                for conn in conns:
                    conn.close()
                log.warning("hand-over malformed: dropped", extra={"fds": len(conns), "bytes": len(data)})
                continue
            task = self._loop.create_task(self._adopt_one(conns[0], data))
            self._adopting.add(task)
            task.add_done_callback(self._adopting.discard)

    async def _adopt_one(self, conn: socket.socket, data: bytes) -> None:
        assert self._loop is not None and self._adopt is not None
        protocol = self._adopt()
        protocol.handed = data
        self.adopted += 1  # (counted before its first answer can be sent)
        ADOPTED.labels(self.me).inc()
        try:
            conn.setblocking(False)
            await self._loop.connect_accepted_socket(lambda: protocol, conn)
        except OSError as exc:
            conn.close()
            log.info("handed connection already gone", extra={"error": repr(exc)})

    async def aclose(self) -> None:
        """Stop receiving: the name goes first (no new hand-over reaches it), then the connections already queued
        to this process go back to the console (it relays them: nothing sent here is lost; for up to
        ``GIVE_BACK_SECONDS`` while its queue is full, then each is told 503), and those being adopted are in the
        server before it shuts its connections down."""
        if self._in is not None and self._loop is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path(self.me))
            self._loop.remove_reader(self._in.fileno())
            waiting: list[tuple[socket.socket, bytes]] = []
            while True:
                try:
                    data, fds, _, _ = socket.recv_fds(self._in, MAX_HANDED + 1, 4)
                except OSError:  # (BlockingIOError: the queue is empty)
                    break
                conns = [socket.socket(fileno=fd) for fd in fds]
                if len(conns) == 1 and self.me != CONSOLE and len(data) <= MAX_HANDED:
                    waiting.append((conns.pop(), data))
                for conn in conns:
                    conn.close()
            self._in.close()
            self._in = None
            for _ in range(int(GIVE_BACK_SECONDS / GIVE_BACK_EVERY)):
                refused = []
                for conn, data in waiting:
                    if self._send(CONSOLE, conn, data):
                        conn.close()  # (the console received its own copy of the socket)
                    else:
                        refused.append((conn, data))
                waiting = refused
                if not waiting:
                    break
                await asyncio.sleep(GIVE_BACK_EVERY)
            for conn, _ in waiting:
                with contextlib.suppress(OSError):
                    conn.send(answer(b"503 Service Unavailable", "服务正在重启，请稍后刷新页面重试", (b"retry-after", b"1")),
                              socket.MSG_DONTWAIT)
                conn.close()
        if self._adopting:
            await asyncio.gather(*self._adopting, return_exceptions=True)
        if self._out is not None:
            self._out.close()
            self._out = None
