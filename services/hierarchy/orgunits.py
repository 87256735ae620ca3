"""The union hierarchy (province → city → county → station) and which unit serves a case.

A unit covers region codes by prefix: ``630000`` a whole province, ``630100`` a prefecture,
``630102`` a county. The most specific covering unit serves a case. A cross-province station
(省际联动维权, e.g. Sichuan's Beijing station) serves workers from its home province in its region.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

DEFAULT_FILE = Path(__file__).parent / "data" / "orgunits.json"
Level = Literal["province", "city", "county", "station"]


def _prefix(region: str) -> str:
    """The significant prefix of a region code: 630000 → 63, 630100 → 6301, 630102 → 630102."""
    if region.endswith("0000"):
        return region[:2]
    if region.endswith("00"):
        return region[:4]
    return region


@dataclass(frozen=True)
class OrgUnit:
    code: str
    name: str
    level: Level
    parent: str | None
    regions: tuple[str, ...] = ()
    serves_home_province: str | None = None
    attributes: dict[str, Any] = field(default_factory=dict, compare=False)

    def covers(self, region: str) -> int:
        """How specifically this unit covers ``region`` (0: not at all)."""
        return max((len(_prefix(r)) for r in self.regions if region.startswith(_prefix(r))), default=0)


@dataclass(frozen=True)
class Hierarchy:
    units: dict[str, OrgUnit]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Hierarchy:
        units = {}
        for u in raw["units"]:
            unit = OrgUnit(code=u["code"], name=u["name"], level=u["level"], parent=u.get("parent"),
                           regions=tuple(u.get("regions", ())), serves_home_province=u.get("serves_home_province"),
                           attributes={k: v for k, v in u.items() if k not in OrgUnit.__dataclass_fields__})
            units[unit.code] = unit
        for unit in units.values():
            if unit.parent is not None and unit.parent not in units:
                raise ValueError(f"unit {unit.code} has unknown parent {unit.parent}")
        return cls(units)

    @classmethod
    def load(cls, path: Path) -> Hierarchy:
        return cls.from_json(json.loads(path.read_text(encoding="utf-8")))

    def get(self, code: str) -> OrgUnit | None:
        return self.units.get(code)

    def parent(self, code: str) -> OrgUnit | None:
        unit = self.units.get(code)
        return self.units.get(unit.parent) if unit and unit.parent else None

    def ancestors(self, code: str) -> Iterator[OrgUnit]:
        """The unit itself, then its parent, up to the province."""
        unit = self.units.get(code)
        while unit is not None:
            yield unit
            unit = self.units.get(unit.parent) if unit.parent else None

    def subtree(self, code: str) -> tuple[str, ...]:
        """The unit and every unit below it."""
        return tuple(u.code for u in self.units.values() if self.is_within(u.code, code))

    def is_within(self, code: str, ancestor: str) -> bool:
        return any(u.code == ancestor for u in self.ancestors(code))

    def root(self, code: str) -> OrgUnit | None:
        """The province a unit belongs to."""
        last = None
        for unit in self.ancestors(code):
            last = unit
        return last

    def common_ancestor(self, a: str, b: str) -> str | None:
        """The lowest unit both ``a`` and ``b`` lie within (None across provinces)."""
        above_b = {u.code for u in self.ancestors(b)}
        return next((u.code for u in self.ancestors(a) if u.code in above_b), None)

    def serving(self, region: str, *, home_province: str | None = None) -> OrgUnit | None:
        """The unit that serves a case in ``region`` (a worker from ``home_province``, 2 digits)."""
        local = [(u.covers(region), u) for u in self.units.values() if u.serves_home_province is None]
        best = max(local, key=lambda pair: pair[0], default=(0, None))
        if best[0]:
            return best[1]
        remote = [(u.covers(region), u) for u in self.units.values()
                  if u.serves_home_province and u.serves_home_province == home_province]
        best = max(remote, key=lambda pair: pair[0], default=(0, None))
        return best[1] if best[0] else None


@lru_cache(maxsize=1)
def default_hierarchy() -> Hierarchy:
    return Hierarchy.load(Path(os.environ.get("LABORCASE_ORG_UNITS_FILE", DEFAULT_FILE)))
