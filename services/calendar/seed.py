"""Calendar data sources: the ``chinese-calendar`` package, and the operator's file."""

from __future__ import annotations

import json
from datetime import date
from importlib.metadata import version
from pathlib import Path
from typing import Any

from services.calendar.model import YearData


def package_years() -> list[YearData]:
    """Every year the installed ``chinese-calendar`` knows (its data ends with the latest notice)."""
    from chinese_calendar import constants

    source = f"chinese-calendar {version('chinese-calendar')}"
    years = sorted({d.year for d in constants.holidays} | {d.year for d in constants.workdays})
    out = []
    for year in years:
        holidays = frozenset(d for d in constants.holidays if d.year == year)
        workdays = frozenset(d for d in constants.workdays if d.year == year and d.weekday() >= 5)
        out.append(YearData(year, holidays, workdays, source))
    return out


def parse_year_file(raw: dict[str, Any]) -> YearData:
    """The operator's file: {"year": 2027, "holidays": ["2027-01-01", …], "workdays": [...], "source": "…"}.

    ``holidays`` lists every day off of the notice (weekends inside a holiday period may be listed or
    not); ``workdays`` the make-up working days on weekends.
    """
    try:
        year = int(raw["year"])
        holidays = frozenset(date.fromisoformat(d) for d in raw.get("holidays", []))
        workdays = frozenset(date.fromisoformat(d) for d in raw.get("workdays", []))
        source = str(raw.get("source") or f"operator file for {year}")
        return YearData(year, holidays, workdays, source, int(raw.get("version", 1)))
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"not a calendar year file: {exc}") from exc


def read_year_file(path: Path) -> YearData:
    return parse_year_file(json.loads(path.read_text()))


def year_to_json(y: YearData) -> dict[str, Any]:
    return {"year": y.year, "version": y.version, "source": y.source,
            "holidays": sorted(d.isoformat() for d in y.holidays),
            "workdays": sorted(d.isoformat() for d in y.workdays)}
