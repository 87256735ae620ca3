"""What legal aid runs with: the hierarchy and the eligibility policy, and the names of its clocks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from services.hierarchy.orgunits import Hierarchy, default_hierarchy
from services.legal_aid.domain.eligibility import Policy, default_policy

#: the case's resolution clock (adopted from intake or mediation), the 7-day decision, the 3-day assignment
TIER, DECISION, ASSIGNMENT = "tier", "legal_aid_decision", "lawyer_assignment"


@dataclass(frozen=True)
class LegalAidConfig:
    hierarchy: Hierarchy
    policy: Policy

    @classmethod
    def default(cls) -> LegalAidConfig:
        return cls(default_hierarchy(), default_policy())


@lru_cache(maxsize=1)
def configured() -> LegalAidConfig:
    """The service's configuration (the HTTP dependency; tests may override it)."""
    return LegalAidConfig.default()


def missing(case_id: str) -> str:
    """The one answer for a legal-aid case that is not here, or not the caller's."""
    return f"法律援助案件 {case_id} 不存在"
