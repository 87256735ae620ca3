"""Intake's printable documents: ``GET /api/v1/cases/{case_id}/documents/receipt.pdf`` (受理回执)."""

from __future__ import annotations

from fastapi import APIRouter
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
