"""Connections handed from the console to the service that answers them (services/backbone/handoff.py), between
real uvicorn servers on real sockets: one kept-alive client connection, its requests answered in turn by the
console and by two services, the client's own address seen by each; what stays where it is."""

from __future__ import annotations

import array
import asyncio
import contextlib
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from services.backbone import server as http_server
from services.backbone.handoff import CONSOLE, Handoff
from services.console.routing import front_owner

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

BIG = 4 << 20


def app_named(name: str):
    async def app(scope: dict[str, Any], receive, send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"].endswith("/early"):  # answered before its body is read (as the edge's 401 and 413 are)
            await send({"type": "http.response.start", "status": 413, "headers": [(b"content-length", b"5")]})
            await send({"type": "http.response.body", "body": b"early"})
            return
        if scope["path"].endswith("/big"):
            text = b"b" * BIG
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-length", str(len(text)).encode())]})
            await send({"type": "http.response.body", "body": text})
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        client = scope["client"]
        text = f"{name} {scope['method']} {scope['path']} {client[0]}:{client[1]} {len(body)}".encode()
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(text)).encode())]})
        await send({"type": "http.response.body", "body": text})

    return app


class Processes:
    """The console and two services, each a uvicorn server with its own hand-over, in this event loop."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.servers: dict[str, http_server.HandingServer] = {}
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self, *names: str) -> None:
        for name in names:
            handoff = Handoff.configured(str(self.directory), name, front_owner)
            assert handoff is not None
            server = http_server.HandingServer(http_server.config(
                app_named(name), host="127.0.0.1", port=0, header_seconds=5, handoff=handoff, lifespan="off"))
            self.servers[name] = server
            self.tasks.append(asyncio.create_task(server.serve()))
            while not server.started:  # noqa: ASYNC110 - uvicorn sets a flag, no event
                await asyncio.sleep(0.01)

    def port(self, name: str) -> int:
        return self.servers[name].servers[0].sockets[0].getsockname()[1]

    async def stop(self, name: str | None = None) -> None:
        for each in ([name] if name else list(self.servers)):
            server = self.servers.pop(each)
            server.should_exit = True
        await asyncio.sleep(0.3)


@pytest.fixture
async def processes(tmp_path: Path):
    directory = tmp_path / "h"
    directory.mkdir(mode=0o700)
    found = Processes(directory)
    yield found
    await found.stop()
    await asyncio.gather(*found.tasks, return_exceptions=True)


async def ask(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes, *pieces: bytes) -> str:
    writer.write(request)
    for piece in pieces:
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(piece)
    return (await answer(reader))[1]


async def answer(reader: asyncio.StreamReader) -> tuple[bytes, str]:
    """(the head, the body) of the next answer on the connection."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    return head, (await asyncio.wait_for(reader.readexactly(length), 5)).decode()


def get(path: str, *extra: str) -> bytes:
    return ("\r\n".join([f"GET {path} HTTP/1.1", "host: console", *extra]) + "\r\n\r\n").encode()


