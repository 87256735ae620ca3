"""The clerk's day at the desk (受理登记), in Debian's Chromium against `laborcase up`: a complaint with two
workers, one of whose ID numbers fails its checksum (overridden with a reason), the preview (tier, due date,
unit), the registration and its result; then a second complaint of the same worker against the same employer,
offered as a possible duplicate and linked. Screenshots of each step land in test-artifacts/ (clerk-*.png)."""

from __future__ import annotations

import random
from datetime import date

import pytest

from services.intake.domain.identifiers import make_id_number, make_uscc
from tests import clock
from tests.browser.journey import PHONE, api, login, shot

pytestmark = [pytest.mark.browser, pytest.mark.integration]
DESKTOP = {"width": 1280, "height": 900}
N = random.randrange(100, 900)
GOOD_ID = make_id_number("630102", date(1988, 6, 15), N)
OTHER_ID = make_id_number("630103", date(1992, 11, 2), N + 1)
BAD_ID = OTHER_ID[:-1] + ("0" if OTHER_ID[-1] != "0" else "1")  # a checksum that fails
USCC = make_uscc("630102", 70000 + N)
EMPLOYER = f"西宁市城东区示范餐饮有限公司{N}"


def fill_worker(page, row: int, name: str, id_number: str, phone: str) -> None:
    rows = page.locator("#workers .worker-row")
    rows.nth(row).locator("input[name='name']").fill(name)
    rows.nth(row).locator("input[name='id_number']").fill(id_number)
    rows.nth(row).locator("input[name='phone']").fill(phone)
    rows.nth(row).locator("input[name='phone']").blur()


def fill_common(page) -> None:
    page.check("input[name='channel'][value='window']")
    page.select_option("select[name='region_code']", "630102")
    page.fill("input[name='employer_name']", EMPLOYER)
    page.fill("input[name='employer_uscc']", USCC)
    page.locator("input[name='employer_uscc']").blur()


def test_clerk_registers_with_an_override_and_links_a_duplicate(stack, browser):
    page = login(browser, stack, "clerk", "/intake", viewport=DESKTOP)
    page.wait_for_selector("h1:has-text('受理登记')")
    assert "受理登记" in page.inner_text("header nav")
    shot(page, "clerk-1-desk")

    # two workers; the second's ID number fails its checksum: a warning, and a reason field appears
    fill_common(page)
    fill_worker(page, 0, "马建国", GOOD_ID, "13909710001")
    page.click("#workers .add-row")
    fill_worker(page, 1, "韩秀英", BAD_ID, "0971-8123456")
    page.locator("#workers .worker-row").nth(1).locator("input[name='id_number']").blur()
    second = page.locator("#workers .worker-row").nth(1)
    second.locator(".field-warning:has-text('校验位不符')").wait_for()
    assert second.locator("label.override").is_visible()
    page.select_option("#claims .claim-row select[name='type']", "wage_arrears")
    page.fill("#claims .claim-row input[name='amount_cny']", "26,800")
    page.fill("textarea[name='summary']", "2026年以来两名职工工资被拖欠，多次催要未果")

    # without a reason the preview is not asked for: the reason field says what is missing
    page.click("#preview-button")
    second.locator(".field-error:has-text('核实理由')").wait_for()
    shot(page, "clerk-2-checksum-warning")
    second.locator("input[name='override']").fill("已核对身份证原件，号码无误")

    page.click("#preview-button")
    page.wait_for_selector("#preview:not([hidden]) #preview-tier")
    assert "难点" in page.inner_text("#preview-tier")
    assert "年" in page.inner_text("#preview-due") and "23:59" in page.inner_text("#preview-due")
    assert page.inner_text("#preview-unit") == "城东区总工会"
    assert page.inner_text("#preview-route") == "调解"
    assert page.locator("#duplicates").is_hidden()
    shot(page, "clerk-3-preview")

    page.click("#confirm-button")
    page.wait_for_url("**/intake/cases/LC*?done=registered")
    case_id = page.inner_text("#case-number")
    assert case_id.startswith("LC")
    assert "难点" in page.inner_text("#case-tier") and page.inner_text("#case-unit") == "城东区总工会"
    text = page.inner_text("main")
    assert "韩秀英的身份证号校验位不符，已核实：已核对身份证原件" in text
    assert "受理回执" in text and page.get_attribute("#follow", "href") == f"/supervision/cases/{case_id}"
    for raw in ("wage_arrears", "difficult", "QH-XN-CD", "mediation", "dispatched"):
        assert raw not in text
    shot(page, "clerk-4-registered")

    # the same worker against the same employer again: the preview offers the open case; the clerk links
    page.goto(f"{stack.console}/intake")
    assert case_id in page.inner_text("main")  # 我最近的登记
    page.check("input[name='channel'][value='hotline']")
    page.select_option("select[name='region_code']", "630102")
    page.fill("input[name='employer_name']", EMPLOYER)
    page.fill("input[name='employer_uscc']", USCC)
    fill_worker(page, 0, "马建国", GOOD_ID, "13909710001")
    page.select_option("#claims .claim-row select[name='type']", "wage_arrears")
    page.fill("#claims .claim-row input[name='amount_cny']", "9800")
    page.click("#preview-button")
    page.wait_for_selector("#duplicates:not([hidden])")
    offer = page.locator(f"#duplicate-choices input[value='{case_id}']")
    assert "马建国" in page.inner_text("#duplicate-choices") and case_id in page.inner_text("#duplicate-choices")
    page.click("#confirm-button")  # no choice yet: asked to make one
    page.wait_for_selector(".field-error[data-field='duplicate.case_id']:has-text('请选择')")
    shot(page, "clerk-5-duplicate-offered")
    offer.check()
    page.click("#confirm-button")
    page.wait_for_url(f"**/intake/cases/{case_id}?done=linked")
    assert "已关联到原案件" in page.inner_text("main")
    shot(page, "clerk-6-linked")

    page.goto(f"{stack.console}/intake/cases")
    page.wait_for_selector(f"tr[data-case='{case_id}']")
    shot(page, "clerk-7-registrations")
    page.close()

    # the API says the same: one case, linked, nothing merged silently into a case the clerk did not choose
    listed = api(stack, "clerk", "GET", f"/api/v1/intake/cases?ref={case_id}").json()["cases"]
    assert listed[0]["worker_count"] == 2


