"""Mediation's printable documents: the agreement (调解协议书) and the feedback letter (委托调解反馈函).

Read by the case's mediators and supervisors in scope, and by the court or bureau that referred the case — the
only documents a partner reads (docs/adr/0006)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from services.backbone.errors import NotFound
from services.mediation import documents
from services.mediation.deps import ConfigDep, DocumentsCase, RuntimeDep
from services.printing.http import pdf_response

router = APIRouter()
PDF = {200: {"content": {"application/pdf": {}}}, 404: {"description": "the case has no such document (yet)"}}


@router.get("/api/v1/cases/{case_id}/documents/agreement.pdf", response_class=Response, responses=PDF)
async def agreement(case_id: DocumentsCase, runtime: RuntimeDep, config: ConfigDep, download: bool = False) -> Response:
    content = await documents.agreement(runtime.pool, case_id, config)
    if content is None:
        raise NotFound(f"案件 {case_id} 尚无调解协议书")
    return pdf_response("agreement", case_id, content, download=download)


@router.get("/api/v1/cases/{case_id}/documents/feedback-letter.pdf", response_class=Response, responses=PDF)
async def feedback_letter(case_id: DocumentsCase, runtime: RuntimeDep, config: ConfigDep,
                          download: bool = False) -> Response:
    content = await documents.feedback_letter(runtime.pool, case_id, config)
    if content is None:
        raise NotFound(f"案件 {case_id} 没有委托调解反馈函")
    return pdf_response("feedback-letter", case_id, content, download=download)
