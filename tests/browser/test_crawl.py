"""Every page every role can reach, walked in Chromium after the demo's data is loaded: no page answers JSON, and
no visible text carries a raw code of the glossary (event types, multi-word codes), a unit's code, a staff id or a
Python value. Pages a role is not offered answer a readable Chinese refusal. Screenshots of each role's home and of
a refusal land in test-artifacts/crawl-*.png."""

from __future__ import annotations

import re
from collections import Counter
from urllib.parse import urlsplit

import pytest

from events.glossary import raw_codes
from services.hierarchy.orgunits import default_hierarchy
from services.security.accounts import DEMO_USERS
from services.web.nav import SECTIONS
from tests.browser.journey import login, shot

pytestmark = [pytest.mark.browser, pytest.mark.integration]

ROLES_OF = {user: role for user, role, *_ in DEMO_USERS}
PER_ROLE = 45  # pages per account
PER_SHAPE = 2  # pages per URL shape (/mediation/cases/<id> is one shape)


def forbidden_patterns() -> list[tuple[str, re.Pattern[str]]]:
    codes = sorted(set(raw_codes()), key=len, reverse=True)
    units = sorted(default_hierarchy().units, key=len, reverse=True)
    return [
        ("code", re.compile(r"(?<![A-Za-z0-9_.])(" + "|".join(map(re.escape, codes)) + r")(?![A-Za-z0-9_])")),
        ("unit code", re.compile(r"(?<![A-Za-z0-9-])(" + "|".join(map(re.escape, units)) + r")(?![A-Za-z0-9-])")),
        ("staff id", re.compile(r"\b[ML]-[A-Z]+(?:-[A-Z]+)*-\d{2}\b")),
        ("python value", re.compile(r"\[['\"]|\b(?:None|True|False)\b|\d\.0元|\d\.0 元")),
        ("english", re.compile(r"\b(?:null|undefined|NaN|Traceback|Internal Server Error|Not Found|Forbidden)\b")),
    ]


def shape(path: str) -> str:
    return re.sub(r"/(LC\d+|[0-9a-f-]{36}|\d+)(?=/|$)", "/<id>", urlsplit(path).path)


def links(page) -> list[str]:
    hrefs = page.eval_on_selector_all("a[href]", "els => els.map(e => e.getAttribute('href'))")
    return [h for h in hrefs if h.startswith("/") and not h.startswith(("/api/", "/static/", "//"))
            and not h.endswith((".csv", ".pdf"))]


@pytest.fixture(scope="module")
def demo(stack):
    from services.stack.demo import seed

    return list(seed(stack.console, stack.home))


@pytest.mark.parametrize("user", [u for u, role, *_ in DEMO_USERS if role != "partner"])
def test_every_reachable_page_reads_as_words(stack, browser, demo, user):
    patterns = forbidden_patterns()
    page = login(browser, stack, user, "/")
    shot(page, f"crawl-{user}-home")
    seen, shapes, queue, problems = set(), Counter(), ["/"], []
    while queue and len(seen) < PER_ROLE:
        path = queue.pop(0)
        if path in seen or shapes[shape(path)] >= PER_SHAPE:
            continue
        seen.add(path)
        shapes[shape(path)] += 1
        response = page.goto(f"{stack.console}{path}")
        assert response is not None
        kind = response.headers.get("content-type", "")
        if "json" in kind or not kind.startswith("text/html"):
            problems.append(f"{path}: answers {kind} ({response.status})")
            continue
        page.wait_for_load_state("networkidle")
        text = page.inner_text("body")
        for what, pattern in patterns:
            for found in sorted(set(m.group(0) for m in pattern.finditer(text)))[:5]:
                problems.append(f"{path}: {what} {found!r}")
        queue += [h for h in links(page) if h not in seen]
    assert problems == [], "\n".join(problems)


@pytest.mark.parametrize("user", ["clerk", "mediator-cd", "legalaid-xn", "operator"])
def test_pages_a_role_is_not_offered_are_refused_in_words(stack, browser, user):
    role = ROLES_OF[user]
    page = login(browser, stack, user, "/")
    offered = {a for a in page.eval_on_selector_all("header nav a", "els => els.map(e => e.getAttribute('href'))")}
    for section in SECTIONS:
        if section.path == "/":  # everyone's home page; only the operator's shows the system's state
            continue
        if role in section.roles:
            assert section.path in offered, f"{user} is not offered {section.path}"
            continue
        assert section.path not in offered, f"{user} is offered {section.path}, which refuses the role"
        response = page.goto(f"{stack.console}{section.path}")
        assert response is not None and response.status in (403, 404), (section.path, response.status)
        assert response.headers["content-type"].startswith("text/html")
        body = page.inner_text("main")
        assert "无权访问" in body or "不存在" in body or "未找到" in body, body
        assert "{" not in body
    shot(page, f"crawl-{user}-refused")
