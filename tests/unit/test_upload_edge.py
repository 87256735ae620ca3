"""The edge's limits on the upload route: a larger body than elsewhere, still bounded; a body that never ends
is cut off with 408 and the route never sees a whole file."""

from __future__ import annotations

import asyncio

import pytest
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from services.security.guard import EdgeMiddleware

pytestmark = pytest.mark.asyncio(loop_scope="session")
stored: list[bytes] = []


async def upload(request: Request) -> JSONResponse:
    try:
        body = await request.body()
    except ClientDisconnect:
        return JSONResponse({"stored": False}, status_code=400)
    stored.append(body)
    return JSONResponse({"stored": len(body)}, status_code=201)


APP = EdgeMiddleware(Starlette(routes=[Route("/api/v1/cases/{case_id}/attachments", upload, methods=["POST"]),
                                       Route("/api/v1/other", upload, methods=["POST"])]),
                     service="intake", required=False, max_body=1024, max_upload=4096, body_seconds=0.3)


async def call(path: str, chunks: list[bytes], *, never_ends: bool = False, length: bool = True,
               app=None) -> int:
    queue = list(chunks)
    sent: list[dict] = []

    async def receive() -> dict:
        if queue:
            chunk = queue.pop(0)
            return {"type": "http.request", "body": chunk, "more_body": bool(queue) or never_ends}
        await asyncio.sleep(3600)  # the client stops sending but keeps the connection
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        sent.append(message)

    announced = sum(len(c) for c in chunks) * (10 if never_ends else 1)  # the client announces more than it sends
    headers = [(b"content-length", str(announced).encode())] if length else [(b"transfer-encoding", b"chunked")]
    scope = {"type": "http", "method": "POST", "path": path, "headers": headers, "query_string": b"",
             "client": ("127.0.0.1", 1)}
    await (app or APP)(scope, receive, send)
    return next(m["status"] for m in sent if m["type"] == "http.response.start")


async def test_the_upload_route_takes_more_than_other_routes_but_not_unbounded():
    stored.clear()
    assert await call("/api/v1/cases/LC1/attachments", [b"x" * 3000]) == 201
    assert await call("/api/v1/other", [b"x" * 3000]) == 413
    assert await call("/api/v1/cases/LC1/attachments", [b"x" * 3000, b"x" * 3000]) == 413
    assert stored == [b"x" * 3000]


async def test_a_body_that_never_ends_times_out_and_nothing_is_stored():
    stored.clear()
    assert await call("/api/v1/cases/LC1/attachments", [b"x" * 100], never_ends=True) == 408
    assert stored == []


async def test_a_chunked_body_over_the_limit_is_413_even_through_an_app_that_answers_500_to_errors():
    """Without a Content-Length the size shows only while reading: the app sees a disconnect (never an exception
    its error handler would turn into a 500 first) and the edge answers 413; nothing is stored."""
    from fastapi import FastAPI

    api = FastAPI()

    @api.post("/api/v1/cases/{case_id}/attachments")
    async def take(request: Request) -> dict:
        body = await request.body()  # raises ClientDisconnect when cut off: a 500 from FastAPI's handler
        stored.append(body)
        return {"stored": len(body)}

    edge = EdgeMiddleware(api, service="intake", required=False, max_body=1024, max_upload=4096, body_seconds=0.3)
    stored.clear()
    chunks = [b"x" * 1000] * 6
    assert await call("/api/v1/cases/LC1/attachments", chunks, length=False, app=edge) == 413
    assert await call("/api/v1/cases/LC1/attachments", chunks, length=False) == 413
    assert await call("/api/v1/other", [b"x" * 600, b"x" * 600], length=False) == 413
    assert await call("/api/v1/cases/LC1/attachments", [b"x" * 100], length=False, never_ends=True, app=edge) == 408
    assert await call("/api/v1/cases/LC1/attachments", [b"x" * 1000] * 3, length=False, app=edge) == 200
    assert stored == [b"x" * 3000]
