"""What the mediator's pages say: log entries in words, the judicial confirmation's state, the steps each person
is offered, and a malformed agreement answered in Chinese. Pure."""

from __future__ import annotations

import re
from decimal import Decimal

from events.common import Agreement, Instalment
from events.glossary import raw_codes
from services.hierarchy.orgunits import default_hierarchy
from services.mediation.api import allowed_steps
from services.mediation.domain.case import check_agreement
from services.mediation.views import confirmation, entry_in_words
from services.security.policy import Principal

NAMES = {"M-CD-01": "王淑芬", "M-CD-02": "祁生福"}


def words(action: str, actor: str | None = "M-CD-01", **detail) -> dict[str, str]:
    return entry_in_words({"at": "2026-12-03T14:30:00+08:00", "action": action, "actor": actor, "detail": detail},
                          NAMES, default_hierarchy())


def test_log_entries_read_as_words_not_codes():
    settled = words("settled", actor="王淑芬", amount_cny="18600", instalments=2, confirmation_requested=False)
    assert settled == {"at": "2026-12-03T14:30:00+08:00", "action": "调解成功", "actor": "王淑芬",
                       "detail": "协议金额：18,600.00 元；分期：2期；申请司法确认：否"}
    assert words("failed", disputed_points=["加班时长", "工资基数"], to_legal_aid=True)["detail"] == \
        "争议焦点：加班时长、工资基数；转法律援助：是"
    reassign = words("reassigning", actor="西宁市总工会督办", reason="回避", previous="M-CD-02")
    assert (reassign["actor"], reassign["detail"]) == ("西宁市总工会督办", "理由：回避；原调解员：祁生福")
    assert words("assigned", actor=None, mediator_id="M-CD-01", mediator_name="王淑芬", reason="按工作量")["detail"] \
        == "调解员：王淑芬；理由：按工作量"
    assert words("clock_paused", reason="party_unreachable")["detail"] == "理由：当事人无法联系"
    assert words("opened", actor="intake", org_unit="QH-XN-CD", kind="court_pre_filing")["detail"] == \
        "单位：城东区总工会；来源：法院诉前委派调解"
    court = words("confirmation_rejected", actor="court:QH0103", reason="协议内容违反法律规定")
    assert (court["action"], court["actor"]) == ("法院不予确认调解协议", "人民法院")
    assert words("window_extended", due_at="2027-01-10T23:59:59+08:00", consent="书面同意")["detail"] == \
        "新的期限：2027年1月10日 23:59；双方同意：书面同意"


def test_no_log_line_shows_a_code_a_repr_or_a_bare_boolean():
    codes = set(raw_codes())
    for action in ("opened", "assigned", "accepted", "declined", "reassigning", "session_scheduled", "session_held",
                   "settled", "failed", "withdrawn", "confirmation_confirmed", "confirmation_rejected", "court_filed",
                   "window_extended", "reopened", "moved", "assignment_pending", "arbitration_accepted",
                   "award_issued", "reclassified", "enforcement_requested", "clock_paused", "clock_resumed"):
        line = words(action, tier="difficult", result="no_agreement", parties_present=["甲"], instalments=0,
                     amount_awarded_cny=8800.0, to_legal_aid=False, org_unit="QH-XN-CZ")
        text = " ".join(line.values())
        assert "未知" not in text, line
        assert not re.search(r"\[|\]|False|True|None|\d\.0\b", text), line
        assert not any(code in text for code in codes), line


def test_the_judicial_confirmation_as_it_stands():
    settled = {"at": "2026-12-03T10:00:00+08:00", "action": "settled", "actor": "王淑芬",
               "detail": {"confirmation_requested": True}}
    rejected = {"at": "2026-12-05T10:00:00+08:00", "action": "confirmation_rejected", "actor": "court:QH0103",
                "detail": {"reason": "分期期限过长"}}
    assert confirmation("awaiting_confirmation", [settled])["state"] == "requested"
    assert confirmation("in_mediation", [settled, rejected]) == {
        "state": "rejected", "requested_at": settled["at"], "decided_at": rejected["at"], "reason": "分期期限过长"}
    again = {**settled, "at": "2026-12-06T10:00:00+08:00"}
    assert confirmation("awaiting_confirmation", [settled, rejected, again])["state"] == "requested"
    assert confirmation("resolved", [{**settled, "detail": {"confirmation_requested": False}}]) is None


def test_each_person_is_offered_only_the_steps_the_api_allows_them():
    mine = Principal("mediator-cd", "mediator", "QH-XN-CD", mediator_id="M-CD-01")
    other = Principal("mediator-cd2", "mediator", "QH-XN-CD", mediator_id="M-CD-02")
    boss = Principal("supervisor-xn", "supervisor", "QH-XN")
    court = {"kind": "court_entrusted", "state": "open", "extended": False, "pause_reason": None}
    tier = {"kind": "tier", "state": "open", "extended": False, "pause_reason": None}
    case = {"mediator_id": "M-CD-01", "state": "in_mediation", "deadlines": [tier, court]}
    assert {k for k, v in allowed_steps(mine, case).items() if v} == {
        "session", "settle", "fail", "reassign", "withdraw", "pause", "extend"}
    assert not any(allowed_steps(other, case).values())
    assert {k for k, v in allowed_steps(boss, case).items() if v} == {"reassign"}
    paused = {**case, "deadlines": [{**tier, "state": "paused", "pause_reason": "awaiting_materials"},
                                    {**court, "extended": True}]}
    assert {k for k, v in allowed_steps(mine, paused).items() if v} >= {"resume"}
    assert not allowed_steps(mine, paused)["pause"] and not allowed_steps(mine, paused)["extend"]
    by_court = {**case, "state": "awaiting_confirmation",
                "deadlines": [{**tier, "state": "paused", "pause_reason": "awaiting_court_decision"}]}
    assert {k for k, v in allowed_steps(mine, by_court).items() if v} == {"withdraw"}  # the court's pause is its own
    assert {k for k, v in allowed_steps(mine, {**case, "state": "offered"}).items() if v} == {"answer", "reassign"}


def test_an_impossible_instalment_date_is_answered_next_to_its_field():
    from datetime import date

    agreement = Agreement(amount_cny=Decimal("100"), instalments=[
        Instalment(due_date="2026-13-45", amount_cny=Decimal("100"))])
    assert check_agreement(agreement, settled_on=date(2026, 12, 1)) == [
        ("agreement.instalments[0].due_date", "不是有效的日期")]


def test_a_malformed_instalment_line_is_answered_in_chinese_next_to_its_field():
    import pytest
    from pydantic import ValidationError

    from services.backbone.http import validation_problem
    from services.mediation.api import SettleBody

    for amount in ("abc", "", None, "12.345"):
        with pytest.raises(ValidationError) as refused:
            SettleBody.model_validate({"agreement": {"amount_cny": "100", "instalments": [
                {"due_date": "2026-12-01", "amount_cny": amount}]}})
        [error] = validation_problem(refused.value.errors()).errors
        assert error["field"] == "agreement.instalments[0].amount_cny"
        assert re.fullmatch(r"[\u4e00-\u9fff，]+", error["reason"]), error
