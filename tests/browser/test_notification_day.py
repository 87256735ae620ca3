"""Notifications in Chromium: a case registered on the hotline is dispatched and offered to a mediator; the
operator reads the SMS the worker was sent (phone masked, the union named, in Chinese) by the recording gateway,
on a desktop and on a phone; the mediator finds the case among their notices; the clerk records the worker's
opt-out in the form (a landline is refused next to the field), and the agreement's SMS is then not sent, with
the reason shown. A supervisor of the unit reads the same messages.

Screenshots: test-artifacts/notification-*.png (one at phone width)."""

from __future__ import annotations

from datetime import date

import pytest

from events.glossary import raw_codes
from services.intake.domain.identifiers import make_id_number, make_uscc
from services.security.accounts import DEMO_MEDIATORS
from tests import clock
from tests.browser.journey import PHONE, api, login, shot, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CODES = [c for c in raw_codes() if "_" in c or "." in c]
WORKER, MOBILE = "韩玉兰", "13997105678"


def no_codes(page) -> None:
    text = page.inner_text("body")
    found = [c for c in CODES if c in text]
    assert not found, f"internal codes on {page.url}: {found}"
    assert "{\"" not in text and "None" not in text and "False" not in text and MOBILE not in text


def messages(stack, user: str, case_id: str) -> list[dict]:
    return api(stack, user, "GET", f"/api/v1/notification/messages?q={case_id}").json()["messages"]


def test_the_operator_reads_the_workers_sms_and_an_opt_out_stops_the_next(stack, browser):
    body = {"channel": "hotline", "received_at": clock.now_iso(), "region_code": "630102", "summary": "装修公司拖欠工资",
            "actor": "热线", "workers": [{"name": WORKER, "id_number": make_id_number("630102", date(1985, 6, 7), 921),
                                          "phone": MOBILE}],
            "employer": {"name": "城东区某装修公司", "uscc": make_uscc("630102", 9210)},
            "claims": [{"type": "wage_arrears", "amount_cny": 7600}]}
    r = api(stack, "clerk", "POST", "/api/v1/cases", json=body)
    assert r.status_code == 201, r.text
    case_id = r.json()["case_id"]
    told = wait_for(lambda: [m for m in messages(stack, "operator", case_id)  # queued until the sender's next turn
                             if m["kind"] == "dispatched" and m["state"] != "queued"],
                    "the worker told of the dispatch")
    assert told[0]["phone"] == "139****5678" and told[0]["state"] in ("delivered", "held")

    page = login(browser, stack, "operator", f"/notification?q={case_id}")
    # the case's messages: the receipt with the query code and the dispatch, in either order within the minute
    row = page.locator(f"#messages tr[data-case='{case_id}']", has_text="派单通知").first
    text = row.inner_text()
    assert "派单通知" in text and "139****5678" in text and "城东区总工会" in text and ("已送达" in text or "夜间暂缓" in text)
    no_codes(page)
    shot(page, "notification-operator")
    phone = login(browser, stack, "operator", f"/notification?q={case_id}", viewport=PHONE, is_mobile=True)
    assert phone.locator("#messages td[data-label='短信内容']").first.is_visible()
    shot(phone, "notification-operator-phone")

    mediator_id = wait_for(lambda: (lambda r: r.status_code == 200 and r.json()["mediator_id"])(
        api(stack, "supervisor-qh", "GET", f"/api/v1/mediation/cases/{case_id}")), "a mediator offered the case")
    user = {m: u for u, m in DEMO_MEDIATORS.items()}[mediator_id]
    mine = wait_for(lambda: [n for n in api(stack, user, "GET", "/api/v1/notification/notices").json()["notices"]
                             if n["case_id"] == case_id], "the mediator's notice")
    assert mine[0]["kind"] == "case_assigned"
    page = login(browser, stack, user, "/notification")
    assert f"案件 {case_id} 已分派给您" in page.inner_text("#my-notices")
    assert page.locator("#messages").count() == 0 and page.locator("#opt-out").count() == 0  # a mediator: notices only
    no_codes(page)
    shot(page, "notification-mediator")

    page = login(browser, stack, "clerk", "/notification")
    form = page.locator("#opt-out form")
    form.locator("input[name='phone']").fill("0971-8123456")
    form.locator("button[type='submit']").click()
    page.wait_for_selector("#opt-out .field-error[data-field='phone']:has-text('手机号码')")
    form.locator("input[name='phone']").fill(MOBILE)
    form.locator("input[name='reason']").fill("职工来电要求不再接收短信")
    form.locator("button[type='submit']").click()
    page.wait_for_load_state("networkidle")
    shot(page, "notification-clerk-opt-out")

    path = f"/api/v1/mediation/cases/{case_id}"
    assert api(stack, user, "POST", path + "/accept", json={"mediator_id": mediator_id}).status_code == 200
    r = api(stack, user, "POST", path + "/settle", json={"agreement": {"amount_cny": 7600, "terms": "一次性支付"}})
    assert r.status_code == 200, r.text
    skipped = wait_for(lambda: [m for m in messages(stack, "operator", case_id) if m["kind"] == "settled"],
                       "the agreement's message recorded")
    assert skipped[0]["state"] == "skipped" and skipped[0]["reason"] == "该号码已退订短信通知"
    assert api(stack, "clerk", "GET", f"/api/v1/notification/messages?q={case_id}").status_code == 403

    page = login(browser, stack, "supervisor-xn", f"/notification?q={case_id}")
    text = page.inner_text("#messages")
    assert "未发送" in text and "该号码已退订短信通知" in text and "达成调解协议" in text
    no_codes(page)
    shot(page, "notification-supervisor")
    assert api(stack, "clerk", "POST", "/api/v1/notification/opt-ins", json={"phone": MOBILE}).json()["opted_out"] is False
