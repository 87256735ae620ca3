"""Hostile partner records, as a broken or malicious court or bureau system may write them to the partner topics.

Used by ``laborcase chaos`` (injected while cases flow) and the tests: each must end in the dead-letter topic
of the topic it was written to, once for every service that reads that topic, and stall nothing.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from events.catalog import CONSUMES

#: header that marks the records of one injection run
TAG_HEADER = "x-hostile"


@dataclass(frozen=True)
class Hostile:
    kind: str
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


def readers(topic: str) -> set[str]:
    """The services that consume ``topic``: each of them must refuse a hostile record written to it."""
    return {service for service, topics in CONSUMES.items() if topic in topics}


def records(tag: str, *, max_event_bytes: int) -> Iterator[Hostile]:
    """One record of every kind: deep nesting, invalid UTF-8, over the size limit, JSON that is not an object,
    wrong types, an unreadable header."""
    tagged = ((TAG_HEADER, tag.encode()),)
    yield Hostile("deep nesting", b"[" * 20_000 + b"]" * 20_000, tagged)
    yield Hostile("invalid UTF-8", b'{"specversion": "1.0", "type": "court.case_referred", "id": "\xff\xfe\xfd"}',
                  tagged)
    yield Hostile("over the size limit", b'{"pad": "' + b"x" * (max_event_bytes + 10) + b'"}', tagged)
    yield Hostile("JSON that is not an object", b'["court.case_referred", 1, 2]', tagged)
    yield Hostile("wrong types", json.dumps({
        "specversion": "1.0", "id": str(uuid.uuid4()), "source": "court/QH0103", "type": "court.case_referred",
        "time": "2026-03-02T09:00:00+08:00",
        "data": {"court_code": 7, "workers": "everyone", "claims": {"a": 1}}}).encode(), tagged)
    yield Hostile("unreadable header", b'{"specversion": "1.0"}',
                  (("ce_specversion", b"1.0"), ("ce_type", b"\xff\xfe"), ("ce_id", b"\x00"), *tagged))


def valid_referral(topic: str, n: int, *, tag: str) -> tuple[str, bytes, list[tuple[str, bytes]]]:
    """A valid partner referral for ``topic`` (court or bureau): (its case number, bytes, headers)."""
    from datetime import UTC, date, datetime

    from events.common import Claim, ClaimType, Employer, Worker
    from events.envelope import encode, kafka_headers, new_event
    from events.partner import BureauCaseReferred, CourtCaseReferred
    from services.intake.domain.identifiers import make_id_number, make_uscc

    worker = Worker(name=f"联动职工{n}", id_number=make_id_number("630103", date(1988, 3, 4), 70_000 + n),
                    phone=f"1378{n:07d}")
    employer = Employer(name=f"西宁联动公司{tag[:4]}{n}", uscc=make_uscc("630103", 80_000 + n))
    claims = [Claim(type=ClaimType.wage_arrears, amount_cny=5000)]  # type: ignore[arg-type]
    now = datetime.now(UTC)
    if topic == "court.events":
        ref = f"({now.year})青0103民诉前调{tag[:6]}{n}号"
        event = new_event("court.case_referred", source="court/QH0103", subject=ref, data=CourtCaseReferred(
            court_code="QH0103", court_case_no=ref, referral_kind="pre_filing", region_code="630103",
            referred_at=now, workers=[worker], employer=employer, claims=claims, summary="联动测试"))
    else:
        ref = f"西劳人仲案字〔{now.year}〕{tag[:6]}{n}号"
        event = new_event("bureau.case_referred", source="bureau/XNLZ", subject=ref, data=BureauCaseReferred(
            bureau_code="XNLZ", arbitration_case_no=ref, region_code="630103", referred_at=now, workers=[worker],
            employer=employer, claims=claims, summary="联动测试"))
    return ref, encode(event), kafka_headers(event)
