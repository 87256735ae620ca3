"""The answer carrying a document: a PDF, shown in the browser (printable) with a filename to save it under."""

from __future__ import annotations

from urllib.parse import quote

from fastapi.responses import Response

TITLES = {"receipt": "受理回执", "agreement": "调解协议书", "feedback-letter": "委托调解反馈函",
          "legal-aid-decision": "法律援助决定书"}


def pdf_response(kind: str, case_id: str, content: bytes, *, download: bool = False) -> Response:
    name = f"{case_id}-{TITLES.get(kind, kind)}.pdf"
    disposition = "attachment" if download else "inline"
    return Response(content, media_type="application/pdf", headers={
        "content-disposition": f"{disposition}; filename=\"{case_id}-{kind}.pdf\"; filename*=UTF-8''{quote(name)}",
        "cache-control": "private, no-store", "x-content-type-options": "nosniff"})
