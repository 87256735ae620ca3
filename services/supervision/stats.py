"""The statistics supervisors read (DESIGN §5), by region, org unit, period and tier, and as CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg

from events.common import CLAIM_ZH
from services.calendar.model import SHANGHAI
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
        start = datetime.combine(self.start, time.min, SHANGHAI) if self.start else None
        end = datetime.combine(self.end + timedelta(days=1), time.min, SHANGHAI) if self.end else None
        units = list(self.org_units) if self.org_units is not None else None
        return [self.region_prefix, units, start, end, self.tier]


_WHERE = ("($1::text IS NULL OR c.region_code LIKE $1 || '%') AND ($2::text[] IS NULL OR c.org_unit = ANY($2)) "
          "AND ($3::timestamptz IS NULL OR c.received_at >= $3) AND ($4::timestamptz IS NULL OR c.received_at < $4) "
          "AND ($5::text IS NULL OR c.tier = $5) AND c.received_at IS NOT NULL")


async def compute(conn: asyncpg.Connection | asyncpg.Pool, scope: Scope) -> dict[str, Any]:
    p = scope.params()
    totals = await conn.fetchrow(
        f"SELECT count(*) AS received, coalesce(sum(worker_count), 0) AS workers, "
        f"count(*) FILTER (WHERE group_dispute) AS group_disputes, "
        f"count(*) FILTER (WHERE channel = 'online') AS online, "
        f"count(*) FILTER (WHERE legal_aid) AS legal_aid_cases, coalesce(sum(amount_recovered), 0) AS recovered, "
        f"count(*) FILTER (WHERE mediation_outcome = 'settled') AS settled, "
        f"count(*) FILTER (WHERE mediation_outcome = 'failed') AS failed, "
        f"count(*) FILTER (WHERE returned_to = 'court') AS to_court, "
        f"count(*) FILTER (WHERE returned_to = 'arbitration') AS to_arbitration, "
        f"count(satisfaction) AS satisfaction_n, avg(satisfaction) AS satisfaction_avg, "
        f"count(*) FILTER (WHERE status = 'closed') AS closed "
        f"FROM cases c WHERE {_WHERE}", *p)
    by_channel = {r["channel"]: r["n"] for r in await conn.fetch(
        f"SELECT channel, count(*) AS n FROM cases c WHERE {_WHERE} GROUP BY channel ORDER BY channel", *p)}
    by_claim = {r["t"]: r["n"] for r in await conn.fetch(
        f"SELECT unnest(claim_types) AS t, count(*) AS n FROM cases c WHERE {_WHERE} GROUP BY 1 ORDER BY 1", *p)}
    on_time = {r["tier"]: {"resolved": r["resolved"], "on_time": r["on_time"],
                           "rate": round(r["on_time"] / r["resolved"], 4) if r["resolved"] else None}
               for r in await conn.fetch(
                   f"SELECT tier, count(*) FILTER (WHERE on_time IS NOT NULL) AS resolved, "
                   f"count(*) FILTER (WHERE on_time) AS on_time FROM cases c WHERE {_WHERE} AND tier IS NOT NULL "
                   f"GROUP BY tier", *p)}
    overdue_now = await conn.fetchval(
        f"SELECT count(DISTINCT a.case_id) FROM alerts a JOIN cases c ON c.case_id = a.case_id "
        f"WHERE a.kind = 'overdue' AND a.state <> 'resolved' AND {_WHERE}", *p)
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
