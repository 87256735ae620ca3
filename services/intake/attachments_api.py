"""Attachments of a case (证据材料): ``POST /api/v1/cases/{case_id}/attachments`` (multipart: ``file``, ``kind``,
``note``), ``GET …/attachments`` (the list) and ``GET …/attachments/{attachment_id}`` (the file). Intake keeps the
case file for every stage; whoever works the case in scope — clerk, mediator, legal-aid officer, supervisor — may
read and add; a court or bureau reads none of them (what a partner may read: docs/adr/0006). Every upload and
download is audited (the edge's audit row names the case). The bytes live where ``LABORCASE_ATTACHMENT_STORE``
says (services/evidence/store.py)."""

from __future__ import annotations

import uuid
import weakref
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect

from services.backbone import usecase
from services.backbone.errors import Invalid, NotFound
from services.backbone.http import Problem, at_once
from services.backbone.runtime import Runtime
from services.calendar.model import shanghai_iso
from services.evidence.store import ObjectStore, checked, store_for
from services.intake import attachments
from services.intake import repository as repo
from services.intake.deps import RuntimeDep, case_guard
from services.intake.models import Attachment
from services.security.guard import acting, is_system, principal

router = APIRouter()
WORKERS = ("clerk", "mediator", "legal_aid_officer", "supervisor")
CaseFileReader = Annotated[str, Depends(case_guard("read", WORKERS))]
CaseFileWriter = Annotated[str, Depends(case_guard("write", WORKERS))]
_stores: weakref.WeakKeyDictionary[Runtime, ObjectStore | None] = weakref.WeakKeyDictionary()


def object_store(runtime: RuntimeDep) -> ObjectStore | None:
    """The running service's object store (one client per process), or None: bytes in PostgreSQL."""
    if runtime not in _stores:
        _stores[runtime] = store_for(runtime.settings)
    return _stores[runtime]


StoreDep = Annotated[ObjectStore | None, Depends(at_once(object_store))]


def described(a: Attachment) -> dict[str, Any]:
    return {"attachment_id": str(a.attachment_id), "case_id": a.case_id, "kind": a.kind, "filename": a.filename,
            "content_type": a.content_type, "size_bytes": a.size_bytes, "sha256": a.sha256, "note": a.note,
            "uploaded_by": a.uploaded_by, "uploaded_by_name": a.uploaded_by_name or a.uploaded_by,
            "uploaded_at": shanghai_iso(a.uploaded_at),
            "href": f"/api/v1/cases/{a.case_id}/attachments/{a.attachment_id}"}


@router.post("/api/v1/cases/{case_id}/attachments", status_code=201,
             openapi_extra={"requestBody": {"content": {"multipart/form-data": {"schema": {
                 "type": "object", "required": ["file", "kind"],
                 "properties": {"file": {"type": "string", "format": "binary"}, "kind": {"type": "string"},
                                "note": {"type": "string", "maxLength": 500}}}}}}})
async def upload(request: Request, case_id: CaseFileWriter, runtime: RuntimeDep, store: StoreDep) -> dict[str, Any]:
    settings = runtime.settings
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Problem(415, "请以 multipart/form-data 上传文件")
    try:
        form = await request.form(max_files=1, max_fields=4, max_part_size=64 * 1024)
    except ClientDisconnect:
        raise Problem(408, "上传中断，文件未保存") from None
    except Exception as exc:  # malformed multipart (python-multipart / Starlette refuse it): nothing was stored
        raise Problem(400, f"上传内容格式不正确：{exc}") from None
    try:
        file, kind, note = form.get("file"), form.get("kind"), form.get("note") or ""
        if not isinstance(file, UploadFile):
            raise Invalid("请选择要上传的文件", errors=[("file", "请选择文件")])
        if not isinstance(kind, str) or not isinstance(note, str) or len(note) > 500:
            raise Invalid("材料类别或说明不正确", errors=[("kind", "请选择材料类别"), ("note", "说明不超过500字")])
        content = await file.read(settings.attachment_max_bytes + 1)
        limits = attachments.Limits(settings.attachment_max_bytes, settings.attachment_case_max_bytes,
                                    settings.attachment_case_max_files)
        me = principal(request)
        actor = acting(request) if is_system(me) else me.subject
        added = await attachments.upload(
            lambda step: usecase.run(runtime, step), case_id, store=store, kind=kind, filename=file.filename,
            content=content, note=note, actor=actor, actor_name=acting(request), limits=limits)
    finally:
        await form.close()
    return described(added)


@router.get("/api/v1/cases/{case_id}/attachments")
async def listed(case_id: CaseFileReader, runtime: RuntimeDep) -> dict[str, Any]:
    items = await repo.attachments_of(runtime.pool, case_id)
    files, stored = await repo.case_storage(runtime.pool, case_id)
    return {"attachments": [described(a) for a in items], "files": files, "bytes": stored,
            "limits": {"file_bytes": runtime.settings.attachment_max_bytes,
                       "case_bytes": runtime.settings.attachment_case_max_bytes,
                       "case_files": runtime.settings.attachment_case_max_files}}


@router.get("/api/v1/cases/{case_id}/attachments/{attachment_id}", response_class=Response)
async def download(case_id: CaseFileReader, attachment_id: uuid.UUID, runtime: RuntimeDep,
                   store: StoreDep) -> Response:
    a = await repo.attachment(runtime.pool, case_id, attachment_id)
    if a is None:
        raise NotFound("没有这份材料")
    content = checked(await attachments.content_of(a, store), a.sha256, where=f"{a.storage}:{a.attachment_id}")
    return Response(content, media_type=a.content_type, headers={
        "content-disposition": f"attachment; filename=\"{attachment_id}\"; filename*=UTF-8''{quote(a.filename)}",
        "x-content-type-options": "nosniff", "content-security-policy": "sandbox", "cache-control": "private, no-store",
        "x-laborcase-sha256": a.sha256})
