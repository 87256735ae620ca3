"""The console in a real headless browser (Debian's Chromium driven by Playwright) against `laborcase up`.

Screenshots land in test-artifacts/.
"""

from __future__ import annotations

import time
from datetime import date, timedelta

import httpx
import pytest

from services.intake.domain.identifiers import make_id_number, make_uscc
from tests import clock
from tests.browser.journey import ARTIFACTS, login

pytestmark = [pytest.mark.browser, pytest.mark.integration]


def overdue_case(n: int) -> dict:
    return {"channel": "hotline", "received_at": (clock.now() - timedelta(days=4)).replace(
                microsecond=0).isoformat(),
            "region_code": "630102", "summary": "浏览器测试：拖欠工资", "actor": "热线",
            "workers": [{"name": f"浏览器职工{n}", "id_number": make_id_number("630102", date(1991, 2, 3), 500 + n),
                         "phone": f"1390971{n:04d}"}],
            "employer": {"name": f"城东区某物流公司{n}", "uscc": make_uscc("630102", 9900 + n)},
            "claims": [{"type": "wage_arrears", "amount_cny": 8800}]}


def test_login_is_required_and_wrong_passwords_are_refused(stack, browser):
    page = browser.new_context(locale="zh-CN").new_page()
    page.goto(f"{stack.console}/supervision")
    page.wait_for_url("**/login**")
    page.fill("input[name='username']", "supervisor-qh")
    page.fill("input[name='password']", "wrong-password")
    page.click("form#login button")
    page.wait_for_selector("#login-error:has-text('错误')")


def test_board_shows_a_new_overdue_case_without_reload(stack, browser):
    ARTIFACTS.mkdir(exist_ok=True)
    page = login(browser, stack, "supervisor-qh", "/supervision", viewport={"width": 1400, "height": 1100})
    page.wait_for_selector("#live:has-text('实时')", timeout=20_000)
    page.evaluate("window.__noReload = true")
    case_id = httpx.post(f"{stack.console}/api/v1/cases", json=overdue_case(1), timeout=30,
                         headers=stack.bearer("clerk")).json()["case_id"]
    page.wait_for_selector(f"#overdue tr[data-case='{case_id}']", timeout=15_000)
    assert page.evaluate("window.__noReload") is True  # the same page: updated live over SSE
    # the statistics' 当前超期 follows the board's 已超期 at once (one figure, one definition)
    page.wait_for_function("() => { const row = [...document.querySelectorAll('#kpis tr')].find("
                           "r => r.querySelector('th').textContent === '当前超期');"
                           " return row && row.querySelector('td').textContent === "
                           "document.getElementById('overdue-count').textContent; }", timeout=15_000)
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

    page.click(f"#overdue tr[data-case='{case_id}'] a")
    page.wait_for_selector("#timeline li")
    assert "受理登记" in page.inner_text("#timeline")
    page.screenshot(path=str(ARTIFACTS / "case.png"), full_page=True)
    page.close()


def assigned_mediator(stack, case_id: str) -> str:
    """The demo account of the mediator the case was offered to (a mediator acts only as themselves)."""
    from services.security.accounts import DEMO_MEDIATORS

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        r = httpx.get(f"{stack.console}/api/v1/mediation/cases/{case_id}", headers=stack.bearer("supervisor-qh"),
                      timeout=10)
        if r.status_code == 200 and r.json()["mediator_id"]:
            return {m: user for user, m in DEMO_MEDIATORS.items()}[r.json()["mediator_id"]]
        time.sleep(0.3)
    raise AssertionError(f"{case_id} was not offered to a mediator")


def test_mediator_sees_validation_errors_next_to_the_field(stack, browser):
    case_id = httpx.post(f"{stack.console}/api/v1/cases", json=overdue_case(2), timeout=30,
                         headers=stack.bearer("clerk")).json()["case_id"]
    page = login(browser, stack, assigned_mediator(stack, case_id), "/mediation")
    page.wait_for_selector(f"tr[data-case='{case_id}']", timeout=20_000)
    page.goto(f"{stack.console}/mediation/cases/{case_id}")
    page.click("form[data-action$='/accept'] button")
    page.wait_for_selector("#settle-form", timeout=15_000)
    form = page.locator("form[data-shape='settle']")
    form.locator("input[name='amount_cny']").fill("8800")
    first, second = (clock.today() + timedelta(days=18)).isoformat(), (clock.today() + timedelta(days=49)).isoformat()
    for when in (first, second):
        page.click("#add-instalment")
        row = form.locator("tr.instalment").last
        row.locator("input[name='inst_date']").fill(when)
        row.locator("input[name='inst_amount']").fill("4000")
    form.locator("button[type='submit']").click()
    error = form.locator(".field-error[data-field='agreement.instalments']")
    error.wait_for(timeout=10_000)
    page.wait_for_function("el => el.textContent.length > 0", arg=error.element_handle())
    assert "不符" in error.inner_text()
    page.screenshot(path=str(ARTIFACTS / "mediation-case.png"), full_page=True)
    page.close()
