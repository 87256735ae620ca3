"""What a browser journey does again and again: log in through the login page, take a screenshot into
test-artifacts/, wait for an event to travel between services, call the API as a demo account."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PHONE = {"width": 390, "height": 844}


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def login(browser, stack, user: str, path: str, **kw):
    """Through the login page, as a person would: the console redirects there first."""
    page = browser.new_context(locale="zh-CN", **kw).new_page()
    page.goto(f"{stack.console}{path}")
    page.wait_for_url("**/login**")
    page.fill("input[name='username']", user)
    page.fill("input[name='password']", stack.password(user))
    page.click("form#login button")
    page.wait_for_selector("#me")  # the page after the login (the login page's own URL also carries the path)
    return page


def wait_for(fetch, what: str, seconds: float = 30):
    """Poll ``fetch()`` until it returns something truthy (events travel through Kafka between services)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = fetch()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def api(stack, user: str, method: str, path: str, **kw) -> httpx.Response:
    return httpx.request(method, f"{stack.console}{path}", headers=stack.bearer(user), timeout=30, **kw)
