"""Documents (文书) rendered from their template files: A4, the case's facts readable in the text, ID numbers only
where the document must carry them, the same bytes every time, amounts in words, and markup in a value escaped."""

from __future__ import annotations

import io

import pytest
from pypdf import PdfReader

from services.printing import facts as printed
from services.printing.render import KINDS, render
from tests.documents import text_of

FACTS = {"workers": [{"name": "张建国", "id_number": "630102198001011234", "phone": "13900000000"},
                     {"name": "李秀兰", "id_number": "630102198502023456", "phone": "13900000001"}],
         "employer": {"name": "西宁市城东区宏达建筑工程有限公司", "uscc": "91630102MA752ABC12"},
         "claims": [{"type": "wage_arrears", "amount_cny": "18600.00"}, {"type": "overtime", "amount_cny": None}]}


def context(kind: str) -> dict:
    common = {"case_id": "LC20261203000123", "unit_name": "城东区总工会"}
    if kind == "receipt":
        return common | {"channel": "window", "received_at": "2026-12-03T14:30:00+08:00", "tier": "difficult",
                         "due_at": "2026-12-10T23:59:59+08:00", "provisional": False, "query_code": None,
                         "clerk": "赵敏", "issued_on": "2026-12-03", **printed.parties(FACTS, ids="masked")}
    if kind == "agreement":
        return common | {"court_case_no": "(2026)青0102民诉前调1234号", "arbitration_case_no": None,
                         "representatives": [], "mediator_name": "王淑芬", "amount": "18600",
                         "amount_words": printed.amount_in_words("18600"),
                         "instalments": [{"due_date": "2026-12-20", "amount_cny": "6200"},
                                         {"due_date": "2027-01-20", "amount_cny": "6200"},
                                         {"due_date": "2027-02-20", "amount_cny": "6200"}],
                         "terms": "被申请人为申请人出具离职证明。", "settled_on": "2026-12-05",
                         **printed.parties(FACTS, ids="full")}
    if kind == "feedback-letter":
        return common | {"addressee": "西宁市城东区人民法院", "court_case_no": "(2026)青0102民诉前调1234号",
                         "arbitration_case_no": None, "referral_kind": "pre_filing",
                         "received_at": "2026-12-03T14:30:00+08:00", "mediator_name": "王淑芬",
                         "disputed_points": ["加班时长的计算", "十月工资是否已部分支付"], "failed_on": "2026-12-08",
                         **printed.parties(FACTS, ids="none")}
    return common | {"approved": False, "applied_on": "2026-12-03", "decided_on": "2026-12-06",
                     "reasons": ["家庭人均月收入 3,500.00 元，高于本地标准 2,200.00 元"],
                     **printed.parties(FACTS, ids="masked")}


@pytest.mark.parametrize("kind", KINDS)
def test_a_document_is_one_a4_page_and_the_same_bytes_every_time(kind):
    pdf = render(kind, context(kind))
    assert pdf == render(kind, context(kind))
    page = PdfReader(io.BytesIO(pdf)).pages[0]
    assert (round(float(page.mediabox.width)), round(float(page.mediabox.height))) == (595, 842)  # A4 in points
    assert b"/FontFile2" in pdf  # the Chinese font travels inside the file


def test_the_receipt_says_what_the_worker_needs_and_masks_the_id_number():
    text = text_of(render("receipt", context("receipt")))
    for fact in ("劳动争议受理回执", "LC20261203000123", "张建国", "李秀兰", "西宁市城东区宏达建筑工程有限公司",
                 "欠薪18,600.00元",
                 "服务窗口", "2026年12月3日14:30", "难点问题", "2026年12月10日23:59", "城东区总工会", "赵敏", "12351",
                 "6301**********1234"):
        assert fact in text, fact
    assert "630102198001011234" not in text and "630102198502023456" not in text


def test_the_agreement_carries_the_parties_the_amount_and_every_instalment():
    text = text_of(render("agreement", context("agreement")))
    for fact in ("劳动争议调解协议书", "(2026)青0102民诉前调1234号", "630102198001011234", "91630102MA752ABC12",
                 "18,600.00元", "壹万捌仟陆佰元整", "第1期", "2026年12月20日", "2027年1月20日", "2027年2月20日",
                 "6,200.00元", "被申请人为申请人出具离职证明", "调解员（签名）：王淑芬", "城东区总工会"):
        assert fact in text, fact


def test_the_feedback_letter_gives_the_court_the_disputed_points_and_no_personal_numbers():
    text = text_of(render("feedback-letter", context("feedback-letter")))
    for fact in ("委托调解反馈函", "西宁市城东区人民法院", "(2026)青0102民诉前调1234号", "LC20261203000123", "张建国",
                 "加班时长的计算", "十月工资是否已部分支付", "王淑芬", "2026年12月8日"):
        assert fact in text, fact
    for personal in ("630102198001011234", "630102198502023456", "6301", "91630102MA752ABC12", "1390000000"):
        assert personal not in text, personal


def test_a_denial_gives_its_reasons_and_the_right_to_object():
    text = text_of(render("legal-aid-decision", context("legal-aid-decision")))
    for fact in ("不予法律援助决定书", "LC20261203000123", "第四十三条", "3,500.00元", "2,200.00元", "异议", "第四十九条",
                 "2026年12月6日"):
        assert fact in text, fact
    assert "630102198001011234" not in text
    approved = text_of(render("legal-aid-decision", context("legal-aid-decision") | {
        "approved": True, "reasons": ["农民工追索劳动报酬，免予经济困难审查"]}))
    assert "给予法律援助决定书" in approved and "三日内指派律师" in approved and "异议" not in approved


def test_markup_in_a_value_is_printed_not_obeyed():
    hostile = context("receipt") | printed.parties({**FACTS, "workers": [
        {"name": "<b>张</b>&amp;</document>", "id_number": "630102198001011234"}]}, ids="masked")
    assert "<b>张</b>&amp;</document>" in text_of(render("receipt", hostile))


@pytest.mark.parametrize(("amount", "words"), [
    ("18600", "壹万捌仟陆佰元整"), ("18600.50", "壹万捌仟陆佰元伍角整"), ("1005", "壹仟零伍元整"),
    ("10010.01", "壹万零壹拾元零壹分"), ("0.30", "叁角整"), ("120000000", "壹亿贰仟万元整"), ("1000001", "壹佰万零壹元整"),
    ("0", "零元整")])
def test_amounts_in_words(amount, words):
    assert printed.amount_in_words(amount) == words


def test_masking_keeps_the_ends_only():
    assert printed.masked_id("630102198001011234") == "6301**********1234"
