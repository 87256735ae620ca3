"""HTTP surface every service shares: health, readiness, metrics, contracts, RFC 9457 errors in Chinese."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.backbone.errors import DomainError

log = logging.getLogger(__name__)
PROBLEM = "application/problem+json"

_ZH_REASONS = {
    "missing": "缺少必填字段",
    "string_pattern_mismatch": "格式不正确",
    "string_too_short": "长度不能少于{min_length}个字符",
    "string_too_long": "长度不能超过{max_length}个字符",
    "too_short": "至少需要{min_length}项",
    "too_long": "最多允许{max_length}项",
    "greater_than_equal": "不能小于{ge}",
    "greater_than": "必须大于{gt}",
    "less_than_equal": "不能大于{le}",
    "literal_error": "取值无效，可选值：{expected}",
    "enum": "取值无效，可选值：{expected}",
    "timezone_aware": "必须带时区偏移（RFC 3339，如 2026-03-02T09:30:00+08:00）",
    "datetime_parsing": "不是有效的时间（RFC 3339，如 2026-03-02T09:30:00+08:00）",
    "datetime_from_date_parsing": "不是有效的时间（RFC 3339，如 2026-03-02T09:30:00+08:00）",
    "datetime_type": "不是有效的时间（RFC 3339）",
    "extra_forbidden": "不允许的字段",
    "json_invalid": "请求体不是有效的 JSON",
    "decimal_max_places": "最多两位小数",
    "decimal_parsing": "必须是数字",
    "decimal_type": "必须是数字",
    "date_from_datetime_parsing": "不是有效的日期（如 2026-03-02）",
    "float_parsing": "必须是数字",
    "int_parsing": "必须是整数",
    "bool_parsing": "必须是 true 或 false",
    "model_type": "必须是 JSON 对象",
    "model_attributes_type": "必须是 JSON 对象",
    "dict_type": "必须是 JSON 对象",
    "list_type": "必须是数组",
    "string_type": "必须是字符串",
    "uuid_parsing": "不是有效的 UUID",
}

_TITLES = {
    400: "请求有误", 401: "未登录或凭证无效", 403: "无权访问", 404: "未找到", 405: "不支持的请求方法",
    409: "与现有数据冲突", 413: "请求体过大", 415: "不支持的内容类型", 422: "请求数据不合法",
    429: "请求过于频繁", 500: "服务器内部错误", 503: "服务暂不可用",
}


def field_path(loc: Sequence[Any]) -> str:
    path = ""
    for part in loc:
        if part in ("body", "query", "path", "header"):
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "body"


def zh_reason(error: dict[str, Any]) -> str:
    template = _ZH_REASONS.get(error.get("type", ""))
    if template is None:
        message = str(error.get("msg", "不合法"))
        return message.removeprefix("Value error, ")
    try:
        return template.format(**(error.get("ctx") or {}))
    except (KeyError, IndexError):
        return template


class StrictModel(BaseModel):
    """A request body: unknown fields are an error (hostile input is validated strictly)."""

    model_config = ConfigDict(extra="forbid")


class Problem(Exception):
    """An RFC 9457 problem: raise it from a route to answer with a precise 4xx."""

    def __init__(self, status: int, detail: str, *, errors: list[dict[str, str]] | None = None,
                 type_: str = "about:blank", title: str | None = None, **extra: Any):
        super().__init__(detail)
        self.status, self.detail, self.errors, self.type, self.extra = status, detail, errors or [], type_, extra
        self.title = title or _TITLES.get(status, "请求失败")

    def response(self) -> JSONResponse:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status, "detail": self.detail}
        if self.errors:
            body["errors"] = self.errors
        body.update(self.extra)
        headers = {"retry-after": str(self.extra["retry_after"])} if "retry_after" in self.extra else None
        return JSONResponse(body, status_code=self.status, media_type=PROBLEM, headers=headers)


def validation_problem(errors: Sequence[dict[str, Any]]) -> Problem:
    fields = [{"field": field_path(e.get("loc", ())), "reason": zh_reason(e)} for e in errors]
    detail = "；".join(f"{f['field']}：{f['reason']}" for f in fields[:5])
    return Problem(422, detail, errors=fields, type_="urn:laborcase:problem:validation")


#: The one mapping from what a use case says to what HTTP answers.
DOMAIN_STATUS = {"not_found": 404, "conflict": 409, "invalid": 422, "forbidden": 403, "refused": 409}


def domain_problem(exc: DomainError) -> Problem:
    return Problem(DOMAIN_STATUS[exc.kind], exc.message, type_=f"urn:laborcase:problem:{exc.code.replace('_', '-')}",
                   errors=[{"field": e.field, "reason": e.reason, **({"code": e.code} if e.code else {})}
                           for e in exc.errors])


#: how a problem reads when a person's browser asked for a page: the page, or None to answer JSON
PageRenderer = Callable[[Request, Problem], Response | None]


def install_problem_handlers(app: FastAPI, page: PageRenderer | None = None) -> None:
    def answer(request: Request, problem: Problem) -> Response:
        shown = page(request, problem) if page is not None else None
        return shown if shown is not None else problem.response()

    async def on_domain(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, DomainError)
        return answer(request, domain_problem(exc))

    async def on_problem(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Problem)
        return answer(request, exc)

    async def on_validation(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return answer(request, validation_problem(exc.errors()))

    async def on_http(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail if isinstance(exc.detail, str) and exc.status_code != 404 else _TITLES.get(
            exc.status_code, "请求失败")
        return answer(request, Problem(exc.status_code, detail))

    async def on_error(request: Request, exc: Exception) -> Response:
        from services.backbone.db import is_transient

        if is_transient(exc):
            log.warning("transient fault answering a request", extra={"error": repr(exc)})
            return answer(request, Problem(503, "服务暂时不可用，请稍后重试", type_="urn:laborcase:problem:unavailable"))
        log.exception("unexpected error answering a request")
        return answer(request, Problem(500, "服务器内部错误，已记录，请联系运维人员",
                                       type_="urn:laborcase:problem:internal"))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(Exception, on_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)


T = TypeVar("T")


def at_once(fn: Callable[..., T]) -> Callable[..., Awaitable[T]]:
    """A dependency that does no I/O, as a coroutine: FastAPI runs a plain function in a worker thread, and
    the thread hop per request costs more than the function (a third of a progress lookup's time)."""
    @functools.wraps(fn)
    async def immediate(*args: Any, **kwargs: Any) -> T:
        return fn(*args, **kwargs)

    return immediate


def service_app(
    name: str,
    *,
    readiness: Callable[[], Awaitable[tuple[bool, dict[str, Any]]]],
    asyncapi: Callable[[], dict[str, Any]] | None = None,
    routers: Sequence[APIRouter] = (),
    page: PageRenderer | None = None,
) -> FastAPI:
    app = FastAPI(title=f"laborcase {name}", version="1.0.0", docs_url=None, redoc_url=None)
    install_problem_handlers(app, page)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "service": name}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        ready, detail = await readiness()
        return JSONResponse({"ready": ready, "service": name, **detail}, status_code=200 if ready else 503)

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)

    if asyncapi is not None:
        @app.get("/asyncapi.json", include_in_schema=False)
        async def asyncapi_document() -> dict[str, Any]:
            return asyncapi()

    for router in routers:
        app.include_router(router)
    return app


