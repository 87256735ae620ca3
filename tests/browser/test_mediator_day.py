"""The mediator's day in Chromium: a case the court refers (signed, as the court partner posts it) is offered to a
mediator, who finds it by the court's 案号, signs for it, schedules a session and records it, settles with two
instalments and reads the agreement; the court's judicial confirmation then shows on the page.

Screenshots (test-artifacts/mediator-*.png), one at phone width."""

from __future__ import annotations

import json
import re
import time
import uuid
from datetime import timedelta

import httpx
import pytest

from services.calendar.model import SHANGHAI
from services.intake.domain.identifiers import make_id_number, make_uscc
from services.security.accounts import DEMO_MEDIATORS
from services.security.partners import signed_headers
from services.stack.demo import credentials
from tests import clock
from tests.browser.journey import PHONE, api, login, shot, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def court_posts(stack, event_type: str, case_no: str, data: dict) -> None:
    """The court partner's HTTP ingress call: a CloudEvent signed with the court's key."""
    _, partners = credentials(stack.home)
    court = partners["court"]
    event = {"specversion": "1.0", "id": str(uuid.uuid4()), "source": f"court/{court['code']}", "type": event_type,
             "time": clock.now_iso(), "subject": case_no, "datacontenttype": "application/json", "data": data}
    body = json.dumps(event, ensure_ascii=False).encode()
    r = httpx.post(f"{stack.console}/api/v1/events", content=body, timeout=30, headers={
        "content-type": "application/cloudevents+json", **signed_headers(court["key_id"], court["secret"], body)})
    assert r.status_code in (200, 202), r.text


def mediation_case(stack, case_no: str) -> dict:
    """The mediation case the referral became, once it was offered to a mediator."""
    def offered():
        r = api(stack, "supervisor-qh", "GET", "/api/v1/mediation/worklist", params={"org_unit": "QH-XN-CZ"})
        found = [c for c in r.json().get("cases", []) if c["court_case_no"] == case_no] if r.is_success else []
        return found[0] if found and found[0]["mediator_id"] else None
    return wait_for(offered, f"{case_no} offered to a mediator")


def text_of(page, selector: str) -> str:
    return page.inner_text(selector)


