from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from events.common import Claim, Employer, Tier, Worker
from services.hierarchy.orgunits import default_hierarchy
from services.hierarchy.regions import default_regions
from services.intake.domain.identifiers import (
    id_birth_date,
    id_checksum_ok,
    make_id_number,
    make_uscc,
    uscc_checksum_ok,
)
from services.intake.domain.triage import Facts, TriageError, default_policy
from services.intake.domain.validation import check

pytestmark = pytest.mark.clock

NOW = datetime(2026, 3, 2, 10, tzinfo=UTC)


def test_id_number_checksum_gb11643():
    assert id_checksum_ok("11010519491231002X")  # the standard's own example
    assert not id_checksum_ok("110105194912310021")
    assert not id_checksum_ok("11010519491231002")
    generated = make_id_number("630102", date(1988, 5, 17), 42)
    assert id_checksum_ok(generated) and id_birth_date(generated) == date(1988, 5, 17)
    assert id_birth_date("630102198802300011") is None  # 30 February


def test_uscc_checksum_gb32100():
    code = make_uscc("630102", 12345)
    assert uscc_checksum_ok(code)
    wrong = code[:-1] + ("0" if code[-1] != "0" else "1")
    assert not uscc_checksum_ok(wrong)
    assert not uscc_checksum_ok("91630102000012345I")  # I is not in the alphabet


def worker(id_number: str) -> Worker:
    return Worker(name="张三", id_number=id_number, phone="13900000001")


def _flip(code: str) -> str:
    """The same code with a wrong check character."""
    return code[:-1] + ("0" if code[-1] != "0" else "1")


GOOD_ID = make_id_number("630102", date(1990, 1, 1), 1)
GOOD_EMPLOYER = Employer(name="西宁示例公司", uscc=make_uscc("630102", 1))


def test_checksum_failures_are_warnings_other_problems_are_errors():
    bad_checksum = _flip(GOOD_ID)
    checked = check(received_at=NOW, region_code="630102", workers=[worker(bad_checksum)],
                    employer=Employer(name="x", uscc=_flip(GOOD_EMPLOYER.uscc)),
                    regions=default_regions(), now=NOW)
    assert checked.errors == []
    assert {w.code for w in checked.warnings} == {"id_checksum", "uscc_checksum"}
    assert checked.unresolved({"workers[0].id_number": "身份证原件核对无误"}) == [
        w for w in checked.warnings if w.field == "employer.uscc"]

    checked = check(received_at=NOW.replace(year=2027), region_code="639999",
                    workers=[worker("990102199001010010"), worker("630102199002300019")],
                    employer=GOOD_EMPLOYER, regions=default_regions(), now=NOW)
    assert {e.code for e in checked.errors} >= {"in_future", "unknown_region", "id_area", "id_birth_date"}


def test_duplicate_worker_is_an_error():
    checked = check(received_at=NOW, region_code="630102", workers=[worker(GOOD_ID), worker(GOOD_ID)],
                    employer=GOOD_EMPLOYER, regions=default_regions(), now=NOW)
    assert [e.code for e in checked.errors] == ["duplicate_worker"]


def claims(*types: str, amount: str | None = None) -> list[Claim]:
    return [Claim(type=t, amount_cny=Decimal(amount) if amount else None) for t in types]


@pytest.mark.parametrize(("channel", "claim_list", "workers", "tier", "rule"), [
    ("hotline", claims("wage_arrears", amount="5000"), 1, Tier.general, "default"),
    ("hotline", claims("wage_arrears", amount="30000"), 1, Tier.difficult, "moderate_amount"),
    ("hotline", claims("wage_arrears", amount="250000"), 1, Tier.complex, "large_amount"),
    ("hotline", claims("work_injury"), 1, Tier.complex, "work_injury"),
    ("window", claims("social_insurance"), 1, Tier.difficult, "relationship_or_insurance"),
    ("court", claims("wage_arrears", amount="100"), 1, Tier.difficult, "partner_referral"),
    ("online", claims("overtime", amount="100"), 10, Tier.difficult, "group_dispute"),
])
def test_triage_takes_the_highest_matching_tier(channel, claim_list, workers, tier, rule):
    decision = default_policy().classify(Facts(channel, claim_list, workers))
    assert (decision.tier, decision.rule) == (tier, rule)


def test_group_dispute_is_at_least_difficult_even_against_the_clerk():
    policy = default_policy()
    facts = Facts("hotline", claims("wage_arrears"), 12)
    assert policy.is_group(facts)
    with pytest.raises(TriageError, match="至少"):
        policy.override(facts, Tier.general, "简单")
    assert policy.override(facts, Tier.complex, "涉及多家分包").tier == Tier.complex
    with pytest.raises(TriageError, match="理由"):
        policy.override(Facts("hotline", claims("other"), 1), Tier.complex, " ")


def test_routes():
    policy = default_policy()
    assert policy.route(Facts("hotline", claims("work_injury"), 1)) == "legal_aid"
    assert policy.route(Facts("hotline", claims("wage_arrears"), 1)) == "mediation"
    assert policy.route(Facts("court", claims("work_injury"), 1)) == "mediation"


def test_hierarchy_serves_the_most_specific_unit_and_cross_province_stations():
    h = default_hierarchy()
    assert h.serving("630102").code == "QH-XN-CD"
    assert h.serving("630123").code == "QH-XN"  # 湟源县: no county union configured → the city
    assert h.serving("632221").code == "QH"  # 门源县 → the province
    assert h.serving("110105", home_province="51").code == "SC-BJ"  # 省际联动: Sichuan worker in Beijing
    assert h.serving("110105", home_province="63") is None
    assert [u.code for u in h.ancestors("QH-XN-CD-BY")] == ["QH-XN-CD-BY", "QH-XN-CD", "QH-XN", "QH"]
    assert h.parent("QH") is None


def test_regions():
    r = default_regions()
    assert r.is_known("630102") and r.is_known("630100") and r.is_known("630000")
    assert not r.is_known("630199")  # Xining is detailed: no such district
    assert r.is_known("511502")  # Yibin's districts are not listed: any county code under it
    assert not r.is_known("990000") and not r.is_known("63010")
    assert r.name("630102") == "青海省西宁市城东区"
