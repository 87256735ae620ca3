"""The statistics supervisors read (docs/domain/case.md), by region, org unit, period and tier, and as CSV."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

import asyncpg

from events.glossary import zh
from services.backbone.db import snapshot
from services.calendar.model import SHANGHAI
from services.hierarchy.orgunits import Hierarchy
from services.supervision import repository
from services.web.words import day, unit_name, when

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


def _rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _figure(r: Any) -> dict[str, Any]:
    return {"open_cases": r["open_cases"], "settled": r["settled"], "concluded": r["concluded"],
            "success_rate": _rate(r["settled"], r["concluded"]), "on_time": r["on_time"], "timed": r["timed"],
            "on_time_rate": _rate(r["on_time"], r["timed"]),
            "avg_days_to_settle": round(float(r["settle_days"]), 1) if r["settle_days"] is not None else None}


async def figures(db: asyncpg.Connection | asyncpg.Pool, scope: Scope, hierarchy: Hierarchy) -> dict[str, Any]:
    """The mediators' figures, per mediator and per unit (by name): caseload (open cases), success rate (settled of
    concluded mediations), on-time rate (tier clock met in time of those ended), average days to a settlement."""
    p = scope.params()
    async with snapshot(db) as conn:  # the mediators' and the units' figures as of one commit
        mediators, units = await repository.mediator_figures(conn, p), await repository.unit_figures(conn, p)
    return {
        "mediators": [{"mediator_id": r["mediator_id"], "mediator_name": r["mediator_name"] or "（姓名未记录）",
                       "org_unit": r["org_unit"], "org_unit_name": unit_name(r["org_unit"], hierarchy), **_figure(r)}
                      for r in mediators],
        "units": [{"org_unit": r["org_unit"], "org_unit_name": unit_name(r["org_unit"], hierarchy),
                   "mediators": r["mediators"], **_figure(r)} for r in units],
    }


async def compute(db: asyncpg.Connection | asyncpg.Pool, scope: Scope) -> dict[str, Any]:
    """The statistics of ``scope``, every figure as of one commit (``snapshot``): read one by one on the pool, a
    case committed between two reads showed in one figure and not in the next (by channel, not in the total)."""
    async with snapshot(db) as conn:
        return await _compute(conn, scope)


async def _compute(db: asyncpg.Connection, scope: Scope) -> dict[str, Any]:
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


def _pct(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _bom_csv(rows: list[list[Any]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([_safe(v) for v in row])
    return "\ufeff" + out.getvalue()  # BOM: Excel opens UTF-8 Chinese correctly


FIGURE_HEADER = ["在办案件", "调解结束", "调解成功", "调解成功率", "按期办结率", "平均调解成功用时（天）"]


def _figure_cells(f: dict[str, Any]) -> list[Any]:
    return [f["open_cases"], f["concluded"], f["settled"], _pct(f["success_rate"]), _pct(f["on_time_rate"]),
            "" if f["avg_days_to_settle"] is None else f["avg_days_to_settle"]]


def figures_csv(figs: dict[str, Any]) -> str:
    """The mediators' figures as a spreadsheet: per mediator, then per unit."""
    rows: list[list[Any]] = [["调解员", "所属单位", *FIGURE_HEADER]]
    rows += [[m["mediator_name"], m["org_unit_name"], *_figure_cells(m)] for m in figs["mediators"]]
    rows += [[], ["单位", "调解员人数", *FIGURE_HEADER]]
    rows += [[u["org_unit_name"], u["mediators"], *_figure_cells(u)] for u in figs["units"]]
    return _bom_csv(rows)


CASE_HEADER = ["案件编号", "法院/仲裁案号", "受理时间", "受理渠道", "分级", "状态", "阶段", "承办单位", "调解员",
               "诉求类型", "诉求金额（元）", "涉及职工人数", "用人单位", "办结期限", "当前超期", "按期办结", "调解结果",
               "调解金额（元）", "法律援助挽回（元）", "满意度", "办结时间"]
#: The most case rows one export holds (a narrower period or unit for more).
CASE_ROWS_MAX = 50_000


async def case_rows(db: asyncpg.Connection | asyncpg.Pool, scope: Scope) -> list[asyncpg.Record]:
    return await repository.stats_cases(db, scope.params(), CASE_ROWS_MAX)


def _yes(value: bool | None) -> str:
    return "" if value is None else ("是" if value else "否")


def _amount(value: Any) -> str:
    return "" if value is None else f"{value:.2f}"


def cases_csv(rows: list[Any], hierarchy: Hierarchy) -> str:
    """The case-level rows of the statistics' scope (no personal data of the workers: their number only)."""
    out: list[list[Any]] = [CASE_HEADER]
    for r in rows:
        out.append([r["case_id"], "；".join(r["refs"] or []), when(r["received_at"]), zh("channel", r["channel"]),
                    zh("tier_short", r["tier"]), zh("status", r["status"]), zh("stage", r["stage"]),
                    unit_name(r["org_unit"], hierarchy), r["mediator_name"] or "",
                    "、".join(zh("claim", c) for c in r["claim_types"]), _amount(r["claim_amount"]), r["worker_count"],
                    r["employer_name"] or "", when(r["due_at"]) if r["due_at"] else "", _yes(r["overdue"]),
                    _yes(r["on_time"]), zh("outcome", r["mediation_outcome"]) if r["mediation_outcome"] else "",
                    _amount(r["settled_amount"]), _amount(r["amount_recovered"]),
                    "" if r["satisfaction"] is None else r["satisfaction"],
                    day(r["resolved_at"]) if r["resolved_at"] else ""])
    return _bom_csv(out)


def to_csv(stats: dict[str, Any]) -> str:
    rows: list[tuple[str, str, Any]] = [
        ("受理", "案件总数", stats["received"]["total"]),
        *(("受理渠道", zh("channel", k), v) for k, v in stats["received"]["by_channel"].items()),
        *(("诉求类型", zh("claim", k), v) for k, v in stats["received"]["by_claim_type"].items()),
        ("受理", "涉及职工人数", stats["workers"]),
        ("受理", "集体争议", stats["group_disputes"]),
        *(("按期办结率", zh("tier_short", t), _pct(v["rate"])) for t, v in stats["on_time"].items()),
        ("督办", "当前超期案件", stats["overdue_now"]),
        ("调解", "调解成功", stats["mediation"]["settled"]),
        ("调解", "调解不成", stats["mediation"]["failed"]),
        ("调解", "调解成功率", _pct(stats["mediation"]["success_rate"])),
        ("调解", "目标（≥60%）是否达成", "是" if stats["mediation"]["meets_target"] else "否"),
        ("退回", "退回法院", stats["returned"]["court"]),
        ("退回", "转仲裁", stats["returned"]["arbitration"]),
        ("法律援助", "援助案件", stats["legal_aid"]["cases"]),
        ("法律援助", "挽回金额（元）", stats["legal_aid"]["recovered_cny"]),
        ("回访", "满意度样本", stats["satisfaction"]["responses"]),
        ("回访", "平均满意度", stats["satisfaction"]["average"]),
        ("受理", "网上受理占比", _pct(stats["online_share"])),
    ]
    return _bom_csv([["类别", "指标", "数值"], *([g, n, "" if v is None else v] for g, n, v in rows)])
