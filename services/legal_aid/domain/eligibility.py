"""Who gets legal aid (法律援助法 Art. 41–44), as configurable rules. Pure."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any

from services.calendar.rules import DueRule

DEFAULT_FILE = Path(__file__).parent.parent / "data" / "policy.json"


@dataclass(frozen=True)
class Applicant:
    migrant_worker: bool
    claim_types: frozenset[str]
    region_code: str
    monthly_income_per_capita: Decimal | None = None
    limitation_date: date | None = None


@dataclass(frozen=True)
class Assessment:
    means_test_skipped: bool
    within_income_threshold: bool | None
    urgent: bool
    recommendation: str  # approve | deny | needs_income
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Policy:
    skip_for_migrants: bool
    skip_claim_types: frozenset[str]
    thresholds: dict[str, Decimal]
    urgent_days: int
    decision: DueRule
    assignment: DueRule

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Policy:
        skip = raw.get("skip_means_test", {})
        clocks = raw["clocks"]
        return cls(
            skip_for_migrants=bool(skip.get("migrant_worker", True)),
            skip_claim_types=frozenset(skip.get("claim_types_any", [])),
            thresholds={k: Decimal(str(v)) for k, v in raw.get("income_threshold_cny", {"default": 2000}).items()},
            urgent_days=int(raw.get("urgent_days", 7)),
            decision=DueRule(clocks["decision"]["method"], int(clocks["decision"]["days"])),
            assignment=DueRule(clocks["assignment"]["method"], int(clocks["assignment"]["days"])),
        )

    def threshold(self, region_code: str) -> Decimal:
        return self.thresholds.get(region_code[:2], self.thresholds.get("default", Decimal(2000)))

    def assess(self, a: Applicant, *, today: date) -> Assessment:
        reasons: list[str] = []
        skipped = self.skip_for_migrants and a.migrant_worker and bool(a.claim_types & self.skip_claim_types)
        within: bool | None = None
        if skipped:
            reasons.append("进城务工人员请求支付劳动报酬或工伤赔偿，免予核查经济困难状况（法律援助法第四十二条）")
            recommendation = "approve"
        elif a.monthly_income_per_capita is None:
            recommendation = "needs_income"
            reasons.append("需申请人提供家庭人均月收入材料")
        else:
            limit = self.threshold(a.region_code)
            within = a.monthly_income_per_capita <= limit
            recommendation = "approve" if within else "deny"
            verdict = "未超过" if within else "超过"
            reasons.append(f"家庭人均月收入 {a.monthly_income_per_capita:,.2f} 元，{verdict}当地标准 {limit:,.2f} 元")
        urgent = a.limitation_date is not None and a.limitation_date - today < timedelta(days=self.urgent_days)
        if urgent:
            reasons.append(f"距仲裁时效或起诉期限不足{self.urgent_days}日，可先行提供法律援助（法律援助法第四十四条）")
        return Assessment(skipped, within, urgent, recommendation, tuple(reasons))


def lawyer_fits(specialties: Iterable[str], claim_types: Iterable[str]) -> bool:
    return bool(set(specialties) & set(claim_types))


@lru_cache(maxsize=1)
def default_policy() -> Policy:
    path = Path(os.environ.get("LABORCASE_LEGAL_AID_POLICY_FILE", DEFAULT_FILE))
    return Policy.from_json(json.loads(path.read_text(encoding="utf-8")))
