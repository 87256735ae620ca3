"""The statistics supervisors read (docs/domain/case.md), by region, org unit, period and tier, and as CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg

from events.common import CLAIM_ZH
from services.calendar.model import SHANGHAI
from services.supervision import repository
from services.supervision.domain.timeline import CHANNEL_ZH, TIER_ZH

MEDIATION_TARGET = 0.6  # union plans: 调解成功率保持在60%以上


@dataclass(frozen=True)
class Scope:
    region: str | None = None
    org_units: tuple[str, ...] | None = None
    start: date | None = None
    end: date | None = None
    tier: str | None = None

    @property
    def region_prefix(self) -> str | None:
        if not self.region:
            return None
        r = self.region
        return r[:2] if r.endswith("0000") else r[:4] if r.endswith("00") else r

    def params(self) -> list[Any]:
        """The statements' scope parameters (repository._IN_SCOPE)."""
        start = datetime.combine(self.start, time.min, SHANGHAI) if self.start else None
        end = datetime.combine(self.end + timedelta(days=1), time.min, SHANGHAI) if self.end else None
        units = list(self.org_units) if self.org_units is not None else None
        return [self.region_prefix, units, start, end, self.tier]


async def count_overdue_now(db: asyncpg.Connection | asyncpg.Pool, scope: Scope) -> int:
    """Cases overdue now (当前超期) within the scope: the figure of the statistics and of the live board's 已超期."""
    return await repository.overdue_now(db, scope.params())


async def compute(db: asyncpg.Connection | asyncpg.Pool, scope: Scope) -> dict[str, Any]:
    p = scope.params()
    totals = await repository.stats_totals(db, p)
    by_channel = await repository.stats_by_channel(db, p)
    by_claim = await repository.stats_by_claim_type(db, p)
    on_time = {r["tier"]: {"resolved": r["resolved"], "on_time": r["on_time"],
                           "rate": round(r["on_time"] / r["resolved"], 4) if r["resolved"] else None}
               for r in await repository.stats_on_time(db, p)}
    overdue_now = await count_overdue_now(db, scope)
    decided = totals["settled"] + totals["failed"]
    rate = round(totals["settled"] / decided, 4) if decided else None
    return {
        "scope": {"region": scope.region, "org_units": list(scope.org_units) if scope.org_units else None,
                  "from": scope.start.isoformat() if scope.start else None,
                  "to": scope.end.isoformat() if scope.end else None, "tier": scope.tier},
        "received": {"total": totals["received"], "by_channel": by_channel, "by_claim_type": by_claim},
        "workers": int(totals["workers"]),
        "group_disputes": totals["group_disputes"],
        "on_time": on_time,
        "overdue_now": overdue_now,
        "mediation": {"settled": totals["settled"], "failed": totals["failed"], "success_rate": rate,
                      "target": MEDIATION_TARGET, "meets_target": rate is not None and rate >= MEDIATION_TARGET},
        "returned": {"court": totals["to_court"], "arbitration": totals["to_arbitration"]},
        "legal_aid": {"cases": totals["legal_aid_cases"], "recovered_cny": float(totals["recovered"])},
        "satisfaction": {"responses": totals["satisfaction_n"],
                         "average": round(float(totals["satisfaction_avg"]), 2) if totals["satisfaction_avg"] else None},
        "online_share": round(totals["online"] / totals["received"], 4) if totals["received"] else None,
        "closed": totals["closed"],
    }


def _safe(value: Any) -> str:
    """CSV cells that a spreadsheet would run as a formula are quoted as text (CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def to_csv(stats: dict[str, Any]) -> str:
    rows: list[tuple[str, str, Any]] = [
        ("受理", "案件总数", stats["received"]["total"]),
        *(("受理渠道", CHANNEL_ZH.get(k, k), v) for k, v in stats["received"]["by_channel"].items()),
        *(("诉求类型", CLAIM_ZH.get(k, k), v) for k, v in stats["received"]["by_claim_type"].items()),
        ("受理", "涉及职工人数", stats["workers"]),
        ("受理", "集体争议", stats["group_disputes"]),
        *(("按期办结率", TIER_ZH.get(t, t), v["rate"]) for t, v in stats["on_time"].items()),
        ("督办", "当前超期案件", stats["overdue_now"]),
        ("调解", "调解成功", stats["mediation"]["settled"]),
        ("调解", "调解不成", stats["mediation"]["failed"]),
        ("调解", "调解成功率", stats["mediation"]["success_rate"]),
        ("调解", "目标（≥60%）是否达成", "是" if stats["mediation"]["meets_target"] else "否"),
        ("退回", "退回法院", stats["returned"]["court"]),
        ("退回", "转仲裁", stats["returned"]["arbitration"]),
        ("法律援助", "援助案件", stats["legal_aid"]["cases"]),
        ("法律援助", "挽回金额（元）", stats["legal_aid"]["recovered_cny"]),
        ("回访", "满意度样本", stats["satisfaction"]["responses"]),
        ("回访", "平均满意度", stats["satisfaction"]["average"]),
        ("受理", "网上受理占比", stats["online_share"]),
    ]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["类别", "指标", "数值"])
    for group, name, value in rows:
        writer.writerow([_safe(group), _safe(name), _safe(value)])
    return "\ufeff" + out.getvalue()  # BOM: Excel opens UTF-8 Chinese correctly
