"""The supervisor's day in Chromium: find a case by a worker's name and by the court's 案号, filter by tier and
overdue (the URL keeps the filters), open its timeline, sign for an overdue alert with a note (a too-short note is
refused in Chinese next to the field), export the statistics' case rows as CSV, and read the mediators' figures.

Screenshots land in test-artifacts/ (supervisor-*.png), one at phone width."""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import date, timedelta

import httpx
import pytest

from services.intake.domain.identifiers import make_id_number, make_uscc
from services.security.partners import signed_headers
from services.stack.demo import credentials
from tests import clock
from tests.browser.journey import PHONE, api, login, shot, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

RUN = uuid.uuid4().hex[:6]
WORKER = f"督办甲{RUN}"
COURT_WORKER = f"委派乙{RUN}"
CASE_NO = f"({clock.today().year})青0103民诉前调{RUN}号"
RAW = ("general", "overdue", "wage_arrears", "QH-XN", "M-CD", "None", "True", "False")


def hotline_case() -> dict:
    """Received four days ago, a general question (same day): overdue now."""
    return {"channel": "hotline", "received_at": (clock.now() - timedelta(days=4)).replace(microsecond=0).isoformat(),
            "region_code": "630102", "summary": "督办浏览器测试：拖欠工资", "actor": "热线",
            "workers": [{"name": WORKER, "id_number": make_id_number("630102", date(1988, 3, 4), 611),
                         "phone": "13909716110"}],
            "employer": {"name": f"城东区督办测试物流公司{RUN}", "uscc": make_uscc("630102", 9611)},
            "claims": [{"type": "wage_arrears", "amount_cny": 18600}]}


def court_referral() -> dict:
    at = (clock.now() - timedelta(hours=3)).replace(microsecond=0).isoformat()
    return {"specversion": "1.0", "id": str(uuid.uuid4()), "source": "court/QH0103", "type": "court.case_referred",
            "time": at, "subject": CASE_NO, "datacontenttype": "application/json",
            "data": {"court_code": "QH0103", "court_case_no": CASE_NO, "referral_kind": "pre_filing",
                     "region_code": "630103", "referred_at": at,
                     "workers": [{"name": COURT_WORKER, "id_number": make_id_number("630103", date(1980, 1, 2), 612),
                                  "phone": "13909716120"}],
                     "employer": {"name": f"城中区某物业公司{RUN}", "uscc": make_uscc("630103", 9612)},
                     "claims": [{"type": "termination", "amount_cny": 32000}], "summary": "诉前委派调解"}}


def no_raw_codes(page) -> None:
    text = page.inner_text("main")
    assert not [c for c in RAW if c in text], [c for c in RAW if c in text]


