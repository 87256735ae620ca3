"""Where a new case will go (分级与去向), pure: its tier, whether it is a group dispute, its route and the unit
that serves it. Registration follows it; the clerk's preview shows it before anything is written."""

from __future__ import annotations

from dataclasses import dataclass

from events.common import Tier
from services.hierarchy.orgunits import Hierarchy, OrgUnit
from services.intake.domain.triage import Decision, Facts, Policy

#: routes that resolve a case in intake itself (当场答复, 告知转出)
RESOLVED_IN_INTAKE = ("answered", "referred_elsewhere")
OUT_OF_AREA = "案发地不在本系统服务范围内，已告知职工向属地工会或劳动保障监察机构求助"


@dataclass(frozen=True)
class Plan:
    decision: Decision
    group_dispute: bool
    route: str
    #: the unit that serves the region (None: no unit of this system serves it)
    unit: OrgUnit | None
    answer: str | None

    @property
    def resolved_in_intake(self) -> bool:
        return self.route in RESOLVED_IN_INTAKE


def plan(policy: Policy, hierarchy: Hierarchy, facts: Facts, *, region_code: str, home_province: str | None,
         tier: Tier | None = None, tier_reason: str | None = None, route: str | None = None,
         answer: str | None = None) -> Plan:
    """The tier (a clerk's override with its reason, else the rules), the route (the clerk's, else the rules) and
    the serving unit; a case no unit serves is referred elsewhere. Raises ``TriageError`` for a refused tier."""
    decision = policy.override(facts, tier, tier_reason) if tier else policy.classify(facts)
    chosen = route or policy.route(facts)
    unit = hierarchy.serving(region_code, home_province=home_province)
    if chosen not in RESOLVED_IN_INTAKE and unit is None:
        chosen, answer = "referred_elsewhere", OUT_OF_AREA
    return Plan(decision, policy.is_group(facts), chosen, unit, answer)
