"""The worker's door in Chromium at phone size, without login: a worker applies online (a wrong ID checksum is
explained in plain words, the personal-information statement must be accepted) with an evidence photo, sees the case
number and the query code once, finds that an unknown case and a wrong code look the same, is stopped by the
limiter when guessing, follows the case as staff work it through the API to a settlement, and rates the service.
Every public request left an audit row without the code or an ID number.

Screenshots: test-artifacts/worker-*.png (390 px wide)."""

from __future__ import annotations

import json
import struct
import zlib
from datetime import date, timedelta

import httpx
import pytest

from events.glossary import raw_codes
from services.intake.domain.identifiers import make_id_number, make_uscc
from services.security.accounts import DEMO_MEDIATORS
from tests import clock
from tests.browser.journey import PHONE, api, shot, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CODES = [c for c in raw_codes() if "_" in c or "." in c]
ID_NUMBER = make_id_number("630102", date(1994, 6, 15), 931)


def png(width: int = 8, height: int = 8) -> bytes:
    """A small real PNG (a red square), made here."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    rows = b"".join(b"\x00" + b"\xcc\x22\x22" * width for _ in range(height))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def no_codes(page) -> None:
    text = page.inner_text("body")
    found = [c for c in CODES if c in text]
    assert not found, f"internal codes on {page.url}: {found}"
    assert "{\"" not in text and "None" not in text and "False" not in text


def lookup(page, case_id: str, code: str) -> str:
    """Fill the progress form; the answer's words (the error line, or the status)."""
    page.fill("#lookup input[name='case_id']", case_id)
    page.fill("#lookup input[name='query_code']", code)
    page.click("#lookup-button")
    page.wait_for_function("""() => document.querySelector('#lookup .form-error').textContent
                                    || !document.getElementById('progress').hidden""", timeout=30_000)
    error = page.inner_text("#lookup .form-error")
    return error or page.inner_text("#progress-status")


