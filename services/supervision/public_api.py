"""The worker's door in supervision, without login: ``POST /api/v1/public/progress`` (进度查询),
``POST /api/v1/public/ratings`` (评价) and the page ``/progress``. docs/domain/worker-door.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field, TypeAdapter

from events import glossary
from services.backbone.http import FastPath, StrictModel
from services.backbone.usecase import run
from services.evidence.checks import KINDS
from services.security import public_door
from services.supervision import progress
from services.supervision.deps import RuntimeDep
from services.web.pages import Pages

router = APIRouter()
pages = Pages(Path(__file__).parent / "templates")

CASE_ID = Field(min_length=1, max_length=40, description="案件编号, e.g. LC20260302000123")
CODE = Field(min_length=1, max_length=40, description="查询码 (10 characters; dashes and spaces ignored)")


class ProgressAsk(StrictModel):
    case_id: str = CASE_ID
    query_code: str = CODE


class RatingIn(StrictModel):
    case_id: str = CASE_ID
    query_code: str = CODE
    score: int = Field(ge=1, le=5, description="1 (很不满意) … 5 (很满意)")
    comment: str = Field(default="", max_length=500)


class StepOut(BaseModel):
    at: str = Field(description="when, RFC 3339 (+08:00)")
    title: str = Field(description="what happened, in words for the worker")


class ProgressOut(BaseModel):
    case_id: str
    status: str = Field(description="where the case stands, in words (已受理, 调解中, 已办结 …)")
    steps: list[StepOut]
    resolved: bool
    can_rate: bool
    rating: dict[str, Any] | None


async def _verified(request: Request, runtime: Any, case_id: str, code: str, action: str) -> progress.Lookup:
    case_id = case_id.strip().upper()
    client = public_door.address(request)
    found = await progress.lookup(runtime.pool, case_id, code, client)
    locked = found.throttles.locked_for(public_door.now())
    if locked is not None:
        raise public_door.refuse_locked(request, case_id, locked)
    if found.view is None:
        raise await public_door.failed(request, runtime.pool, case_id, action)
    return found


PROGRESS_PATH = "/api/v1/public/progress"
_PROGRESS_OUT = TypeAdapter(ProgressOut)


async def progress_at_once(runtime: Any, scope: dict[str, Any], body: bytes) -> tuple[int, bytes] | None:
    """进度查询's common case — a well-formed request, the right code, no lock — answered by ``http.FastPath``
    without FastAPI's machinery (the door's target is 1,000 lookups/s on 2 cores). Everything else returns None
    and ``public_progress`` below answers it: a malformed body, an unknown case or a wrong code (counted there,
    once), a lock, a fault. Same lookup, same answer, same audit row."""
    ask = ProgressAsk.model_validate_json(body)
    state = scope.setdefault("state", {})
    found = await progress.lookup(runtime.pool, ask.case_id.strip().upper(), ask.query_code,
                                  state.get("client") or "unknown")
    if found.view is None or found.throttles.locked_for(public_door.now()) is not None:
        return None
    public_door.note(state, found.view["case_id"], "read", "ok")
    return 200, _PROGRESS_OUT.dump_json(ProgressOut(**{k: v for k, v in found.view.items() if k != "org_unit"}))


def front(runtime: Any, app: Any) -> FastPath:
    """What sits before supervision's FastAPI app: the worker's progress lookup on its fast path."""
    return FastPath(app, method="POST", path=PROGRESS_PATH,
                    shortcut=lambda scope, body: progress_at_once(runtime, scope, body))


@router.post(PROGRESS_PATH, response_model=ProgressOut,
             responses={404: {"description": "unknown case or wrong code: the same body"},
                        429: {"description": "too many attempts for this case number or from this address"}})
async def public_progress(request: Request, body: ProgressAsk, runtime: RuntimeDep) -> dict[str, Any]:
    """进度查询: where the case stands, in words for the worker, from the projection made for it."""
    found = await _verified(request, runtime, body.case_id, body.query_code, "read")
    assert found.view is not None
    public_door.mark(request, found.view["case_id"], "read", "ok")
    return {k: v for k, v in found.view.items() if k != "org_unit"}


@router.post("/api/v1/public/ratings", status_code=201,
             responses={404: {"description": "unknown case or wrong code"},
                        409: {"description": "not resolved yet, or already rated (reason in Chinese)"}})
async def public_rating(request: Request, body: RatingIn, runtime: RuntimeDep) -> dict[str, Any]:
    """评价: once the case is resolved, the worker rates the service 1–5 with a comment, once."""
    public_door.limit_writes(request)
    found = await _verified(request, runtime, body.case_id, body.query_code, "write")
    assert found.view is not None
    case_id = found.view["case_id"]
    public_door.mark(request, case_id, "write", "rated")
    await run(runtime, lambda ctx: progress.rate(ctx, case_id, score=body.score, comment=body.comment.strip(),
                                                 org_unit=found.view["org_unit"] if found.view else None))
    return {"case_id": case_id, "score": body.score, "thanks": "感谢您的评价！"}


@router.get("/progress", response_class=HTMLResponse, include_in_schema=False)
async def progress_page(request: Request, case_id: str | None = None) -> Response:
    """进度查询 (the worker's page): the form; the answer is drawn by static/public.js from the API."""
    public_door.mark(request, None, "read", "page")
    return pages.render(request, "public_progress.html", {
        "case_id": (case_id or "").strip()[:40], "kinds": {k: glossary.ATTACHMENT_KIND[k] for k in KINDS}})
