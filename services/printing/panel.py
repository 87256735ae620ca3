"""What a case page's documents panel lists (services/web/templates/documents.html, ``documents_panel``).

A service's page calls ``documents_for(case_id, kinds)`` with the kinds its own documents module says the case
has now (``services.mediation.documents.kinds_of(record)``, ``services.legal_aid.documents.kinds_of(case)``,
``await services.intake.documents.available(pool, case_id)``). Attachments live in intake: intake's pages pass
``attachments_for(items)``; other services pass ``None`` and the panel loads them through the console
(services/console/static/documents.js).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from services.printing.http import TITLES

#: who may add evidence to a case (the attachment route checks the case's scope)
UPLOADERS = frozenset({"clerk", "mediator", "legal_aid_officer", "supervisor"})


def documents_for(case_id: str, kinds: Iterable[str]) -> list[dict[str, str]]:
    base = f"/api/v1/cases/{case_id}/documents"
    return [{"kind": k, "title": TITLES[k], "href": f"{base}/{k}.pdf", "download": f"{base}/{k}.pdf?download=true"}
            for k in kinds if k in TITLES]


def attachments_for(items: Iterable[Any]) -> list[dict[str, Any]]:
    """Intake's ``Attachment`` rows (or their JSON) as the panel shows them."""
    out = []
    for a in items:
        d = a if isinstance(a, dict) else {
            "attachment_id": str(a.attachment_id), "case_id": a.case_id, "kind": a.kind, "filename": a.filename,
            "size_bytes": a.size_bytes, "note": a.note, "uploaded_by": a.uploaded_by, "uploaded_at": a.uploaded_at}
        out.append(d | {"href": f"/api/v1/cases/{d['case_id']}/attachments/{d['attachment_id']}"})
    return out
