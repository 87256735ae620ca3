"""Which process answers a request read at the console's origin, from the bytes of its head alone
(services/backbone/handoff.py): only a whole, plain HTTP/1.1 head is ever handed on."""

from __future__ import annotations

import pytest

from services.backbone.handoff import CONSOLE, MAX_HANDED, Handoff, answerer, request_head
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


def test_a_process_keeps_what_it_answers_and_hands_on_the_rest(tmp_path) -> None:
    intake = Handoff(tmp_path, "intake", front_owner)
    assert intake.target(head("POST /api/v1/cases HTTP/1.1")) is None
    assert intake.target(head("GET / HTTP/1.1")) == CONSOLE
    assert intake.target(head("GET /progress HTTP/1.1")) == "supervision"
    assert intake.target(b"x") is None
    big = head("POST /api/v1/public/applications HTTP/1.1")
    assert Handoff(tmp_path, CONSOLE, front_owner).target(big + b"x" * (MAX_HANDED - len(big))) == "intake"
    assert Handoff(tmp_path, CONSOLE, front_owner).target(big + b"x" * (MAX_HANDED + 1 - len(big))) is None


def test_configured_only_with_a_directory_whose_socket_names_fit(tmp_path) -> None:
    assert Handoff.configured("", "console", front_owner) is None
    assert Handoff.configured(str(tmp_path / "missing"), "console", front_owner) is None
    long = tmp_path / ("d" * 100)
    long.mkdir()
    assert Handoff.configured(str(long), "console", front_owner) is None
    assert Handoff.configured(str(tmp_path), "console", front_owner) is not None
