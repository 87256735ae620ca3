"""Intake's printable documents: ``GET /api/v1/cases/{case_id}/documents/receipt.pdf`` (受理回执)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.backbone.errors import NotFound
from services.intake import documents
from services.intake.deps import ConfigDep, ReadableCase, RuntimeDep
from services.printing.http import pdf_response

router = APIRouter()


@router.get("/api/v1/cases/{case_id}/documents/receipt.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}, 404: {"description": "no receipt for this case"}})
async def receipt(case_id: ReadableCase, runtime: RuntimeDep, config: ConfigDep, download: bool = False) -> Response:
    content = await documents.receipt(runtime.pool, case_id, config)
    if content is None:
        raise NotFound(f"案件 {case_id} 没有受理回执")
    return pdf_response("receipt", case_id, content, download=download)


@router.post("/api/v1/cases/{case_id}/documents/receipt.pdf", response_class=Response, include_in_schema=False)
async def first_receipt(request: Request, case_id: ReadableCase, runtime: RuntimeDep, config: ConfigDep) -> Response:
    """The first print, right after registration: the result page posts the code it was given (a form field, never
    in the URL or the audit row); the receipt carries it when it is a live code of this case."""
    form = await request.form(max_files=0, max_fields=2, max_part_size=1024)
    code = form.get("query_code")
    content = await documents.receipt(runtime.pool, case_id, config, query_code=code if isinstance(code, str) else None)
    if content is None:
        raise NotFound(f"案件 {case_id} 没有受理回执")
    return pdf_response("receipt", case_id, content, download=False)