async def test_one_connection_is_answered_by_each_owner_in_turn(processes: Processes) -> None:
    await processes.start(CONSOLE, "intake", "supervision")
    reader, writer = await asyncio.open_connection("127.0.0.1", processes.port(CONSOLE))
    me = f"127.0.0.1:{writer.get_extra_info('sockname')[1]}"
    try:
        assert await ask(reader, writer, get("/progress")) == f"supervision GET /progress {me} 0"
        assert await ask(reader, writer, get("/progress/x?y=1")) == f"supervision GET /progress/x {me} 0"
        assert await ask(reader, writer, get("/")) == f"console GET / {me} 0"  # back to the console
        body = b'{"a": 1}'
        post = (b"POST /api/v1/public/applications HTTP/1.1\r\nhost: console\r\ncontent-length: %d\r\n\r\n"
                % len(body)) + body
        assert await ask(reader, writer, post) == f"intake POST /api/v1/public/applications {me} 8"
        # straight from one service to the next
        assert await ask(reader, writer, get("/api/v1/cases/C-1")) == f"supervision GET /api/v1/cases/C-1 {me} 0"
        # a live board stays with the console (its cap per person)
        assert await ask(reader, writer, get("/api/v1/alerts", "accept: text/event-stream")) \
            == f"console GET /api/v1/alerts {me} 0"
        # a body that follows its head in a later packet goes along with the connection
        post = b"POST /api/v1/cases HTTP/1.1\r\nhost: console\r\ncontent-length: 4\r\n\r\n"
        assert await ask(reader, writer, post, b"abcd") == f"intake POST /api/v1/cases {me} 4"
        # a head in pieces is held until it is whole, then goes to its owner (never answered by intake)
        assert await ask(reader, writer, b"GET /progress HTTP/1.1\r\nho", b"st: console\r\n\r\n") \
            == f"supervision GET /progress {me} 0"
        # and back to the console
        assert await ask(reader, writer, get("/"), ) == f"console GET / {me} 0"
        assert await ask(reader, writer, b"GE", b"T / HTTP/1.1\r\n\r\n") == f"console GET / {me} 0"
    finally:
        writer.close()
    handoffs = {name: server.handoff for name, server in processes.servers.items()}
    assert handoffs[CONSOLE].given == 3 and handoffs[CONSOLE].adopted == 3
    assert handoffs["intake"].adopted == 2 and handoffs["supervision"].adopted == 3


async def intake_holds(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    post = b"POST /api/v1/cases HTTP/1.1\r\nhost: console\r\ncontent-length: 2\r\n\r\n{}"
    assert (await ask(reader, writer, post)).startswith("intake POST /api/v1/cases ")


async def test_a_request_pipelined_behind_a_service_s_own_is_refused_not_answered(processes: Processes) -> None:
    await processes.start(CONSOLE, "intake", "supervision")
    reader, writer = await asyncio.open_connection("127.0.0.1", processes.port(CONSOLE))
    try:
        await intake_holds(reader, writer)
        post = b"POST /api/v1/cases HTTP/1.1\r\nhost: console\r\ncontent-length: 2\r\n\r\n{}"
        writer.write(post + get("/progress"))  # two requests in one write: intake's, then supervision's
        head, text = await answer(reader)
        assert text.startswith("intake POST /api/v1/cases ")
        head, text = await answer(reader)
        assert head.startswith(b"HTTP/1.1 421 ") and b"connection: close" in head and "请重新发送" in text
        assert await asyncio.wait_for(reader.read(), 5) == b""  # closed: the client asks again elsewhere
    finally:
        writer.close()


async def test_a_body_left_unread_by_an_early_answer_is_never_taken_for_a_request(processes: Processes) -> None:
    await processes.start(CONSOLE, "intake", "supervision")
    reader, writer = await asyncio.open_connection("127.0.0.1", processes.port(CONSOLE))
    me = f"127.0.0.1:{writer.get_extra_info('sockname')[1]}"
    try:
        await intake_holds(reader, writer)
        smuggled = get("/progress")
        writer.write(b"POST /api/v1/cases/early HTTP/1.1\r\nhost: console\r\ncontent-length: %d\r\n\r\n"
                     % len(smuggled))
        head, _ = await answer(reader)
        assert head.startswith(b"HTTP/1.1 413 ")
        writer.write(smuggled)  # the body, after the answer: read and dropped
        await writer.drain()
        await asyncio.sleep(0.1)
        assert await ask(reader, writer, get("/")) == f"console GET / {me} 0"
    finally:
        writer.close()
    assert processes.servers["supervision"].handoff.adopted == 0


async def test_an_answer_still_being_written_is_finished_before_the_connection_moves(processes: Processes) -> None:
    await processes.start(CONSOLE, "intake", "supervision")
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65_536)  # a slow reader's (no autotuning to 32 MiB)
    slow.connect(("127.0.0.1", processes.port(CONSOLE)))
    slow.setblocking(False)
    reader, writer = await asyncio.open_connection(sock=slow)
    me = f"127.0.0.1:{writer.get_extra_info('sockname')[1]}"
    try:
        await intake_holds(reader, writer)
        writer.write(get("/intake/big"))
        await writer.drain()
        await asyncio.sleep(0.1)  # intake's 4 MiB answer fills the socket: the rest waits in its buffer
        writer.write(get("/progress"))  # the next request, before the answer is read
        await writer.drain()
        await asyncio.sleep(0.3)
        # the connection stays with intake while its answer is being written (else it could interleave its
        # last bytes with supervision's answer)
        assert processes.servers["supervision"].handoff.adopted == 0
        head, text = await answer(reader)
        assert head.startswith(b"HTTP/1.1 200 ") and text == "b" * BIG  # whole, nothing after it
        assert await ask(reader, writer, b"") == f"supervision GET /progress {me} 0"
        assert processes.servers["supervision"].handoff.adopted == 1
    finally:
        writer.close()


