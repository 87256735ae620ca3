"""The clerk's desk (受理登记台): what the registration page offers — the regions a clerk registers for, grouped
by the union unit that will serve them — and the words its script needs. Reads configuration only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from events import glossary
from services.calendar.model import SHANGHAI
from services.hierarchy.orgunits import OrgUnit
from services.intake.config import IntakeConfig
from services.intake.models import IntakeCase


@dataclass(frozen=True)
class RegionChoice:
    code: str
    label: str


@dataclass(frozen=True)
class RegionGroup:
    """An ``<optgroup>``: the regions one unit serves."""

    unit: str
    choices: list[RegionChoice]


def _significant(region: str) -> str:
    return region[:2] if region.endswith("0000") else region[:4] if region.endswith("00") else region


def region_groups(config: IntakeConfig, org_unit: str | None) -> list[RegionGroup]:
    """Every known region the units at and below ``org_unit`` cover, under the name of the unit that serves it
    (a worker from the clerk's province: out-of-province stations serve those)."""
    hierarchy, regions = config.hierarchy, config.regions
    if org_unit is None or hierarchy.get(org_unit) is None:
        return []
    root = hierarchy.root(org_unit)
    home = root.regions[0][:2] if root and root.regions else None
    prefixes = {_significant(r) for code in hierarchy.subtree(org_unit) for r in hierarchy.units[code].regions}
    groups: dict[str, list[RegionChoice]] = {}
    units: dict[str, OrgUnit] = {}
    for code in sorted(regions.names):
        if not any(code.startswith(p) for p in prefixes):
            continue
        unit = hierarchy.serving(code, home_province=home)
        if unit is None:
            continue
        units[unit.code] = unit
        groups.setdefault(unit.code, []).append(RegionChoice(code, regions.name(code)))
    return [RegionGroup(units[u].name, choices) for u, choices in groups.items()]


def now_local(now: datetime) -> str:
    """The value of a ``datetime-local`` input: now, in Shanghai, to the minute."""
    return now.astimezone(SHANGHAI).strftime("%Y-%m-%dT%H:%M")


def words(config: IntakeConfig) -> dict[str, Any]:
    """What the desk's script shows (labels from the glossary) and checks (the provinces ID numbers may start with)."""
    provinces = sorted({code[:2] for code in config.regions.names if code.endswith("0000")})
    return {"tier": glossary.TIER_SHORT, "tier_long": glossary.TIER, "route": glossary.ROUTE,
            "claim": glossary.CLAIM, "status": glossary.STATUS, "provinces": provinces}


def overrides(case: IntakeCase) -> list[tuple[str, str, str]]:
    """The checksum warnings the clerk overrode, in words: (what, the reason, who)."""
    workers = (case.facts or {}).get("workers", [])
    shown = []
    for w in case.warnings or []:
        if not w.get("override_reason"):
            continue
        field = w.get("field", "")
        if field.startswith("workers["):
            index = int(field[len("workers["):field.index("]")])
            name = workers[index]["name"] if index < len(workers) else ""
            what = f"职工{name}的身份证号校验位不符"
        else:
            what = "用人单位统一社会信用代码校验位不符"
        shown.append((what, w["override_reason"], w.get("overridden_by") or ""))
    return shown
