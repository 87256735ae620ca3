"""行政区划代码 (GB/T 2260): which codes are known.

The table lists codes; a listed parent with listed children is "detailed" and accepts only those
children, a listed parent without children accepts any well-formed code under it (the shipped table
details the demo deployment's territory; a deployment loads the full list with
``LABORCASE_REGIONS_FILE``).
"""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DEFAULT_FILE = Path(__file__).parent / "data" / "regions.csv"


def province_of(code: str) -> str:
    return code[:2] + "0000"


def prefecture_of(code: str) -> str:
    return code[:4] + "00"


@dataclass(frozen=True)
class Regions:
    names: dict[str, str]

    @classmethod
    def load(cls, path: Path) -> Regions:
        with path.open(encoding="utf-8") as f:
            return cls({row["code"]: row["name"] for row in csv.DictReader(f)})

    def _detailed(self, parent: str, level: int) -> bool:
        return any(c != parent and c.startswith(parent[:level]) for c in self.names)

    def is_known(self, code: str) -> bool:
        if len(code) != 6 or not code.isdigit():
            return False
        if code in self.names:
            return True
        province, prefecture = province_of(code), prefecture_of(code)
        if province not in self.names or code[2:4] == "00":
            return False
        if prefecture in self.names:
            return code[4:] != "00" and not self._detailed(prefecture, 4)
        return not self._detailed(province, 2)

    def name(self, code: str) -> str:
        parts = [self.names.get(c) for c in dict.fromkeys((province_of(code), prefecture_of(code), code))]
        return "".join(p for p in parts if p) or code

    def province_known(self, prefix2: str) -> bool:
        return f"{prefix2}0000" in self.names


@lru_cache(maxsize=1)
def default_regions() -> Regions:
    return Regions.load(Path(os.environ.get("LABORCASE_REGIONS_FILE", DEFAULT_FILE)))
