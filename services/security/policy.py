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
Action = Literal["read", "write", "stream", "export", "operate", "audit"]
ROLES: tuple[Role, ...] = ("clerk", "mediator", "legal_aid_officer", "supervisor", "partner", "operator")
ROLE_ZH = {"clerk": "受理员", "mediator": "调解员", "legal_aid_officer": "法律援助工作人员", "supervisor": "督办人员",
           "partner": "合作单位（法院、仲裁委）", "operator": "运维人员"}

#: What each role may do at all; scope decides where.
ACTIONS: dict[Role, frozenset[Action]] = {
    "clerk": frozenset({"read", "write"}),
    "mediator": frozenset({"read", "write"}),
    "legal_aid_officer": frozenset({"read", "write"}),
    "supervisor": frozenset({"read", "write", "stream", "export", "audit"}),
    "partner": frozenset({"read"}),
    "operator": frozenset({"operate", "audit"}),
}

#: Roles that need workers' ID and phone numbers in full (to register, contact, represent them).
SEES_PII: frozenset[Role] = frozenset({"clerk", "mediator", "legal_aid_officer"})


@dataclass(frozen=True)
class Principal:
    """Who is acting: an authenticated person or partner (from a verified token)."""

    subject: str
    role: Role
    org_unit: str | None = None
    partner_code: str | None = None
    name: str = ""
    #: the mediator this account is (a mediator acts only as themselves)
    mediator_id: str | None = None
    #: the token's id (revocation) and expiry (Unix seconds; streams end with it)
    token_id: str | None = None
    expires_at: float | None = None

    @property
    def sees_pii(self) -> bool:
        return self.role in SEES_PII

    @property
    def display_name(self) -> str:
        """What a case log records as the actor: the person's name, else the account."""
        return self.name or self.subject


def in_scope(p: Principal, unit: str | None, hierarchy: Hierarchy) -> bool:
    if unit is None or p.org_unit is None:
        return False
    if p.role == "mediator":
        return unit == p.org_unit
    return hierarchy.is_within(unit, p.org_unit)


def can(p: Principal, action: Action, *, unit: str | None, hierarchy: Hierarchy,
        partner_code: str | None = None) -> bool:
    """May ``p`` do ``action`` on something held by ``unit`` (or referred by ``partner_code``)?

    ``audit``: read the audit entries of people of ``unit`` (operators: everyone's; supervisors: their own unit
    and everything below it — a province's supervisor never reads another province's trail)."""
    if action not in ACTIONS[p.role]:
        return False
    if p.role == "operator":
        return True
    if p.role == "partner":
        return partner_code is not None and partner_code == p.partner_code
    return in_scope(p, unit, hierarchy)


#: The principal of in-process functional tests, which run without authentication. It exists only as this one
#: object (an account called "system" is an ordinary account): privilege is ``p is SYSTEM``, never a name.
SYSTEM = Principal("system", "supervisor", None)


def audit_scope(p: Principal, hierarchy: Hierarchy) -> tuple[str, ...] | None:
    """The units whose people's audit entries ``p`` may read: None means all (operators); () none."""
    if p is SYSTEM:
        return None
    if "audit" not in ACTIONS[p.role]:
        return ()
    if p.role == "operator":
        return None
    return hierarchy.subtree(p.org_unit) if p.org_unit else ()
