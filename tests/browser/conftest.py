"""One running `laborcase up` and one Chromium for every browser test (package scope: both stop when the browser
tests end, so the Playwright loop is gone before the asyncio tests run) (Debian's Chromium driven by Playwright).

Journeys use tests/browser/journey.py (login, shot, wait_for, api)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.stack import laborcase_up

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

MISSING = None if Path(CHROMIUM).exists() else (
    "browser tests skipped: Debian's chromium is not installed (apt-get install chromium; "
    "python3 dev.py test installs it where it can)")


def pytest_collection_modifyitems(config, items):
    if MISSING:
        here = Path(__file__).parent
        for item in items:
            if here in Path(str(item.fspath)).parents:
                item.add_marker(pytest.mark.skip(reason=MISSING))


@pytest.fixture(scope="package")
def stack(tmp_path_factory):
    with laborcase_up(tmp_path_factory.mktemp("browser") / "home") as running:
        yield running


@pytest.fixture(scope="package")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--lang=zh-CN"],
            # the browser's own strings (a file input's button, a date field's placeholder) as a zh-CN user's
            # browser shows them (with Debian's chromium-l10n; English without it)
            # (LANGUAGE picks the strings; LANG stays a UTF-8 locale every machine has, or Chromium cannot read a
            # file with a Chinese name: zh_CN.UTF-8 is seldom generated)
            env={**os.environ, "LANG": "C.UTF-8", "LANGUAGE": "zh_CN"})
        yield b
        b.close()