def test_a_mediator_takes_a_court_case_to_a_confirmed_settlement(stack, browser):
    case_no = f"({clock.today().year})青0103民初{int(time.time()) % 100000}号"
    worker = {"name": "韩春燕", "id_number": make_id_number("630103", clock.today().replace(year=1990), 71),
              "phone": "13909710071"}
    court_posts(stack, "court.case_referred", case_no, {
        "court_code": "QH0103", "court_case_no": case_no, "referral_kind": "post_filing", "procedure": "ordinary",
        "region_code": "630103", "referred_at": clock.now_iso(hours=-2), "workers": [worker],
        "employer": {"name": "青海雪域餐饮管理有限公司", "uscc": make_uscc("630103", 7101)},
        "claims": [{"type": "wage_arrears", "amount_cny": 8800}], "summary": "拖欠两个月工资，法院委托调解"})
    case = mediation_case(stack, case_no)
    case_id = case["case_id"]
    user = {m: u for u, m in DEMO_MEDIATORS.items()}[case["mediator_id"]]

    # the mediator finds the case by the court's number (the search box, "/" focuses it)
    page = login(browser, stack, user, "/mediation", viewport={"width": 1280, "height": 900})
    page.wait_for_url(re.compile(r".*/mediation$"))  # the login page's URL names it too: wait for the list itself
    page.wait_for_selector("main h1")
    shot(page, "mediator-0-worklist")
    page.locator(f"tr[data-case='{case_id}']").wait_for()
    page.keyboard.press("/")
    assert page.evaluate("document.activeElement.name") == "q"
    page.keyboard.type(case_no[-8:])
    page.keyboard.press("Enter")
    page.wait_for_url("**q=*")
    row = page.locator(f"tr[data-case='{case_id}']")
    row.wait_for()
    assert page.locator("table.worklist tbody tr[data-case]").count() == 1
    listed = row.inner_text()
    assert "法院诉中委托调解" in listed and "韩春燕" in listed and "M-" not in listed
    shot(page, "mediator-1-found-by-case-number")
    row.focus()
    page.keyboard.press("Enter")  # the keyboard opens the row
    page.wait_for_url(f"**/mediation/cases/{case_id}")
    facts = text_of(page, "#facts")
    assert "法院诉中委托调解" in facts and case_no in facts and "8,800.00 元" in facts and "欠薪" in facts
    assert "court_post_filing" not in page.content()
    shot(page, "mediator-2-offered")

    # signs for it
    page.click("#accept-form button")
    page.wait_for_selector("#schedule-form")
    assert text_of(page, "#case-state").startswith("调解中")

    # schedules a session, then records it
    soon = (clock.now() + timedelta(minutes=5)).astimezone(SHANGHAI)
    page.fill("#schedule-form input[name='scheduled_at']", soon.strftime("%Y-%m-%dT%H:%M"))
    page.fill("#schedule-form input[name='location']", "城中区职工服务中心第一调解室")
    page.click("#schedule-form button[type='submit']")
    record = page.locator("form.record-form").first
    record.wait_for()
    shot(page, "mediator-3-session-scheduled")
    record.locator("select[name='result']").select_option("agreed")
    record.locator("input[name='others']").fill("李律师（用人单位委托代理人）")
    record.locator("textarea[name='notes']").fill("用人单位同意分两期支付拖欠工资8800元，职工同意")
    record.locator("button[type='submit']").click()
    page.wait_for_selector("#sessions td:has-text('达成一致')")
    sessions = text_of(page, "#sessions table")
    assert "韩春燕（职工）" in sessions and "李律师（用人单位委托代理人）" in sessions
    shot(page, "mediator-4-session-recorded")

    # settles with two instalments: a malformed amount is answered in Chinese next to its field first
    settle = page.locator("#settle-form")
    settle.locator("input[name='amount_cny']").fill("8800")
    page.click("#add-instalment")
    page.click("#add-instalment")
    first, second = clock.today() + timedelta(days=10), clock.today() + timedelta(days=40)
    rows = settle.locator("tr.instalment")
    rows.nth(0).locator("input[name='inst_date']").fill(first.isoformat())
    rows.nth(0).locator("input[name='inst_amount']").fill("4千")
    rows.nth(1).locator("input[name='inst_date']").fill(second.isoformat())
    rows.nth(1).locator("input[name='inst_amount']").fill("4800")
    settle.locator("textarea[name='terms']").fill("用人单位分两期支付拖欠工资，职工放弃其他请求")
    settle.locator("button[type='submit']").click()
    error = settle.locator(".field-error[data-field='agreement.instalments[0].amount_cny']")
    page.wait_for_function("el => el.textContent.length > 0", arg=error.element_handle())
    assert error.inner_text() == "必须是数字"
    shot(page, "mediator-5-instalment-error")
    rows.nth(0).locator("input[name='inst_amount']").fill("4000")
    settle.locator("button[type='submit']").click()

    # the agreement in full, waiting for the court
    page.wait_for_selector("#agreement #instalment-schedule")
    agreement = text_of(page, "#agreement")
    assert "8,800.00 元" in agreement and "4,000.00 元" in agreement and "4,800.00 元" in agreement
    assert f"{first.year}年{first.month}月{first.day}日" in agreement and "分2期履行" in agreement
    assert "待法院确认" in text_of(page, "#confirmation")
    log = text_of(page, "#log")
    assert "调解成功" in log and "协议金额：8,800.00 元" in log and "申请司法确认：是" in log
    assert not re.search(r"\[|False|True|None|M-C", log)
    shot(page, "mediator-6-agreement")

    # the court confirms: the page says so
    court_posts(stack, "court.confirmation_decided", case_no, {
        "court_case_no": case_no, "decision": "confirmed", "decided_at": clock.now_iso(), "reason": ""})

    def confirmed():
        page.reload()
        return "法院已确认" in text_of(page, "#confirmation")
    wait_for(confirmed, "the court's confirmation on the case page")
    assert "已结束" in text_of(page, "#case-state") and "法院确认调解协议" in text_of(page, "#log")
    assert page.locator("#settle-form").count() == 0  # no step is offered on a finished case
    shot(page, "mediator-7-confirmed")

    phone = login(browser, stack, user, f"/mediation/cases/{case_id}", viewport=PHONE)
    phone.wait_for_selector("#confirmation")
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"] + 1, f"the page scrolls sideways on a phone ({width}px)"
    shot(phone, "mediator-8-phone")

    # the finished case leaves the worklist; the 已结束 filter shows it
    page.goto(f"{stack.console}/mediation?q={case_id}")
    assert page.locator(f"tr[data-case='{case_id}']").count() == 0
    page.select_option("select[name='state']", "resolved")
    page.click("form.filters button[type='submit']")
    page.wait_for_selector(f"tr[data-case='{case_id}']")
    page.close()
    phone.close()
