"""What intake runs with: the triage policy, the union hierarchy and the administrative regions."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from services.hierarchy.orgunits import Hierarchy, default_hierarchy
from services.hierarchy.regions import Regions, default_regions
from services.intake.domain.triage import Policy, default_policy


@dataclass(frozen=True)
class IntakeConfig:
    policy: Policy
    hierarchy: Hierarchy
    regions: Regions

    @classmethod
    def default(cls) -> IntakeConfig:
        return cls(default_policy(), default_hierarchy(), default_regions())

    def serving(self, region_code: str, id_number: str | None = None) -> str | None:
        """The unit that serves a region (and, where a unit serves workers of a home province, that worker)."""
        unit = self.hierarchy.serving(region_code, home_province=id_number[:2] if id_number else None)
        return unit.code if unit else None


@cache
def intake_config() -> IntakeConfig:
    """The configuration the service runs with (one instance; also the API's dependency)."""
    return IntakeConfig.default()
