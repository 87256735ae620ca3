"""Which process answers a request read at the console's origin, from the bytes of its head alone
(services/backbone/handoff.py): only a whole, plain HTTP/1.1 head is ever handed on."""

from __future__ import annotations

import socket

import pytest

from services.backbone.handoff import CONSOLE, MAX_HANDED, Handoff, answerer, request_head, same_address
from services.console.routing import front_owner


def head(line: str, *headers: str) -> bytes:
    return ("\r\n".join([line, "host: console", *headers]) + "\r\n\r\n").encode()


@pytest.mark.parametrize(("request_bytes", "expected"), [
    (head("GET /progress HTTP/1.1"), "supervision"),
    (head("GET /progress/C-1?code=1 HTTP/1.1"), "supervision"),
    (head("POST /api/v1/public/progress HTTP/1.1", "content-length: 2") + b"{}", "supervision"),
    (head("POST /api/v1/public/applications HTTP/1.1"), "intake"),
    (head("GET /api/v1/cases/C-1 HTTP/1.1"), "supervision"),
    (head("POST /api/v1/cases HTTP/1.1"), "intake"),
    (head("GET /mediation/cases HTTP/1.1"), "mediation"),
    (head("GET /api/v1/cases/C-1/documents/agreement.pdf HTTP/1.1"), "mediation"),
    (head("GET /api/v1/legal-aid/x HTTP/1.1"), "legal_aid"),
    # percent-encoded as the service will decode it
    (head("GET /api/v1/%63ases/C-1 HTTP/1.1"), "supervision"),
    # the console's own
    (head("GET / HTTP/1.1"), CONSOLE),
    (head("GET /login HTTP/1.1"), CONSOLE),
    (head("GET /static/app.css HTTP/1.1"), CONSOLE),
    (head("POST /progress HTTP/1.1"), CONSOLE),  # pages are read, never posted
    (head("OPTIONS /api/v1/cases HTTP/1.1"), CONSOLE),
    (head("GET /api/v1/stream HTTP/1.1"), CONSOLE),
    (head("GET /api/v1/alerts HTTP/1.1", "accept: text/html", "Accept: text/event-stream"), CONSOLE),
    (head("GET /api/v1/unknown HTTP/1.1"), CONSOLE),
])
def test_a_whole_head_names_who_answers(request_bytes: bytes, expected: str) -> None:
    assert answerer(request_bytes, front_owner) == expected


@pytest.mark.parametrize("request_bytes", [
    b"GET /progress HTTP/1.1\r\nhost: console\r\n",  # the head in pieces
    b"GET /progress HTTP/1.1",
    b"",
    head("GET /progress HTTP/1.0"),  # not kept alive the same way: answered where it is
    head("GET /progress HTTP/2.0"),
    head("GET http://elsewhere/progress HTTP/1.1"),  # absolute form
    head("GET  /progress HTTP/1.1"),
    head("get /progress HTTP/1.1"),
    head("G\xe9T /progress HTTP/1.1"),
    head("GET /progress HTTP/1.1", "upgrade: websocket", "connection: upgrade"),
    head("GET /progress HTTP/1.1", "not a header line"),
    b"GET /pro\xffgress HTTP/1.1\r\n\r\n",
    b"\r\n\r\n",
])
def test_anything_else_is_answered_where_it_is(request_bytes: bytes) -> None:
    assert answerer(request_bytes, front_owner) is None


def test_the_decoded_path_and_every_accept_header_are_read() -> None:
    assert request_head(head("GET /a%20b?x=%2F HTTP/1.1", "accept: a", "accept: b")) == ("GET", "/a b", "a,b")


def test_a_process_knows_what_it_answers(tmp_path) -> None:
    intake = Handoff(tmp_path, "intake", front_owner)
    assert intake.owner(head("POST /api/v1/cases HTTP/1.1")) == "intake"
    assert intake.owner(head("GET / HTTP/1.1")) == CONSOLE
    assert intake.owner(head("GET /progress HTTP/1.1")) == "supervision"
    assert intake.owner(b"x") is None
    assert intake.owns("POST", "/api/v1/cases", "") and not intake.owns("GET", "/", "text/html")
    assert Handoff(tmp_path, CONSOLE, front_owner).owns("GET", "/api/v1/alerts", "text/event-stream")


@pytest.mark.parametrize(("target", "expected"), [
    (b"/api/v1/x?a=1&b=%20", b"/api/v1/x?a=1&b=%20"), (b"/", b"/"), (b"//evil.example/x", None),
    (b"/\\evil.example", None), (b"/\t/evil", None), (b"/x#f", None), (b"*", None), (b"http://evil/", None)])
def test_a_client_is_sent_back_only_to_a_plain_path_here(target: bytes, expected: bytes | None) -> None:
    assert same_address(b"POST " + target + b" HTTP/1.1\r\nhost: x\r\n\r\n") == expected