async def test_a_service_that_cannot_pass_a_request_on_says_so(processes: Processes) -> None:
    await processes.start(CONSOLE, "intake")
    reader, writer = await asyncio.open_connection("127.0.0.1", processes.port(CONSOLE))
    me = f"127.0.0.1:{writer.get_extra_info('sockname')[1]}"
    try:
        await intake_holds(reader, writer)
        # supervision is down: the console takes it (in the stack it relays, and says supervision is unavailable)
        assert await ask(reader, writer, get("/progress")) == f"console GET /progress {me} 0"
        await intake_holds(reader, writer)
        await processes.stop(CONSOLE)
        # nobody can take it: intake says so and closes, instead of answering a request it does not own
        writer.write(get("/progress"))
        head, text = await answer(reader)
        assert head.startswith(b"HTTP/1.1 503 ") and b"connection: close" in head and "稍后" in text
        assert await asyncio.wait_for(reader.read(), 5) == b""
    finally:
        writer.close()
    assert processes.servers["intake"].handoff.given == 1  # (the first, to the console)


def stopping_intake(tmp_path: Path) -> tuple[Handoff, socket.socket]:
    """Intake's end, listening but never adopting, and a stand-in for the console's socket (it never reads)."""
    directory = tmp_path / "q"
    directory.mkdir(mode=0o700)
    intake = Handoff(directory, "intake", front_owner)
    intake.open(lambda: pytest.fail("adopted while stopping"))
    console = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    console.bind(intake.path(CONSOLE))
    return intake, console


def queue_to(intake: Handoff, request: bytes) -> socket.socket:
    """A client's connection queued to intake with the request read from it; the client's end."""
    a, b = socket.socketpair()
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sender:
        sender.sendmsg([request], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [a.fileno()]))],
                       0, intake.path("intake"))
    a.close()
    return b


async def test_connections_queued_to_a_stopping_service_go_back_to_the_console(tmp_path: Path) -> None:
    intake, console = stopping_intake(tmp_path)
    b = queue_to(intake, get("/api/v1/cases"))
    try:
        await intake.aclose()  # before its reader ran
        data, fds, _, _ = socket.recv_fds(console, 70_000, 4)
        assert data == get("/api/v1/cases") and len(fds) == 1
        with socket.socket(fileno=fds[0]) as back:
            back.sendall(b"ok")
            assert b.recv(2) == b"ok"  # the client's connection is still open, now the console's
        assert not (tmp_path / "q" / "intake.sock").exists()
    finally:
        for each in (console, b):
            each.close()


async def test_a_connection_made_to_a_service_stays_with_it(processes: Processes) -> None:
    """Its own port is the service's: its probes, a gateway's calls, the console asking its readiness."""
    await processes.start(CONSOLE, "intake", "supervision")
    reader, writer = await asyncio.open_connection("127.0.0.1", processes.port("intake"))
    try:
        for path in ("/readyz", "/progress", "/"):
            assert (await ask(reader, writer, get(path))).startswith(f"intake GET {path} ")
    finally:
        writer.close()
    assert processes.servers["intake"].handoff.given == 0