def test_supervisor_searches_filters_acknowledges_exports_and_reads_the_figures(stack, browser, tmp_path):
    case_id = api(stack, "clerk", "POST", "/api/v1/cases", json=hotline_case()).json()["case_id"]
    _, partners = credentials(stack.home)
    body = json.dumps(court_referral(), ensure_ascii=False).encode()
    court = partners["court"]
    r = httpx.post(f"{stack.console}/api/v1/events", content=body, timeout=30, headers={
        "content-type": "application/cloudevents+json", **signed_headers(court["key_id"], court["secret"], body)})
    assert r.status_code < 300, r.text
    wait_for(lambda: [c for c in api(stack, "supervisor-qh", "GET", "/api/v1/cases",
                                     params={"overdue": "true", "org_unit": "QH"}).json()["cases"]
                      if c["case_id"] == case_id], "the hotline case overdue in the projection")
    court_case = wait_for(lambda: api(stack, "supervisor-qh", "GET", "/api/v1/cases",
                                      params={"ref": CASE_NO}).json()["cases"], "the court's case projected")[0]

    page = login(browser, stack, "supervisor-qh", "/supervision/cases", viewport={"width": 1400, "height": 1000})
    # by the worker's name
    page.fill("input[name='q']", WORKER)
    page.press("input[name='q']", "Enter")
    page.wait_for_selector(f"#results tr[data-case='{case_id}']")
    assert "********" in page.inner_text(f"#results tr[data-case='{case_id}']")  # a supervisor reads a masked ID
    no_raw_codes(page)
    shot(page, "supervisor-1-search-by-name")
    # by the court's case number
    page.fill("input[name='q']", CASE_NO)
    page.press("input[name='q']", "Enter")
    page.wait_for_selector(f"#results tr[data-case='{court_case['case_id']}']")
    assert COURT_WORKER in page.inner_text("#results")
    shot(page, "supervisor-2-search-by-case-no")
    # filters: general tier, overdue now — kept in the URL
    page.goto(f"{stack.console}/supervision/cases")
    page.select_option("select[name='tier']", "general")
    page.select_option("select[name='overdue']", "yes")
    page.click("form.filters button[type='submit']")
    page.wait_for_url("**tier=general**")
    assert "overdue=yes" in page.url
    page.wait_for_selector(f"#results tr[data-case='{case_id}'] .badge")
    assert page.input_value("select[name='tier']") == "general"
    shot(page, "supervisor-3-filtered")
    # the timeline
    page.click(f"#results tr[data-case='{case_id}'] a")
    page.wait_for_selector("#timeline li")
    assert "受理登记" in page.inner_text("#timeline") and WORKER in page.inner_text("#case-facts")
    assert page.query_selector("#documents")
    no_raw_codes(page)
    shot(page, "supervisor-4-timeline")

    # the board: sign for the overdue alert through the form
    page.goto(f"{stack.console}/supervision")
    row = f"#overdue tr[data-case='{case_id}']"
    page.wait_for_selector(row, timeout=20_000)
    assert page.inner_text("#overdue-count") == str(len(page.query_selector_all("#overdue tr[data-alert]")))
    page.click(f"{row} button[data-ack]")
    page.fill("#ack-form textarea[name='note']", "好")
    page.click("#ack-form button[type='submit']")
    page.wait_for_selector("#ack-form .field-error[data-field='note']:has-text('2')")
    shot(page, "supervisor-5-ack-too-short")
    page.fill("#ack-form textarea[name='note']", "已电话督促城东区总工会，今日内办结")
    page.click("#ack-form button[type='submit']")
    page.wait_for_selector(f"{row}:has-text('已签收')", timeout=20_000)
    shot(page, "supervisor-6-acknowledged")

    # statistics: the case rows as CSV, and the mediators' figures by name
    page.goto(f"{stack.console}/supervision/stats?tier=general")
    with page.expect_download() as download:
        page.click("#csv-cases")
    saved = tmp_path / "cases.csv"
    download.value.save_as(saved)
    raw = saved.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Chinese
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:6] == ["案件编号", "法院/仲裁案号", "受理时间", "受理渠道", "分级", "状态"]
    [mine] = [r for r in rows if r[0] == case_id]
    assert mine[3] == "12351热线" and mine[4] == "一般" and mine[14] == "是"  # 当前超期
    wait_for(lambda: api(stack, "supervisor-qh", "GET", "/api/v1/stats/mediators").json()["mediators"],
             "a mediator with a case")
    page.reload()
    figures = page.inner_text("#mediators")
    assert "总工会" in figures and "M-" not in figures
    no_raw_codes(page)
    shot(page, "supervisor-7-stats-and-figures")
    page.close()

    phone = login(browser, stack, "supervisor-qh", "/supervision/cases", viewport=PHONE)
    phone.wait_for_selector("form.search")  # logged in (the login page's own URL names the path it goes back to)
    phone.goto(f"{stack.console}/supervision/cases?q={WORKER}")
    assert phone.input_value("input[name='q']") == WORKER
    assert len(phone.query_selector_all("#results tbody tr")) == 1
    phone.wait_for_selector(f"#results tr[data-case='{case_id}']")
    shot(phone, "supervisor-8-search-phone")
    phone.close()
