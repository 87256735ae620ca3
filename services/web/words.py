"""How values read on a page: money as ``18,600.00 元``, times in Chinese and Shanghai time, units by name. Pure."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from events.glossary import zh
from services.calendar.model import SHANGHAI
from services.hierarchy.orgunits import Hierarchy, default_hierarchy

__all__ = ["day", "money", "plain", "unit_name", "when", "zh"]


def money(value: Any) -> str:
    """``18600`` → ``18,600.00 元``; nothing → ``—``."""
    if value is None or value == "":
        return "—"
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    return f"{amount:,.2f} 元"


def _instant(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            return None
    if moment.tzinfo is None:
        return moment
    return moment.astimezone(SHANGHAI)


def when(value: Any) -> str:
    """An instant as people read it here: ``2026年12月3日 14:30`` (Asia/Shanghai)."""
    moment = _instant(value)
    if moment is None:
        return "—" if value in (None, "") else str(value)
    return f"{moment.year}年{moment.month}月{moment.day}日 {moment.hour:02d}:{moment.minute:02d}"


def day(value: Any) -> str:
    """A date: ``2026年12月3日``."""
    if isinstance(value, date) and not isinstance(value, datetime):
        d = value
    else:
        moment = _instant(value)
        if moment is None:
            try:
                d = date.fromisoformat(str(value)[:10])
            except ValueError:
                return "—" if value in (None, "") else str(value)
        else:
            d = moment.date()
    return f"{d.year}年{d.month}月{d.day}日"


def unit_name(code: Any, hierarchy: Hierarchy | None = None) -> str:
    """A union unit by its name (``QH-XN-CD`` → ``城东区总工会``); an unknown code says so."""
    if not code:
        return "—"
    unit = (hierarchy or default_hierarchy()).get(str(code))
    return unit.name if unit else f"未知单位（{code}）"


def plain(value: Any) -> str:
    """A value of a log entry's detail as text: lists joined, booleans as 是/否, money-looking keys left to callers."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, (list, tuple)):
        return "、".join(plain(v) for v in value)
    if isinstance(value, dict):
        return "；".join(plain(v) for v in value.values())
    return "" if value is None else str(value)
