"""Connections handed from the console to the service that answers them (services/backbone/handoff.py), between
real uvicorn servers on real sockets: one kept-alive client connection, its requests answered in turn by the
console and by two services, the client's own address seen by each; what stays where it is."""

from __future__ import annotations

import array
import asyncio
import socket
from pathlib import Path
from typing import Any

import pytest

from services.backbone import server as http_server
from services.backbone.handoff import CONSOLE, Handoff
from services.console.routing import front_owner

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


def app_named(name: str):
    async def app(scope: dict[str, Any], receive, send) -> None:
        if scope["type"] != "http":
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
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    return (await reader.readexactly(length)).decode()


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
        # a head in pieces is answered where it is: here intake holds the connection
        assert await ask(reader, writer, b"GET /progress HTTP/1.1\r\nho", b"st: console\r\n\r\n") \
            == f"intake GET /progress {me} 0"
        # the next whole head moves on again
        assert await ask(reader, writer, get("/")) == f"console GET / {me} 0"
    finally:
        writer.close()
    handoffs = {name: server.handoff for name, server in processes.servers.items()}
    assert handoffs[CONSOLE].given == 3 and handoffs[CONSOLE].adopted == 3
    assert handoffs["intake"].adopted == 2 and handoffs["supervision"].adopted == 2


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
