#!/usr/bin/env python3
"""Set up and run laborcase on a fresh machine that has only Python 3.11+.

    python3 dev.py demo   # set up, then run the whole system with the demo (Ctrl-C stops it)
    python3 dev.py test   # set up, then run the whole test suite, then its deadline rules at shifted clocks
    python3 dev.py test -k outbox -x   # set up, then pytest with these arguments only

Setting up means: a virtual environment in .venv with laborcase and its pinned dependencies
(including the Tansu broker and PostgreSQL server wheels), and, for the tests, Debian's Chromium
for the browser tests where it can be installed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
#: The moments the deadline rules (pytest -m clock) are run again at; their dates are in tests/clock.py.
SHIFTED_CLOCKS = ("makeup-saturday", "new-years-eve", "year-without-data")
VENV = ROOT / ".venv"
PYTHON = VENV / "bin" / "python"


def setup() -> None:
    if sys.version_info < (3, 11):  # noqa: UP036 - dev.py runs before anything checks the version
        sys.exit(f"laborcase needs Python 3.11 or newer, this is {sys.version.split()[0]}")
    if not PYTHON.exists():
        print("setup: creating .venv", flush=True)
        venv.create(VENV, with_pip=True)
    digest = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    stamp = VENV / ".laborcase-installed"
    if not stamp.exists() or stamp.read_text() != digest:
        print("setup: installing laborcase and its dependencies (pip)", flush=True)
        subprocess.check_call([str(PYTHON), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               "-e", f"{ROOT}[test]"])
        stamp.write_text(digest)


#: Chromium's Chinese strings (Debian's chromium-l10n).
ZH_LOCALE = "/usr/lib/chromium/locales/zh-CN.pak"


def ensure_chromium() -> None:
    """Debian's Chromium for the browser tests (Playwright's own download cannot work here), a Chinese font, and
    best effort its Chinese strings (chromium-l10n: without them the screenshots show the browser's own controls
    — a file input's button, a date field — in English, and nothing else changes)."""
    browser = bool(shutil.which("chromium")) and Path("/usr/share/fonts/truetype/wqy").exists()
    if (browser and Path(ZH_LOCALE).exists()) or os.environ.get("LABORCASE_SKIP_BROWSER_INSTALL"):
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        if not browser:
            print("setup: chromium not installed and cannot be installed here (needs root and apt-get); "
                  "the browser tests will be skipped and say so", flush=True)
        return
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    quiet = {"stdout": subprocess.DEVNULL, "env": env}
    install = ["apt-get", "install", "-y", "-qq", "--no-install-recommends"]
    if not browser:
        print("setup: installing Debian's chromium and a Chinese font for the browser tests (apt-get)", flush=True)
        if subprocess.call(["apt-get", "update", "-qq"], **quiet) != 0 or subprocess.call(
                [*install, "chromium", "fonts-wqy-zenhei"], **quiet) != 0:
            print("setup: apt-get could not install chromium; the browser tests will be skipped and say so",
                  flush=True)
            return
    if subprocess.call([*install, "chromium-l10n"], **quiet) != 0:
        print("setup: chromium-l10n not installed: the screenshots show the browser's own controls in English",
              flush=True)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test", "setup"):
        print(__doc__)
        return 2
    command, rest = argv[0], argv[1:]
    os.chdir(ROOT)
    setup()
    if command == "setup":
        return 0
    if command == "demo":
        os.execv(str(PYTHON), [str(PYTHON), "-m", "services.cli", "up", "--demo", *rest])
    ensure_chromium()
    return run_tests(rest)


def run_tests(args: list[str]) -> int:
    """The suite at the system's clock; then, unless pytest arguments were given, the deadline rules again with
    the clock of every service and test shifted to each moment that breaks naive date code."""
    pytest = [str(PYTHON), "-m", "pytest"]
    if args:
        return subprocess.call([*pytest, *args])
    results = [("system clock", subprocess.call(pytest))]
    for moment in SHIFTED_CLOCKS:
        print(f"\n=== shifted-clock run: LABORCASE_TEST_NOW={moment} pytest -m clock ===", flush=True)
        env = os.environ | {"LABORCASE_TEST_NOW": moment}
        results.append((moment, subprocess.call([*pytest, "-m", "clock", "-p", "no:cacheprovider"], env=env)))
    print("\n=== summary ===")
    for name, code in results:
        print(f"  {name:<20} {'passed' if code == 0 else f'FAILED (pytest exit status {code})'}")
    return next((code for _, code in results if code), 0)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