async def test_an_owner_that_is_down_leaves_the_request_where_it_is(processes: Processes) -> None:
    await processes.start(CONSOLE, "intake")
    reader, writer = await asyncio.open_connection("127.0.0.1", processes.port(CONSOLE))
    try:
        # supervision never started: no socket to hand to, the console answers (in the stack: relays, or 503)
        assert (await ask(reader, writer, get("/progress"))).startswith("console GET /progress")
        assert (await ask(reader, writer, get("/intake/new"))).startswith("intake GET /intake/new")
        await processes.stop("intake")  # its socket is gone with it; a stale file refuses
        for _ in range(50):
            if not (processes.directory / "intake.sock").exists():
                break
            await asyncio.sleep(0.1)
        assert not (processes.directory / "intake.sock").exists()
    finally:
        writer.close()
    reader, writer = await asyncio.open_connection("127.0.0.1", processes.port(CONSOLE))
    try:
        (processes.directory / "intake.sock").touch()
        assert (await ask(reader, writer, get("/intake/new"))).startswith("console GET /intake/new")
    finally:
        writer.close()


async def test_a_handed_connection_cannot_be_forged_from_outside(processes: Processes) -> None:
    """Only the stack's user can reach the sockets; what is received is a real socket or nothing."""
    await processes.start("intake")
    path = processes.directory / "intake.sock"
    assert path.stat().st_mode & 0o777 == 0o600
    sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sender.sendto(b"GET / HTTP/1.1\r\n\r\n", str(path))  # no descriptor: dropped
        a, b = socket.socketpair()
        sender.sendmsg([b"x"], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", [a.fileno(), b.fileno()]))],
                       0, str(path))  # two: dropped, both closed
        a.close()
        await asyncio.sleep(0.2)
        b.settimeout(2)
        assert b.recv(10) == b""  # the far end was closed by the receiver
        b.close()
    finally:
        sender.close()
    assert processes.servers["intake"].handoff.adopted == 0


async def test_a_request_too_large_to_pass_on_is_asked_again_on_a_new_connection(processes: Processes) -> None:
    """More than a hand-over carries read with its head (an upload): 307 to the same address, read out before the
    close, and the client asks again on a new connection (to the console: it relays what it cannot hand on)."""
    await processes.start(CONSOLE, "intake", "supervision")
    loop = asyncio.get_running_loop()

    def client() -> bytes:
        with socket.create_connection(("127.0.0.1", processes.port(CONSOLE)), timeout=5) as s:
            s.sendall(b"POST /api/v1/cases HTTP/1.1\r\nhost: console\r\ncontent-length: 2\r\n\r\n{}")
            first = b""
            while b"intake POST" not in first:  # the connection is intake's now
                first += s.recv(4096) or pytest.fail(f"closed after {first!r}")
            body = b"x" * 300_000
            loop.call_soon_threadsafe(time.sleep, 0.3)  # the servers busy: the next read holds more than 64 KiB
            time.sleep(0.05)
            s.sendall(b"POST /api/v1/public/progress?a=1 HTTP/1.1\r\nhost: console\r\ncontent-length: %d\r\n\r\n"
                      % len(body) + body)  # all of it: the client reads only when it is done, as httpx does
            out = b""
            while chunk := s.recv(65_536):
                out += chunk
            return out

    out = await asyncio.to_thread(client)
    head, _, text = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 307 ") and b"\r\nlocation: /api/v1/public/progress?a=1\r\n" in head
    assert b"connection: close" in head and "请重新发送".encode() in text
    assert processes.servers["supervision"].handoff.adopted == 0


async def test_connections_a_stopping_service_cannot_give_back_are_told_so(tmp_path: Path) -> None:
    intake, console = stopping_intake(tmp_path)
    filler = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    filler.setblocking(False)
    with contextlib.suppress(BlockingIOError):
        while True:  # the console's queue full (it does not read)
            filler.sendto(b"busy", intake.path(CONSOLE))
    b = queue_to(intake, get("/api/v1/cases"))
    try:
        await intake.aclose()
        b.settimeout(2)
        told = b.recv(4096)
        assert told.startswith(b"HTTP/1.1 503 ") and b"connection: close" in told
    finally:
        for each in (console, filler, b):
            each.close()
