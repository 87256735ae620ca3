"""Mediation's configuration: the unit hierarchy, the mediation clocks (data/clocks.json), the waiting queue."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from services.calendar.rules import DueRule
from services.hierarchy.orgunits import Hierarchy, default_hierarchy

CLOCKS_FILE = Path(__file__).parent / "data" / "clocks.json"


@dataclass(frozen=True)
class Clocks:
    """The mediation windows: union mediation (15 days), court-entrusted (ordinary / simplified), the extension."""

    union: DueRule
    court_ordinary: DueRule
    court_simplified: DueRule
    extension_days: int

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Clocks:
        def rule(key: str) -> DueRule:
            return DueRule(raw[key]["method"], int(raw[key]["days"]))

        return cls(rule("union_mediation"), rule("court_entrusted_ordinary"), rule("court_entrusted_simplified"),
                   int(raw.get("court_extension_days", 30)))


@lru_cache(maxsize=1)
def default_clocks() -> Clocks:
    return Clocks.from_json(json.loads(Path(os.environ.get("LABORCASE_MEDIATION_CLOCKS_FILE", CLOCKS_FILE)).read_text()))


@dataclass(frozen=True)
class MediationConfig:
    hierarchy: Hierarchy
    clocks: Clocks
    #: how often cases waiting for a mediator with room are offered again
    waiting_queue_seconds: float = 3.0


@lru_cache(maxsize=1)
def default_config() -> MediationConfig:
    """The service's configuration (one per process: the handlers, the routes and the waiting queue share it)."""
    return MediationConfig(default_hierarchy(), default_clocks())