def test_clerk_desk_on_a_phone_and_answering_on_the_spot(stack, browser):
    page = login(browser, stack, "clerk", "/intake", viewport=PHONE)
    page.wait_for_selector("h1:has-text('受理登记')")
    fill_common(page)
    fill_worker(page, 0, "祁玉兰", make_id_number("630104", date(1995, 3, 8), N + 2), "13909710003")
    page.select_option("#claims .claim-row select[name='type']", "other")
    page.check("input[name='outcome'][value='answered']")
    page.fill("textarea[name='answer']", "已告知劳动合同到期终止的经济补偿规定，职工表示先与单位协商")
    page.click("#preview-button")
    page.wait_for_selector("#preview:not([hidden]) #preview-route")
    assert page.inner_text("#preview-route") == "当场答复"
    shot(page, "clerk-8-phone-preview")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"] + 1  # no sideways scrolling
    page.click("#confirm-button")
    page.wait_for_url("**/intake/cases/LC*?done=registered")
    assert "当场答复" in page.inner_text("main") and "已当场答复" in page.inner_text("main")
    shot(page, "clerk-9-phone-answered")
    page.close()


def test_only_clerks_are_offered_the_desk(stack, browser):
    page = login(browser, stack, "supervisor-qh", "/supervision", viewport=DESKTOP)
    page.wait_for_selector("#me")  # logged in (the login page's own address also ends with ?next=/supervision)
    assert "受理登记" not in page.inner_text("header nav")
    page.goto(f"{stack.console}/intake")
    page.wait_for_selector("section.refusal")
    assert "不属于您的工作范围" in page.inner_text("main")
    shot(page, "clerk-10-supervisor-refused")
    page.close()


def complaint(n: int, **extra) -> dict:
    body = {"channel": "hotline", "received_at": clock.now().replace(microsecond=0).isoformat(),
            "region_code": "630105", "summary": "接口测试：拖欠工资",
            "workers": [{"name": f"接口职工{n}", "id_number": make_id_number("630105", date(1990, 5, 6), n),
                         "phone": "13909719999"}],
            "employer": {"name": f"城北区某建材公司{n}", "uscc": make_uscc("630105", 80000 + n)},
            "claims": [{"type": "overtime", "amount_cny": 3200}]}
    return body | extra


def test_the_preview_and_the_duplicate_choice_over_the_api(stack):
    n = N + 500
    before = api(stack, "clerk", "GET", "/api/v1/intake/cases?limit=500").json()["cases"]
    shown = api(stack, "clerk", "POST", "/api/v1/intake/preview", json=complaint(n))
    assert shown.status_code == 200, shown.text
    p = shown.json()
    assert (p["tier"], p["route"], p["org_unit"], p["org_unit_name"]) == ("general", "mediation", "QH-XN-CB", "城北区总工会")
    assert p["duplicates"] == [] and p["due_at"].endswith("23:59:59+08:00")
    assert len(api(stack, "clerk", "GET", "/api/v1/intake/cases?limit=500").json()["cases"]) == len(before)

    first = api(stack, "clerk", "POST", "/api/v1/cases", json=complaint(n)).json()
    offered = api(stack, "clerk", "POST", "/api/v1/intake/preview", json=complaint(n)).json()["duplicates"]
    assert [d["case_id"] for d in offered] == [first["case_id"]] and offered[0]["workers"] == [f"接口职工{n}"]

    # a link to a case that is not an offered duplicate: refused next to the field, in Chinese
    wrong = api(stack, "clerk", "POST", "/api/v1/cases",
                json=complaint(n + 1, duplicate={"action": "link", "case_id": first["case_id"]}))
    assert wrong.status_code == 422
    assert [e["field"] for e in wrong.json()["errors"]] == ["duplicate.case_id"] and "关联" in wrong.json()["detail"]
    bad = api(stack, "clerk", "POST", "/api/v1/cases", json=complaint(n, duplicate={"action": "merge"}))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "duplicate.action"

    # the clerk says it is another dispute: a new case, not merged
    new = api(stack, "clerk", "POST", "/api/v1/cases", json=complaint(
        n, duplicate={"action": "new", "case_id": first["case_id"], "reason": "另一段劳动关系"}))
    assert new.status_code == 201 and new.json()["case_id"] != first["case_id"] and not new.json()["linked"]
    linked = api(stack, "clerk", "POST", "/api/v1/cases",
                 json=complaint(n, duplicate={"action": "link", "case_id": first["case_id"]}))
    assert linked.status_code == 200 and linked.json()["linked"] and linked.json()["case_id"] == first["case_id"]

    # a clerk of another province may not even ask
    assert api(stack, "clerk-sc", "POST", "/api/v1/intake/preview", json=complaint(n)).status_code in (403, 404)
    # the console no longer offers a route nobody serves
    assert api(stack, "clerk", "POST", f"/api/v1/cases/{first['case_id']}/answer", json={}).status_code == 404
