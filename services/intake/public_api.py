"""The worker's door at intake, without login (docs/domain/worker-door.md): ``POST /api/v1/public/applications``
(网上申请), ``POST /api/v1/public/cases/{case_id}/attachments`` (the worker's own materials, with the case number
and query code) and the page ``/apply``.

An online application is the clerk's registration with the same model and checks (``registration.register``),
channel ``online``, received now; the worker cannot override a checksum warning, so it is explained instead; it
never joins an existing case (an applicant who knows someone's ID number must not obtain a code for that
person's case) — a possible duplicate is flagged to the supervisors (``intake.duplicate_suspected``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import Field
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from events import glossary
from events.common import Channel, Claim, Employer, RegionCode, Worker
from services.backbone import usecase
from services.backbone.errors import FieldError, Invalid
from services.backbone.http import Problem, StrictModel
from services.calendar.model import shanghai_iso
from services.evidence.checks import KINDS
from services.intake import attachments, query_codes, registration_keys
from services.intake import desk as desk_views
from services.intake.deps import ConfigDep, RuntimeDep
from services.intake.registration import Submission, register
from services.intake.registration_keys import RegistrationKey
from services.security import public_door
from services.web.pages import Pages

router = APIRouter()
pages = Pages(Path(__file__).parent / "templates")
#: who acts in the case log for what the worker does at the door
WORKER = "职工本人（网上）"
#: whose Idempotency-Keys the public door's are (the page makes a random one per application)
PUBLIC_CALLER = "public"
#: the checksum warnings a clerk may override, as the worker reads them (they cannot override)
EXPLAINED = {
    "id_checksum": "身份证号码的最后一位（校验位）与前17位对不上，通常是某一位输错了。请对照身份证逐位核对；"
                   "如核对无误，请拨打 12351 或到工会服务窗口办理。",
    "uscc_checksum": "统一社会信用代码的最后一位（校验位）与前17位对不上，通常是某一位输错了。请对照营业执照核对；"
                     "不清楚的，可以先到工会服务窗口或拨打 12351 咨询。",
}
CONSENT = "请阅读并同意《个人信息处理说明》后再提交"


class Application(StrictModel):
    """An online application (网上申请): the body of ``POST /api/v1/cases`` without ``channel`` and the clerk's
    override fields, plus ``consent``. Received when it arrives."""

    region_code: RegionCode = Field(description="where the dispute happened (区县行政区划代码)")
    workers: list[Worker] = Field(min_length=1, max_length=30)
    employer: Employer
    claims: list[Claim] = Field(min_length=1, max_length=20)
    summary: str = Field(default="", max_length=4000)
    consent: bool = Field(description="must be true: the worker accepts the 个人信息处理说明")


class ApplicationAccepted(StrictModel):
    case_id: str
    query_code: str | None = Field(description="shown once; also sent by SMS (absent on a replayed answer)")
    due_at: str
    replayed: bool = Field(default=False, description="the answer of an earlier request with the same "
                                                      "Idempotency-Key: nothing new was registered")


@router.post("/api/v1/public/applications", status_code=201, response_model=ApplicationAccepted,
             responses={422: {"description": "refused, with the reason for each field in plain Chinese"},
                        429: {"description": "too many applications from this address"}})
async def apply(request: Request, body: Application, runtime: RuntimeDep, config: ConfigDep) -> JSONResponse:
    """网上申请: registered like a clerk's case (channel online); answers the case number, the query code (shown
    once) and the time the union undertakes to resolve it by."""
    public_door.mark(request, None, "write", "refused")
    if body.consent is not True:
        raise Invalid(CONSENT, errors=[FieldError("consent", CONSENT, code="consent")])
    public_door.limit_writes(request)
    sub = Submission(channel=Channel.online, received_at=runtime.clock.now(), region_code=body.region_code,
                     workers=body.workers, employer=body.employer, claims=body.claims, summary=body.summary.strip(),
                     actor=WORKER)
    key = RegistrationKey.sent(request.headers, PUBLIC_CALLER, body.model_dump_json().encode())
    try:
        outcome = await usecase.run(runtime, lambda ctx: registration_keys.once(
            ctx, key, lambda: register(ctx, sub, config=config, visible=lambda _: False)))
    except Invalid as refused:
        raise _explained(refused) from None
    public_door.mark(request, outcome.case_id, "write", "replayed" if outcome.replayed else "applied")
    return JSONResponse({"case_id": outcome.case_id, "query_code": outcome.as_json(config.hierarchy).get("query_code"),
                         "due_at": shanghai_iso(outcome.due_at), "replayed": outcome.replayed}, status_code=201)


def _explained(refused: Invalid) -> Invalid:
    """The desk's refusal in the worker's words: a checksum warning is explained, not offered for override."""
    if refused.code != "needs-override":
        return refused
    errors = [FieldError(e.field, EXPLAINED.get(e.code or "", e.reason), code=e.code) for e in refused.errors]
    return Invalid("；".join(dict.fromkeys(e.reason for e in errors)), errors=errors, code="check-failed")


@router.post("/api/v1/public/cases/{case_id}/attachments", status_code=201,
             openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {
                 "type": "object", "required": ["file", "kind", "query_code"],
                 "properties": {"file": {"type": "string", "format": "binary"}, "kind": {"type": "string"},
                                "note": {"type": "string", "maxLength": 500},
                                "query_code": {"type": "string", "maxLength": 40}}}}}}},
             responses={404: {"description": "unknown case or wrong code: the same body"}})
async def upload(request: Request, case_id: str, runtime: RuntimeDep) -> dict[str, Any]:
    """补充材料: the worker adds evidence to their own case, proving it with the query code; the same checks of the
    file as staff uploads (services/evidence)."""
    case_id = case_id.strip().upper()[:public_door.CASE_ID_MAX]
    public_door.mark(request, case_id, "write", "refused")
    public_door.limit_writes(request)
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Problem(415, "请以 multipart/form-data 上传文件")
    throttles = await public_door.read(runtime.pool, case_id, public_door.address(request))
    locked = throttles.locked_for(public_door.now())
    if locked is not None:
        raise public_door.refuse_locked(request, case_id, locked)
    settings = runtime.settings
    try:
        form = await request.form(max_files=1, max_fields=5, max_part_size=64 * 1024)
    except ClientDisconnect:
        raise Problem(408, "上传中断，文件未保存") from None
    except Exception as exc:
        raise Problem(400, f"上传内容格式不正确：{exc}") from None
    try:
        code, file, kind, note = (form.get("query_code"), form.get("file"), form.get("kind"), form.get("note") or "")
        if not isinstance(code, str) or not await query_codes.valid(runtime.pool, case_id, code):
            raise await public_door.failed(request, runtime.pool, case_id, "write")
        if not isinstance(file, UploadFile):
            raise Invalid("请选择要上传的文件", errors=[("file", "请选择文件")])
        if not isinstance(kind, str) or not isinstance(note, str) or len(note) > 500:
            raise Invalid("材料类别或说明不正确", errors=[("kind", "请选择材料类别"), ("note", "说明不超过500字")])
        content = await file.read(settings.attachment_max_bytes + 1)
        limits = attachments.Limits(settings.attachment_max_bytes, settings.attachment_case_max_bytes,
                                    settings.attachment_case_max_files)
        added = await usecase.run(runtime, lambda ctx: attachments.add(
            ctx, case_id, kind=kind, filename=file.filename, content=content, note=note, actor=WORKER, limits=limits))
    finally:
        await form.close()
    public_door.mark(request, case_id, "write", "uploaded")
    return {"case_id": case_id, "filename": added.filename, "kind": added.kind, "size_bytes": added.size_bytes,
            "uploaded_at": shanghai_iso(added.uploaded_at)}


@router.get("/apply", response_class=HTMLResponse, include_in_schema=False)
async def apply_page(request: Request, config: ConfigDep) -> Response:
    """网上申请 (the worker's page): the same fields and checks as the clerk's desk, the personal-information
    statement, evidence to add once the case number is known."""
    public_door.mark(request, None, "read", "page")
    groups = [g for u in config.hierarchy.units.values() if u.parent is None
              for g in desk_views.region_groups(config, u.code)]
    return pages.render(request, "public_apply.html", {
        "groups": groups, "claims": glossary.CLAIM, "kinds": {k: glossary.ATTACHMENT_KIND[k] for k in KINDS},
        "words": desk_views.words(config)})

