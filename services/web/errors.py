"""A refusal or an error a person meets in the browser: a readable Chinese page, never a JSON body."""

from __future__ import annotations

from fastapi import Request
from fastapi.responses import Response

from services.backbone.http import Problem
from services.web.pages import SHARED_PAGES

#: what a person can do about each status
NEXT_STEP = {
    401: "请重新登录。", 403: "这个页面不属于您的工作范围。如确需查看，请联系上级督办人员开通。",
    404: "请检查地址是否正确，或从上方导航重新进入。", 409: "案件状态已变化，请返回案件页面刷新后再办理。",
    422: "请返回上一页修改后重新提交。", 429: "操作过于频繁，请稍候再试。",
    503: "系统正在启动或暂时不可用，请稍后刷新。",
}


def wants_page(request: Request) -> bool:
    """A person's browser asking for a page (not the API, not a script's fetch)."""
    return (request.method in ("GET", "HEAD") and not request.url.path.startswith("/api/")
            and "text/html" in request.headers.get("accept", ""))


def page(request: Request, problem: Problem) -> Response | None:
    """The page for ``problem`` when a person's browser asked (None: answer the API's JSON problem)."""
    if not wants_page(request):
        return None
    return SHARED_PAGES.render(request, "error.html", {
        "status": problem.status, "title": problem.title, "detail": problem.detail, "errors": problem.errors,
        "next_step": NEXT_STEP.get(problem.status, "请稍后重试；如仍有问题，请联系运维人员。")},
        status_code=problem.status)
