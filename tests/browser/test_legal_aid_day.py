"""The legal-aid officer's day in Chromium: an application arrives (the clerk registers a case for legal aid), the
officer finds it in the queue by the worker's name, asks for missing materials, records them received, decides
with written reasons and chooses a lawyer by name; a denied applicant's objection is recorded and reviewed.

Screenshots: test-artifacts/legal-aid-*.png (one at phone width)."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from events.glossary import CLOCK, raw_codes
from services.intake.domain.identifiers import make_id_number, make_uscc
from tests import clock
from tests.browser.journey import PHONE, api, login, shot, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CODES = [c for c in raw_codes() if "_" in c or "." in c]


def application(n: int, worker: str, employer: str) -> dict:
    """A case the clerk registers for legal aid (城东区, within 西宁's legal-aid officer's scope)."""
    return {"channel": "window", "received_at": clock.now_iso(), "region_code": "630102", "route": "legal_aid",
            "summary": "建筑工地拖欠工资，用人单位拒绝支付", "actor": "窗口",
            "workers": [{"name": worker, "id_number": make_id_number("632126", date(1985, 6, 1), 700 + n),
                         "phone": f"1370971{n:04d}"}],
            "employer": {"name": employer, "uscc": make_uscc("630102", 7700 + n)},
            "claims": [{"type": "wage_arrears", "amount_cny": 24600}]}


def registered(stack, body: dict) -> str:
    r = api(stack, "clerk", "POST", "/api/v1/cases", json=body)
    assert r.status_code == 201, r.text
    case_id = r.json()["case_id"]
    wait_for(lambda: api(stack, "legalaid-xn", "GET", f"/api/v1/legal-aid/cases/{case_id}").status_code == 200,
             "the legal-aid application")
    return case_id


def no_codes(page) -> None:
    """Nothing internal on the page a person reads: no code of the glossary, no JSON."""
    text = page.inner_text("body")
    found = [c for c in CODES if c in text]
    assert not found, f"internal codes on {page.url}: {found}"
    assert "{\"" not in text and "None" not in text and "False" not in text


def error_of(page, form: str, field: str) -> str:
    span = page.locator(f"{form} .field-error[data-field='{field}']")
    page.wait_for_function("el => el.textContent.length > 0", arg=span.element_handle(), timeout=10_000)
    return span.inner_text()


def test_the_officer_requests_materials_decides_and_chooses_a_lawyer(stack, browser):
    case_id = registered(stack, application(1, "祁永福", "西宁某建筑工程有限公司"))
    page = login(browser, stack, "legalaid-xn", "/legal-aid", viewport={"width": 1366, "height": 900})

    # the queue: names, not ids; found by the worker's name
    page.fill("form.filters input[name='q']", "祁永福")
    page.click("form.filters button")
    row = page.locator(f"tr[data-case='{case_id}']")
    row.wait_for()
    assert "祁永福" in row.inner_text() and "西宁某建筑工程有限公司" in row.inner_text()
    # the row shows the soonest clock still running: the 7-day decision clock, or the case's own tier clock when
    # that falls due first (a case registered at a weekend: its working days start on Monday); on a tie, the
    # decision clock
    running = [d for d in api(stack, "legalaid-xn", "GET", f"/api/v1/legal-aid/cases/{case_id}").json()["deadlines"]
               if d["state"] in ("open", "paused", "breached")]
    soonest = min(running, key=lambda d: (datetime.fromisoformat(d["due_at"]), d["kind"] == "tier", d["kind"]))
    assert {d["kind"] for d in running} >= {"legal_aid_decision", "tier"}
    assert "审查中" in row.inner_text() and CLOCK[soonest["kind"]] in row.inner_text()
    assert "q=" in page.url
    no_codes(page)
    shot(page, "legal-aid-1-worklist")

    row.click()
    page.wait_for_url(f"**/legal-aid/cases/{case_id}")
    page.wait_for_selector("#actions")
    no_codes(page)
    shot(page, "legal-aid-2-case")

    # missing materials: asked for (an empty request is refused next to the field), the clock pauses
    page.eval_on_selector("#step-materials", "el => { el.open = true; }")
    page.click("#materials-form button")
    assert error_of(page, "#materials-form", "what")
    page.fill("#materials-form textarea[name='what']", "身份证复印件、工资欠条、考勤记录")
    page.click("#materials-form button")
    page.wait_for_selector("#step-materials-received")
    assert "已暂停" in page.inner_text("#clocks")
    assert "身份证复印件" in page.inner_text("#log")
    shot(page, "legal-aid-3-materials-requested")

    page.click("#materials-received-form button")
    page.wait_for_selector("#decision-form")
    assert "材料已补齐" in page.inner_text("#log")

    # what eligibility turns on: a migrant worker claiming wages skips the means test
    page.eval_on_selector("#step-applicant", "el => { el.open = true; }")
    page.check("#applicant-form input[name='migrant_worker']")
    page.click("#applicant-form button")
    page.wait_for_selector("#assessment:has-text('免予核查经济困难状况')")

    # the decision, with reasons one per line (none: refused next to the field)
    page.fill("#decision-form textarea[name='reasons']", "  ")
    page.click("#decision-form button")
    assert "理由" in error_of(page, "#decision-form", "reasons")
    page.check("#decision-form input[value='approved']")
    page.fill("#decision-form textarea[name='reasons']",
              "进城务工人员请求支付劳动报酬，免予核查经济困难状况\n申请事项符合法律援助范围")
    page.click("#decision-form button")
    page.wait_for_selector("#lawyer-form")
    assert "给予法律援助" in page.inner_text("#summary")
    shot(page, "legal-aid-4-approved")

    # the lawyer, chosen by name from the registry
    options = page.locator("#lawyer-form select[name='lawyer_id'] option").all_inner_texts()
    assert any("孙海涛" in o for o in options) and not any("L-XN" in o for o in options)
    page.select_option("#lawyer-form select[name='lawyer_id']", label=next(o for o in options if "孙海涛" in o))
    page.click("#lawyer-form button")
    page.wait_for_selector("#progress-form")
    assert "孙海涛" in page.inner_text("#summary") and "代理中" in page.inner_text("#summary")
    assert page.locator("#documents").count() == 1  # the place for 法律援助决定书
    no_codes(page)
    shot(page, "legal-aid-5-lawyer")

    # representation progress and the conclusion (money recovered)
    page.select_option("#progress-form select[name='stage']", "arbitration")
    page.fill("#progress-form input[name='arbitration_case_no']", f"西劳人仲案字〔{clock.today().year}〕第{case_id[-4:]}号")
    page.fill("#progress-form textarea[name='note']", "已向仲裁委提交仲裁申请")
    page.click("#progress-form button")
    page.wait_for_selector("#summary:has-text('仲裁代理')")
    page.eval_on_selector("#step-conclude", "el => { el.open = true; }")
    page.click("#conclude-form button[type='submit']")  # the browser asks for the amount first (required)
    page.fill("#conclude-form input[name='amount_recovered_cny']", "24600")
    page.click("#conclude-form button")
    page.wait_for_selector("#summary:has-text('24,600.00 元')")
    no_codes(page)
    shot(page, "legal-aid-6-concluded")
    page.close()

    # concluded: out of the queue, unless the filter asks for everything
    queue = api(stack, "legalaid-xn", "GET", "/api/v1/legal-aid/applications", params={"q": "祁永福"}).json()
    assert case_id not in [a["case_id"] for a in queue["applications"]]
    everything = api(stack, "legalaid-xn", "GET", "/api/v1/legal-aid/applications",
                     params={"q": "祁永福", "state": "all"}).json()
    assert case_id in [a["case_id"] for a in everything["applications"]]


def test_a_denied_applicant_objects_and_the_review_is_recorded_on_a_phone(stack, browser):
    case_id = registered(stack, application(2, "马玉兰", "西宁某商贸有限公司"))
    path = f"/api/v1/legal-aid/cases/{case_id}"
    assert api(stack, "legalaid-xn", "POST", path + "/applicant",
               json={"migrant_worker": False, "monthly_income_per_capita": "4800"}).status_code == 200
    r = api(stack, "legalaid-xn", "POST", path + "/decision",
            json={"decision": "denied", "reasons": ["家庭人均月收入超过当地标准"]})
    assert r.status_code == 200, r.text

    page = login(browser, stack, "legalaid-xn", f"/legal-aid/cases/{case_id}", viewport=PHONE)
    page.wait_for_selector("#objection-form")
    page.fill("#objection-form textarea[name='reason']", "家中有重病老人，实际收入低于标准")
    page.click("#objection-form button")
    page.wait_for_selector("#review-form")
    assert "异议审查中" in page.inner_text("#summary")
    page.check("#review-form input[name='upheld'][value='false']")
    page.fill("#review-form textarea[name='reason']", "经核实医疗支出，家庭实际人均收入低于标准")
    page.click("#review-form button")
    page.wait_for_selector("#lawyer-form")
    assert "已批准" in page.inner_text("#summary")
    assert "撤销原决定" in page.inner_text("#log")
    no_codes(page)
    shot(page, "legal-aid-7-objection-phone")
    page.close()


def test_a_supervisor_reads_the_case_without_forms(stack, browser):
    case_id = registered(stack, application(3, "韩德明", "西宁某餐饮管理有限公司"))
    page = login(browser, stack, "supervisor-xn", f"/legal-aid/cases/{case_id}",
                 viewport={"width": 1366, "height": 900})
    page.wait_for_selector("#summary")
    assert page.locator("form.js-form").count() == 0
    assert "1370971" not in page.inner_text("#summary")  # the phone masked for a supervisor
    page.close()
