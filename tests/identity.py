"""The identities of the test session: one signing key and one accounts file for every test and every service
the tests start (in-process or as subprocesses), with partners whose secrets the tests sign with."""

from __future__ import annotations

import json
from pathlib import Path

from services.security.partners import record_headers, signed_headers

KEY = "test-secret-key-" + "x" * 40
COURT = {"key_id": "court-QH0103", "secret": "court-secret-value", "kind": "court", "code": "QH0103",
         "name": "城中区人民法院"}
OTHER_COURT = {"key_id": "court-QH0104", "secret": "other-secret-value", "kind": "court", "code": "QH0104",
               "name": "城西区人民法院"}
BUREAU = {"key_id": "bureau-XNLZ", "secret": "bureau-secret-value", "kind": "bureau", "code": "XNLZ",
          "name": "西宁市劳动人事争议仲裁委员会"}
PARTNERS = {p["key_id"]: p for p in (COURT, OTHER_COURT, BUREAU)}


def write_accounts(path: Path, users: list[dict] | None = None) -> Path:
    path.write_text(json.dumps({"users": users or [], "partners": list(PARTNERS.values())}, ensure_ascii=False))
    return path


def partner_for(event_type: str) -> dict[str, str]:
    return COURT if event_type.startswith("court.") else BUREAU


def kafka_signature(value: bytes, partner: dict[str, str] | None = None, *, event_type: str = "court.x"
                    ) -> list[tuple[str, bytes]]:
    """The headers a court's (bureau's) producer adds to a record it writes to its partner topic."""
    p = partner or partner_for(event_type)
    return record_headers(p["key_id"], p["secret"], value)


def http_signature(body: bytes, partner: dict[str, str] | None = None, *, event_type: str = "court.x"
                   ) -> dict[str, str]:
    p = partner or partner_for(event_type)
    return signed_headers(p["key_id"], p["secret"], body)
