"""The console's relay (services/console/relay.py) against a real HTTP server on a socket: what it passes on and
how, what it leaves to the app, and what a caller gets when the owner cannot be reached."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from services.console.relay import RelayFront
from services.security.guard import CLIENT_HEADER

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


class Owner:
    """A service stand-in that answers what each test tells it to, on a real socket, and records what it read."""

    def __init__(self) -> None:
        self.requests: list[bytes] = []
        self.answers: list[bytes] = []
        self.connections = 0
        self.close_after_answer = False

    async def start(self) -> int:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        return self.server.sockets[0].getsockname()[1]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                body = await reader.readexactly(length) if length else b""
                self.requests.append(head + body)
                writer.write(self.answers.pop(0))
                await writer.drain()
                if self.close_after_answer:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()


async def call(front: RelayFront, method: str, path: str, *, body: bytes = b"", headers: list[tuple[bytes, bytes]]
               | None = None, client: str | None = "203.0.113.7") -> tuple[int, dict[bytes, bytes], bytes]:
    scope: dict[str, Any] = {"type": "http", "method": method, "path": path, "raw_path": path.encode(),
                             "query_string": b"limit=5", "headers": headers or [], "state": {"client": client}}
    sent = [{"type": "http.request", "body": body, "more_body": False}]
    out: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return sent.pop(0) if sent else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        out.append(message)

    await front(scope, receive, send)
    start = out[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in out[1:])


async def app_says_console(scope, receive, send) -> None:
    await send({"type": "http.response.start", "status": 299, "headers": []})
    await send({"type": "http.response.body", "body": b"console"})


def unavailable(scope, service):
    async def answer(scope, receive, send):
        await send({"type": "http.response.start", "status": 503, "headers": [(b"x-service", service.encode())]})
        await send({"type": "http.response.body", "body": "受理服务暂不可用".encode()})

    return answer


async def test_requests_are_relayed_over_one_kept_alive_connection_and_answers_streamed_back():
    owner = Owner()
    port = await owner.start()
    front = RelayFront(app_says_console, lambda s: f"http://127.0.0.1:{port}", unavailable)
    owner.answers = [b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\ncontent-length: 11\r\n\r\n{\"ok\":true}",
                     b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                     b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
                     b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n"]
    status, headers, body = await call(front, "POST", "/api/v1/cases", body=b'{"a": 1}', headers=[
        (b"content-type", b"application/json"), (b"x-laborcase-client", b"forged"), (b"x-forwarded-for", b"1.2.3.4"),
        (b"cookie", b"laborcase_session=s1"), (b"connection", b"keep-alive")])
    assert (status, body) == (201, b'{"ok":true}') and headers[b"content-type"] == b"application/json"
    sent = owner.requests[0]
    assert sent.startswith(b"POST /api/v1/cases?limit=5 HTTP/1.1\r\n") and sent.endswith(b'\r\n\r\n{"a": 1}')
    assert b"forged" not in sent and b"1.2.3.4" not in sent and b"cookie: laborcase_session=s1" in sent
    assert f"{CLIENT_HEADER}: ".encode() in sent and b"content-length: 8" in sent  # the console's signed statement
    status, headers, body = await call(front, "GET", "/api/v1/alerts")
    assert (status, body) == (200, b"hello world") and b"transfer-encoding" not in headers
    assert (await call(front, "GET", "/api/v1/cases/LC1"))[2] == b"{}"
    assert owner.connections == 2  # one kept-alive connection to each owner (intake, then supervision twice)
    status, headers, body = await call(front, "HEAD", "/supervision")  # a page: no body follows the head
    assert (status, body) == (200, b"")
    front.close()
    owner.server.close()


async def test_a_connection_the_service_closed_is_opened_again_and_the_request_sent_once():
    owner = Owner()
    port = await owner.start()
    front = RelayFront(app_says_console, lambda s: f"http://127.0.0.1:{port}", unavailable)
    owner.close_after_answer = True  # as uvicorn closes an idle kept-alive connection
    owner.answers = [b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\na", b"HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nb"]
    assert (await call(front, "GET", "/api/v1/alerts"))[2] == b"a"
    await asyncio.sleep(0.05)
    assert (await call(front, "POST", "/api/v1/cases", body=b"{}"))[2] == b"b"
    assert len(owner.requests) == 2 and owner.connections == 2
    front.close()
    owner.server.close()


async def test_what_the_console_answers_itself_and_live_boards_go_to_the_app():
    front = RelayFront(app_says_console, lambda s: "http://127.0.0.1:9", unavailable)
    for method, path, headers in (("GET", "/", []), ("GET", "/login", []), ("GET", "/api/v1/status", []),
                                  ("GET", "/api/v1/audit", []), ("GET", "/api/v1/stream", []),
                                  ("GET", "/supervision", [(b"accept", b"text/event-stream")]),
                                  ("POST", "/supervision", []), ("GET", "/api/v1/nowhere", [])):
        assert await call(front, method, path, headers=headers) == (299, {}, b"console"), (method, path)


async def test_an_owner_that_cannot_be_reached_gets_the_unavailable_answer():
    listener = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    front = RelayFront(app_says_console, lambda s: f"http://127.0.0.1:{port}", unavailable)
    status, headers, body = await call(front, "POST", "/api/v1/cases", body=b"{}")
    assert status == 503 and headers[b"x-service"] == b"intake" and "暂不可用" in body.decode()