#: (scope, body) -> (status, JSON body) for the common case, or None to let the route answer
Shortcut = Callable[[dict[str, Any], bytes], Awaitable[tuple[int, bytes] | None]]


class FastPath:
    """One hot route answered without FastAPI's machinery — routing over every route, dependency solving,
    exception middlewares, response-model validation: half of a small request's CPU — when the request is the
    plain, common case. Whatever the shortcut declines (None) or fails on goes, body and all, to the app's own
    route, which answers it exactly as it always did (validation errors, refusals, faults, pages). The edge
    (tokens, body limits, audit) sits in front of both, so the two paths are guarded and audited alike.
    """

    def __init__(self, app: Any, *, method: str, path: str, shortcut: Shortcut):
        self.app, self.method, self.path, self.shortcut = app, method, path, shortcut

    async def __call__(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                       send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] != "http" or scope["path"] != self.path or scope["method"] != self.method \
                or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        body = await read_body(self.app, scope, receive, send)
        if body is None:
            return
        try:
            answered = await self.shortcut(scope, body)
        except Exception as exc:
            log.debug("fast path declined on an error; the route answers", extra={"error": repr(exc)})
            answered = None
        if answered is None:
            await self.app(scope, _replay(body, receive), send)
            return
        status, payload = answered
        await send({"type": "http.response.start", "status": status,
                    "headers": [(b"content-type", b"application/json"),
                                (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})


def _is_json(scope: dict[str, Any]) -> bool:
    for name, value in scope.get("headers", ()):
        if name == b"content-type":
            return value.split(b";")[0].strip().lower() == b"application/json"
    return False


async def read_body(app: Any, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                    send: Callable[[dict[str, Any]], Awaitable[None]]) -> bytes | None:
    """The request's whole body, for a layer in front of ``app`` that answers it itself; None when the body was
    cut off or the caller left, the request then handed to ``app`` with what came (it answers as it always did:
    the edge's refusal, a 400)."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            await app(scope, _replay(b"".join(chunks), receive, first=message), send)
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _replay(body: bytes, receive: Callable[[], Awaitable[dict[str, Any]]], *,
            first: dict[str, Any] | None = None) -> Callable[[], Awaitable[dict[str, Any]]]:
    """A ``receive`` that hands the app the body already read, then whatever the connection says next."""
    queue = [{"type": "http.request", "body": body, "more_body": False}] if first is None else \
        [first] if not body else [{"type": "http.request", "body": body, "more_body": True}, first]

    async def again() -> dict[str, Any]:
        return queue.pop(0) if queue else await receive()

    return again
