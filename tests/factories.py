"""Valid partner events and cases for tests (checksum-valid identifiers, Xining regions)."""

from __future__ import annotations

import itertools
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from events.common import Claim, ClaimType, Employer, Worker
from events.envelope import CloudEvent, new_event
from events.partner import CourtCaseFiled, CourtCaseReferred, CourtConfirmationDecided
from services.intake.domain.identifiers import make_id_number, make_uscc
from tests import clock

_seq = itertools.count(1)


def worker(n: int | None = None, *, area: str = "630102") -> Worker:
    n = n if n is not None else next(_seq)
    return Worker(name=f"职工{n}", id_number=make_id_number(area, date(1990, 1, 1 + n % 28), n),
                  phone=f"139{n:08d}")


def employer(n: int = 1, *, region: str = "630102") -> Employer:
    return Employer(name=f"西宁市示例建筑有限公司{n}", uscc=make_uscc(region, n))


def court_referral(case_no: str | None = None, *, referred_at: datetime | None = None, workers: int = 1,
                   region: str = "630102", **overrides: Any) -> CourtCaseReferred:
    values: dict[str, Any] = {
        "court_code": "QH0103",
        "court_case_no": case_no or f"(2026)青0103民诉前调{next(_seq)}号",
        "referral_kind": "pre_filing",
        "region_code": region,
        "referred_at": referred_at or clock.now(),
        "workers": [worker() for _ in range(workers)],
        "employer": employer(),
        "claims": [Claim(type=ClaimType.wage_arrears, amount_cny=Decimal("12800.00"))],
        "summary": "拖欠三个月工资",
    }
    values.update(overrides)
    return CourtCaseReferred(**values)


def court_event(event_type: str, data: Any, *, event_id: uuid.UUID | None = None) -> CloudEvent:
    return new_event(event_type, source="court/QH0103", data=data, subject=data.court_case_no, event_id=event_id)


def referred(case_no: str | None = None, **kw: Any) -> CloudEvent:
    return court_event("court.case_referred", court_referral(case_no, **kw))


def decided(case_no: str, decision: str = "confirmed") -> CloudEvent:
    return court_event("court.confirmation_decided", CourtConfirmationDecided(
        court_case_no=case_no, decision=decision, decided_at=clock.now(), reason=""))  # type: ignore[arg-type]


def filed(case_no: str) -> CloudEvent:
    return court_event("court.case_filed", CourtCaseFiled(court_case_no=case_no, filed_at=clock.now()))
