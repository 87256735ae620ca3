"""Who may do what where — the authorization matrix, pure.

Scope follows the union hierarchy: a mediator sees the cases of their own unit; clerks, legal-aid officers
and supervisors their unit and everything below it; a partner (court, bureau) only the cases it referred;
an operator runs the system and reads no case. Nobody reads another province's cases unless dispatched
there (the case's unit then lies in their subtree).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from services.hierarchy.orgunits import Hierarchy

Role = Literal["clerk", "mediator", "legal_aid_officer", "supervisor", "partner", "operator"]
Action = Literal["read", "write", "stream", "export", "operate"]
ROLES: tuple[Role, ...] = ("clerk", "mediator", "legal_aid_officer", "supervisor", "partner", "operator")
ROLE_ZH = {"clerk": "受理员", "mediator": "调解员", "legal_aid_officer": "法律援助工作人员", "supervisor": "督办人员",
           "partner": "合作单位（法院、仲裁委）", "operator": "运维人员"}

#: What each role may do at all; scope decides where.
ACTIONS: dict[Role, frozenset[Action]] = {
    "clerk": frozenset({"read", "write"}),
    "mediator": frozenset({"read", "write"}),
    "legal_aid_officer": frozenset({"read", "write"}),
    "supervisor": frozenset({"read", "write", "stream", "export"}),
    "partner": frozenset({"read"}),
    "operator": frozenset({"operate"}),
}

#: Roles that need workers' ID and phone numbers in full (to register, contact, represent them).
SEES_PII: frozenset[Role] = frozenset({"clerk", "mediator", "legal_aid_officer"})


@dataclass(frozen=True)
class Principal:
    subject: str
    role: Role
    org_unit: str | None = None
    partner_code: str | None = None
    name: str = ""

    @property
    def sees_pii(self) -> bool:
        return self.role in SEES_PII


def in_scope(p: Principal, unit: str | None, hierarchy: Hierarchy) -> bool:
    if unit is None or p.org_unit is None:
        return False
    if p.role == "mediator":
        return unit == p.org_unit
    return hierarchy.is_within(unit, p.org_unit)


def can(p: Principal, action: Action, *, unit: str | None, hierarchy: Hierarchy,
        partner_code: str | None = None) -> bool:
    """May ``p`` do ``action`` on something held by ``unit`` (or referred by ``partner_code``)?"""
    if action not in ACTIONS[p.role]:
        return False
    if p.role == "operator":
        return True
    if p.role == "partner":
        return partner_code is not None and partner_code == p.partner_code
    return in_scope(p, unit, hierarchy)
