"""Documents and evidence in Chromium: the clerk registers a case and downloads its 受理回执 from the result page (a
PDF whose text carries the case number), adds a payslip photo there and sees it listed under her name; the
supervisor's timeline says so in words; a mediator settles a case and downloads the 调解协议书 from the case page.

Screenshots: test-artifacts/documents-*.png (one at phone width)."""

from __future__ import annotations

import time
from datetime import date, timedelta
from pathlib import Path

import pytest

from services.intake.domain.identifiers import make_id_number, make_uscc
from services.security.accounts import DEMO_MEDIATORS
from tests import clock
from tests.browser.journey import PHONE, api, login, shot, wait_for
from tests.documents import text_of
from tests.integration.test_documents_http import png

pytestmark = [pytest.mark.browser, pytest.mark.integration]
DESKTOP = {"width": 1280, "height": 900}
N = int(time.time()) % 100000


def register(stack, n: int, name: str) -> str:
    body = {"channel": "window", "received_at": clock.now().replace(microsecond=0).isoformat(), "region_code": "630102",
            "summary": "拖欠十月、十一月工资", "claims": [{"type": "wage_arrears", "amount_cny": 12400}],
            "workers": [{"name": name, "id_number": make_id_number("630102", date(1989, 7, 8), n % 900 + 50),
                         "phone": "13909717788"}],
            "employer": {"name": f"西宁市城东区文书测试餐饮有限公司{n}", "uscc": make_uscc("630102", 40000 + n % 50000)}}
    r = api(stack, "clerk", "POST", "/api/v1/cases", json=body)
    assert r.status_code == 201, r.text
    return r.json()["case_id"]


def downloaded(page, link) -> bytes:
    with page.expect_download() as info:
        link.click()
    return Path(info.value.path()).read_bytes()


def test_the_clerk_downloads_the_receipt_and_adds_a_payslip_photo(stack, browser):
    case_id = register(stack, N, "祁玉兰")
    page = login(browser, stack, "clerk", f"/intake/cases/{case_id}", viewport=DESKTOP)
    panel = page.locator(".documents-panel")
    receipt = panel.locator("li", has_text="受理回执")  # offered as soon as the case is registered
    pdf = downloaded(page, receipt.locator("a", has_text="下载"))
    assert pdf.startswith(b"%PDF-") and case_id in text_of(pdf) and "受理回执" in text_of(pdf)

    form = panel.locator("form.attachment-upload")
    form.locator("select[name='kind']").select_option("payslip")
    form.locator("input[type='file']").set_input_files(
        files=[{"name": "2026年10月工资条.png", "mimeType": "image/png", "buffer": png(120, 80, seed=7)}])
    form.locator("input[name='note']").fill("十月工资条，手机拍摄")
    form.locator("button[type='submit']").click()
    row = panel.locator("table.attachments tbody tr", has_text="2026年10月工资条.png")
    row.wait_for()
    assert "工资条/工资流水" in row.inner_text() and "马丽娟" in row.inner_text()
    assert "clerk" not in row.inner_text()  # the uploader's name, never the login
    shot(page, "documents-1-clerk-result-page")

    # a disguised program is refused with the reason next to the file field, and nothing is listed
    form.locator("input[type='file']").set_input_files(
        files=[{"name": "工资条.jpg", "mimeType": "image/jpeg", "buffer": b"MZ\x90\x00" + b"\x00" * 300}])
    form.locator("button[type='submit']").click()
    error = form.locator(".field-error[data-field='file']")
    error.wait_for(state="visible")
    assert "可执行" in error.inner_text()
    assert panel.locator("table.attachments tbody tr").count() == 1
    shot(page, "documents-2-clerk-refused-file")

    # the same page at phone width
    phone = login(browser, stack, "clerk", f"/intake/cases/{case_id}", viewport=PHONE)
    phone.locator(".documents-panel table.attachments tbody tr").first.wait_for()
    shot(phone, "documents-3-clerk-phone")

    # the supervisors' timeline tells the evidence in words, with the documents and the file
    def on_timeline():
        r = api(stack, "supervisor-qh", "GET", f"/api/v1/cases/{case_id}")
        return r.status_code == 200 and any(t["type"] == "intake.attachment_added" for t in r.json()["timeline"])
    wait_for(on_timeline, "the upload on the supervision timeline")
    sup = login(browser, stack, "supervisor-qh", f"/supervision/cases/{case_id}", viewport=DESKTOP)
    sup.get_by_text("上传证据材料：工资条/工资流水（2026年10月工资条.png），上传人 马丽娟").first.wait_for()
    sup.locator(".documents-panel table.attachments tbody tr").first.wait_for()
    shot(sup, "documents-4-supervisor-timeline")


def test_a_mediator_settles_and_downloads_the_agreement(stack, browser):
    case_id = register(stack, N + 1, "马晓东")

    def offered():
        r = api(stack, "supervisor-qh", "GET", f"/api/v1/mediation/cases/{case_id}")
        return r.json().get("mediator_id") if r.status_code == 200 else None
    mediator_id = wait_for(offered, "the case offered to a mediator")
    user = {m: u for u, m in DEMO_MEDIATORS.items()}[mediator_id]
    assert api(stack, user, "POST", f"/api/v1/mediation/cases/{case_id}/accept", json={}).status_code == 200
    first = clock.today() + timedelta(days=20)
    settled = api(stack, user, "POST", f"/api/v1/mediation/cases/{case_id}/settle", json={
        "agreement": {"amount_cny": "12400.00", "terms": "用人单位分两期支付拖欠工资，职工放弃其他请求",
                      "instalments": [{"due_date": first.isoformat(), "amount_cny": "6200.00"},
                                      {"due_date": (first + timedelta(days=30)).isoformat(), "amount_cny": "6200.00"}]},
        "request_confirmation": False})
    assert settled.status_code == 200, settled.text

    page = login(browser, stack, user, f"/mediation/cases/{case_id}", viewport=DESKTOP)
    agreement = page.locator(".documents-panel li", has_text="调解协议书")
    agreement.wait_for()
    pdf = downloaded(page, agreement.locator("a", has_text="下载"))
    text = text_of(pdf)
    for fact in (case_id, "调解协议书", "马晓东", "12,400.00元", "6,200.00元", f"{first.year}年{first.month}月{first.day}日"):
        assert fact in text, fact
    page.locator("#agreement").scroll_into_view_if_needed()
    shot(page, "documents-5-mediator-agreement")