def test_the_fragment_is_no_part_of_the_path() -> None:
    assert request_head(head("GET /progress#top HTTP/1.1")) == ("GET", "/progress", "")
    assert answerer(head("GET /static/app.css#x HTTP/1.1"), front_owner) == CONSOLE


def test_nothing_too_large_to_hand_is_handed(tmp_path) -> None:
    conn, far = socket.socketpair()

    class Transport:
        def get_extra_info(self, name):
            return conn

        def __init__(self, unsent: int = 0):
            self.unsent = unsent

        def get_write_buffer_size(self):
            return self.unsent

    console = Handoff(tmp_path, CONSOLE, front_owner)
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(console.path("intake"))
    big = head("POST /api/v1/public/applications HTTP/1.1")
    assert not console.give("intake", Transport(), big + b"x" * (MAX_HANDED + 1 - len(big)))
    assert not console.give("intake", Transport(unsent=1), big)  # its answer still being written out
    assert console.give("intake", Transport(), big + b"x" * (MAX_HANDED - len(big)))
    data, fds, _, _ = socket.recv_fds(receiver, MAX_HANDED + 1, 4)
    assert len(data) == MAX_HANDED and len(fds) == 1
    for each in (receiver, conn, far, *[socket.socket(fileno=fd) for fd in fds]):
        each.close()


def test_configured_only_with_a_directory_whose_socket_names_fit(tmp_path) -> None:
    assert Handoff.configured("", "console", front_owner) is None
    assert Handoff.configured(str(tmp_path / "missing"), "console", front_owner) is None
    long = tmp_path / ("d" * 100)
    long.mkdir()
    assert Handoff.configured(str(long), "console", front_owner) is None
    assert Handoff.configured(str(tmp_path), "console", front_owner) is not None


def test_configured_only_in_a_directory_no_one_else_can_open(tmp_path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    for mode in (0o750, 0o705, 0o777):
        shared.chmod(mode)
        assert Handoff.configured(str(shared), "console", front_owner) is None
    shared.chmod(0o700)
    assert Handoff.configured(str(shared), "console", front_owner) is not None


class FakeTransport:
    def __init__(self):
        self.written, self.closed, self.eof = b"", False, False

    def can_write_eof(self):
        return True

    def write_eof(self):
        self.eof = True

    def get_extra_info(self, name, default=None):
        return {"peername": ("127.0.0.1", 5000), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data):
        self.written += data

    def close(self):
        self.closed = True

    def is_closing(self):
        return self.closed

    def get_write_buffer_size(self):
        return 0

    def pause_reading(self):
        pass

    def resume_reading(self):
        pass


@pytest.mark.asyncio
async def test_a_service_asks_again_for_what_it_cannot_pass_on(tmp_path) -> None:
    """More than a hand-over carries was read with a head another process answers: 307 to the same address (a
    client sends it again on a new connection); a head larger than that: 431. Never answered here."""
    import uvicorn
    from uvicorn.server import ServerState

    from services.backbone import server as http_server

    async def app(scope, receive, send):  # pragma: no cover - must not run
        raise AssertionError("answered by a process that does not own it")

    config = uvicorn.Config(app, lifespan="off", log_config=None)
    config.load()
    cls = http_server.protocol(5, handoff=Handoff(tmp_path, "intake", front_owner))
    answers = []
    for data in (head("POST /api/v1/public/progress?a=1 HTTP/1.1", "content-length: 100000") + b"x" * 100_000,
                 head("GET /progress HTTP/1.1", "x-pad: " + "p" * MAX_HANDED),
                 head("GET //elsewhere HTTP/1.1", "content-length: 100000") + b"x" * 100_000,
                 head("GET /\\elsewhere HTTP/1.1", "content-length: 100000") + b"x" * 100_000):
        protocol = cls(config=config, server_state=ServerState(), app_state={})
        protocol.handed = b""  # a connection handed to intake, its first request answered
        transport = FakeTransport()
        protocol.connection_made(transport)
        protocol.data_received(data)
        assert transport.eof and not transport.closed  # answered; what the client still sends is read and dropped
        protocol.data_received(b"x" * 1000)
        answers.append(transport.written.split(b"\r\n\r\n")[0])
        protocol.data_received(b"x" * http_server.LINGER_BYTES)
        assert transport.closed
        protocol.connection_lost(None)
    assert answers[0].startswith(b"HTTP/1.1 307 ") and b"\r\nlocation: /api/v1/public/progress?a=1\r\n" in answers[0]
    assert answers[1].startswith(b"HTTP/1.1 431 ") and b"connection: close" in answers[1]
    assert answers[2].startswith(b"HTTP/1.1 503 ") and answers[3].startswith(b"HTTP/1.1 503 ")  # never elsewhere
