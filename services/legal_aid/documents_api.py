"""Legal aid's printable document: ``GET /api/v1/cases/{case_id}/documents/legal-aid-decision.pdf``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from services.backbone.errors import NotFound
from services.legal_aid import documents
from services.legal_aid.deps import ConfigDep, ReadableCase, RuntimeDep
from services.printing.http import pdf_response

router = APIRouter()


@router.get("/api/v1/cases/{case_id}/documents/legal-aid-decision.pdf", response_class=Response,
            responses={200: {"content": {"application/pdf": {}}}, 404: {"description": "no decision yet"}})
async def decision(case_id: ReadableCase, runtime: RuntimeDep, config: ConfigDep, download: bool = False) -> Response:
    content = await documents.decision(runtime.pool, case_id, config)
    if content is None:
        raise NotFound(f"案件 {case_id} 尚未作出法律援助决定")
    return pdf_response("legal-aid-decision", case_id, content, download=download)
