"""The words people read: one glossary for every code, money, times, units; paging; navigation by role; refusals
as readable pages for a browser and RFC 9457 JSON for the API."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from events import glossary
from events.catalog import EVENTS
from services.backbone.errors import Forbidden
from services.backbone.http import Problem, install_problem_handlers
from services.security.policy import ROLES, Principal
from services.web import errors, paging, words
from services.web.nav import SECTIONS, sections_for


def test_every_event_of_the_catalog_has_words():
    assert glossary.missing_event_labels() == []
    assert all(glossary.zh("event", t) for t in EVENTS)


def test_a_code_reads_as_words_and_an_unknown_one_says_so():
    assert glossary.zh("claim", "work_injury") == "工伤待遇"
    assert glossary.zh("case_kind", "court_pre_filing") == "法院诉前委派调解"
    assert glossary.zh("clock", "instalment_check:2") == "分期履行核查"
    assert glossary.zh("claim", None) == "—"
    assert glossary.zh("claim", "space_travel") == "未知（space_travel）"


def test_raw_codes_cover_event_types_and_multiword_codes_only():
    codes = set(glossary.raw_codes())
    assert {"followup.attempted", "work_injury", "court_pre_filing"} <= codes
    assert "settled" not in codes  # one plain word is not searched for on pages (it is English, but common)


@pytest.mark.parametrize(("value", "shown"), [(18600, "18,600.00 元"), ("8800.0", "8,800.00 元"), (0, "0.00 元"),
                                              (1234567.5, "1,234,567.50 元"), (None, "—")])
def test_money(value, shown):
    assert words.money(value) == shown


def test_times_read_in_shanghai_in_chinese():
    assert words.when(datetime(2026, 12, 31, 16, 5, tzinfo=UTC)) == "2027年1月1日 00:05"
    assert words.when("2026-03-02T09:05:00+08:00") == "2026年3月2日 09:05"
    assert words.day("2026-12-03") == "2026年12月3日"
    assert words.day(date(2027, 1, 4)) == "2027年1月4日"
    assert words.when(None) == "—"


def test_units_by_name_and_values_as_text():
    assert words.unit_name("QH-XN-CD") == "城东区总工会"
    assert words.unit_name("XX-NOPE") == "未知单位（XX-NOPE）"
    assert words.plain(["甲", "乙"]) == "甲、乙"
    assert words.plain(False) == "否"


def test_paging_and_sorting_take_only_what_is_allowed():
    assert paging.window("3") == (3, 25, 50)
    assert paging.window("-1") == (1, 25, 0) == paging.window("x; drop table") == paging.window(None)
    assert paging.Page([], total=51, number=1).pages == 3 and paging.Page([], 0, 1).pages == 1
    allowed = {"due": "due_at", "received": "received_at"}
    assert paging.sort_key("-due", allowed, "received") == ("-due", "due_at DESC NULLS LAST")
    assert paging.sort_key("due_at; drop table x", allowed, "received") == ("received",
                                                                           "received_at ASC NULLS LAST")


def test_each_role_is_offered_only_its_sections():
    def offered(role: str) -> set[str]:
        return {s.path for s in sections_for(Principal("u", role))}  # type: ignore[arg-type]

    assert offered("clerk") == {"/intake", "/supervision/cases", "/followup", "/notification"}
    assert offered("mediator") == {"/mediation", "/notification"}
    assert offered("operator") == {"/", "/notification"}
    assert offered("partner") == set()
    assert sections_for(None) == []
    assert all(s.roles <= set(ROLES) for s in SECTIONS)


def app_refusing() -> TestClient:
    app = FastAPI()
    install_problem_handlers(app, errors.page)

    @app.get("/mediation/cases/{case_id}")
    async def page(case_id: str) -> None:
        raise Forbidden("这不是您所在单位的案件")

    @app.get("/api/v1/cases/{case_id}")
    async def api(case_id: str) -> None:
        raise Problem(404, "案件不存在")

    return TestClient(app)


def test_a_browser_meets_a_chinese_page_and_the_api_a_problem():
    client = app_refusing()
    page = client.get("/mediation/cases/LC1", headers={"accept": "text/html,application/xhtml+xml"})
    assert page.status_code == 403 and page.headers["content-type"].startswith("text/html")
    assert "无权访问" in page.text and "这不是您所在单位的案件" in page.text and "返回首页" in page.text
    script = client.get("/mediation/cases/LC1", headers={"accept": "application/json"})
    assert script.headers["content-type"] == "application/problem+json"
    api = client.get("/api/v1/cases/LC1", headers={"accept": "text/html"})
    assert api.status_code == 404 and api.headers["content-type"] == "application/problem+json"