def test_a_worker_applies_online_follows_the_case_to_settlement_and_rates_it(stack, browser, tmp_path):
    page = browser.new_context(locale="zh-CN", viewport=PHONE).new_page()
    page.goto(f"{stack.console}/apply")
    assert page.url.endswith("/apply") and page.locator("#me").count() == 0  # no login, no staff navigation
    assert "受理登记" not in page.inner_text("header")
    page.select_option("select[name='region_code']", "630102")
    page.fill(".worker-row input[name='name']", "马晓燕")
    wrong = ID_NUMBER[:17] + ("0" if ID_NUMBER[17] != "0" else "1")
    page.fill(".worker-row input[name='id_number']", wrong)
    page.fill(".worker-row input[name='phone']", "13897105566")
    page.fill("input[name='employer_name']", "城东区某物流公司")
    page.fill("input[name='employer_uscc']", make_uscc("630102", 9301))
    page.select_option(".claim-row select[name='type']", "wage_arrears")
    page.fill(".claim-row input[name='amount_cny']", "12600")
    page.fill("textarea[name='summary']", "2026年1月至3月工资未发，多次催要未果")
    page.click("#apply-button")
    id_error = page.locator(".field-error[data-field='workers[0].id_number']")
    assert "校验位" in id_error.inner_text() and "输错" in id_error.inner_text()
    assert "个人信息处理说明" in page.inner_text(".field-error[data-field='consent']")
    shot(page, "worker-apply-errors")
    # the server explains the same in plain words (the form's own checks bypassed)
    r = httpx.post(f"{stack.console}/api/v1/public/applications", timeout=30, json={
        "region_code": "630102", "consent": True, "workers": [{"name": "马晓燕", "id_number": wrong, "phone": "13897105566"}],
        "employer": {"name": "城东区某物流公司", "uscc": make_uscc("630102", 9301)},
        "claims": [{"type": "wage_arrears"}]})
    assert r.status_code == 422 and "校验位" in r.json()["detail"] and "12351" in r.json()["detail"], r.text
    page.fill(".worker-row input[name='id_number']", ID_NUMBER)
    page.check("input[name='consent']")
    page.click("#apply-button")
    page.wait_for_selector("#applied:not([hidden])", timeout=30_000)
    case_id = page.inner_text("#applied-case").strip()
    code = page.inner_text("#applied-code").strip()
    assert case_id.startswith("LC") and len(code) == 11 and code[5] == "-"
    assert "年" in page.inner_text("#applied-due")
    no_codes(page)
    # an evidence photo, made here
    photo = tmp_path / "工资欠条.png"
    photo.write_bytes(png())
    page.set_input_files("#evidence input[name='file']", str(photo))
    page.fill("#evidence input[name='note']", "老板写的欠条")
    page.click("#upload-button")
    page.wait_for_selector("#uploaded li", timeout=30_000)
    assert "已上传" in page.inner_text("#uploaded")
    shot(page, "worker-applied")
    files = api(stack, "clerk", "GET", f"/api/v1/cases/{case_id}/attachments").json()["attachments"]
    assert [f["kind"] for f in files] == ["photo"] and files[0]["uploaded_by"] == "职工本人（网上）"

    # an unknown case and a wrong code look the same
    page.goto(f"{stack.console}/progress?case_id={case_id}")
    wrong_code = lookup(page, case_id, "ABCDE-FGHJK")
    unknown = lookup(page, "LC20000101999999", code)
    assert wrong_code == unknown and "不正确" in wrong_code
    body = {"case_id": "LC20000101999998", "query_code": "ABCDE-FGHJK"}
    a = httpx.post(f"{stack.console}/api/v1/public/progress", json=body, timeout=30)
    b = httpx.post(f"{stack.console}/api/v1/public/progress", json=body | {"case_id": case_id}, timeout=30)
    assert a.status_code == b.status_code == 404 and a.content == b.content
    shot(page, "worker-progress-same-answer")

    # a guessing loop against one case number is stopped
    guessed = "LC20000101999997"
    statuses = []
    for n in range(8):
        r = httpx.post(f"{stack.console}/api/v1/public/progress", timeout=30,
                       json={"case_id": guessed, "query_code": f"ABCDE-FGH{'JKLMNPQRS'[n]}{'T'}"})
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert "尝试次数过多" in r.json()["detail"] and int(r.headers["retry-after"]) >= 1
            break
    assert statuses[-1] == 429 and len(statuses) <= 6, statuses
    assert "尝试次数过多" in lookup(page, guessed, code)
    shot(page, "worker-progress-locked")

    # the case as it is now
    assert wait_for(lambda: lookup(page, case_id, code.lower().replace("-", "")) in ("办理中", "调解中") or None,
                    "the case reaches the worker's view", 60)
    text = page.inner_text("#progress-steps")
    assert "网上申请已收到" in text and "已转交" in text and "总工会" in text
    assert page.locator("#rating").is_hidden()
    no_codes(page)

    # staff work it: a mediator accepts, schedules a session, settles
    mediator_id = wait_for(lambda: (lambda r: r.status_code == 200 and r.json()["mediator_id"])(
        api(stack, "supervisor-qh", "GET", f"/api/v1/mediation/cases/{case_id}")), "a mediator offered the case")
    user = {m: u for u, m in DEMO_MEDIATORS.items()}[mediator_id]
    path = f"/api/v1/mediation/cases/{case_id}"
    assert api(stack, user, "POST", path + "/accept", json={"mediator_id": mediator_id}).status_code == 200
    when = (clock.now() + timedelta(days=1)).replace(hour=6, minute=30, second=0, microsecond=0)
    r = api(stack, user, "POST", path + "/sessions", json={"scheduled_at": when.isoformat(), "location": "城东区总工会调解室"})
    assert r.status_code == 201, r.text
    assert wait_for(lambda: "调解会安排在" in (lookup(page, case_id, code) and page.inner_text("#progress-steps")) or None,
                    "the session reaches the worker", 60)
    assert "调解员" in page.inner_text("#progress-steps") and mediator_id not in page.inner_text("body")
    shot(page, "worker-progress-session")
    r = api(stack, user, "POST", path + "/settle", json={
        "agreement": {"amount_cny": 12600, "terms": "用人单位一次性支付拖欠工资", "instalments": []},
        "request_confirmation": False})
    assert r.status_code == 200, r.text
    wait_for(lambda: lookup(page, case_id, code) == "已办结" or None, "the settlement reaches the worker", 60)
    assert "双方达成调解协议" in page.inner_text("#progress-steps")
    page.wait_for_selector("#rating:not([hidden])")
    no_codes(page)
    shot(page, "worker-progress-resolved")

    # the worker rates the service
    page.check("#rate input[name='score'][value='5']")
    page.fill("#rate textarea[name='comment']", "调解员很耐心，工资拿到了")
    page.click("#rate-button")
    page.wait_for_selector("#rated:not([hidden])", timeout=30_000)
    assert "5分" in page.inner_text("#rated") and page.locator("#rating").is_hidden()
    shot(page, "worker-rated")
    again = httpx.post(f"{stack.console}/api/v1/public/ratings", timeout=30,
                       json={"case_id": case_id, "query_code": code, "score": 1, "comment": ""})
    assert again.status_code == 409 and "已评价" in again.json()["detail"]
    wait_for(lambda: (lambda r: r.status_code == 200 and r.json().get("satisfaction") == 5)(
        api(stack, "clerk", "GET", f"/api/v1/followup/cases/{case_id}")), "the rating reaches follow-up", 60)

    # every public request is audited, without the code or the ID number
    rows = api(stack, "operator", "GET", "/api/v1/audit", params={"case_id": case_id}).json()["entries"]
    public = [e for e in rows if e["role"] == "public"]
    # nobody but the worker came through the door: the console relays no one else's session (it keeps no cookies)
    assert not [e for e in rows if e["path"].startswith("/api/v1/public/") and e["role"] != "public"]
    assert {e["path"] for e in public} >= {"/api/v1/public/progress", "/api/v1/public/ratings",
                                           f"/api/v1/public/cases/{case_id}/attachments",
                                           "/api/v1/public/applications"}
    dumped = json.dumps(rows, ensure_ascii=False)
    assert code not in dumped and code.replace("-", "") not in dumped and ID_NUMBER not in dumped
