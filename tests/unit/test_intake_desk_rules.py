"""The desk's pure rules: the clerk's duplicate choice, and the plan (tier, route, unit) registration follows."""

from __future__ import annotations

from decimal import Decimal

import pytest

from events.common import Claim, ClaimType, Tier
from services.hierarchy.orgunits import default_hierarchy
from services.intake.domain.duplicates import DuplicateChoice, DuplicateChoiceError, case_to_link
from services.intake.domain.plan import OUT_OF_AREA, plan
from services.intake.domain.triage import Facts, TriageError, default_policy

POLICY, HIERARCHY = default_policy(), default_hierarchy()


def test_without_a_choice_the_oldest_possible_duplicate_is_joined():
    assert case_to_link(None, ["LC1", "LC2"]) == "LC1"
    assert case_to_link(None, []) is None


def test_the_clerk_chooses_which_case_to_join_or_a_new_case():
    assert case_to_link(DuplicateChoice("link", "LC2"), ["LC1", "LC2"]) == "LC2"
    assert case_to_link(DuplicateChoice("new", "LC1"), ["LC1"]) is None
    assert case_to_link(DuplicateChoice("new"), []) is None


@pytest.mark.parametrize("choice", [DuplicateChoice("link", "LC9"), DuplicateChoice("link"),
                                    DuplicateChoice("link", "LC1")])
def test_a_link_to_a_case_not_offered_is_refused(choice):
    with pytest.raises(DuplicateChoiceError, match=r"关联|原案件"):
        case_to_link(choice, [] if choice.case_id == "LC1" else ["LC2"])


def facts(amount: str = "6800", kind: ClaimType = ClaimType.wage_arrears, workers: int = 1) -> Facts:
    return Facts("hotline", [Claim(type=kind, amount_cny=Decimal(amount))], workers)


def test_the_plan_follows_the_rules_and_the_region():
    p = plan(POLICY, HIERARCHY, facts(), region_code="630102", home_province="63")
    assert (p.decision.tier, p.route, p.unit.code if p.unit else None) == (Tier.general, "mediation", "QH-XN-CD")
    injury = plan(POLICY, HIERARCHY, facts(kind=ClaimType.work_injury), region_code="630106", home_province="63")
    assert (injury.decision.tier, injury.route, injury.unit.code if injury.unit else None) == (
        Tier.complex, "legal_aid", "QH-XN")
    group = plan(POLICY, HIERARCHY, facts(workers=12), region_code="630102", home_province="63")
    assert group.group_dispute and group.decision.tier == Tier.difficult


def test_the_clerks_choices_and_a_region_nobody_serves():
    answered = plan(POLICY, HIERARCHY, facts(), region_code="630102", home_province="63", route="answered",
                    answer="已答复")
    assert answered.resolved_in_intake and answered.answer == "已答复"
    away = plan(POLICY, HIERARCHY, facts(), region_code="110105", home_province="63")
    assert (away.route, away.answer, away.unit) == ("referred_elsewhere", OUT_OF_AREA, None)
    raised = plan(POLICY, HIERARCHY, facts(), region_code="630102", home_province="63", tier=Tier.complex,
                  tier_reason="涉及多家关联企业")
    assert raised.decision.rule == "clerk_override"
    with pytest.raises(TriageError):
        plan(POLICY, HIERARCHY, facts(), region_code="630102", home_province="63", tier=Tier.complex, tier_reason="")
