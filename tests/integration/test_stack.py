"""`laborcase up` end to end: embedded broker and database, every service, the console, Ctrl-C."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import psutil
import pytest

from tests.stack import laborcase_up

pytestmark = pytest.mark.integration


def test_up_starts_everything_and_ctrl_c_stops_it(tmp_path):
    with laborcase_up(tmp_path / "home") as stack:
        print(f"laborcase up ready in {stack.startup_seconds:.1f} s")
        with urllib.request.urlopen(f"{stack.console}/readyz", timeout=5) as resp:
            assert resp.status == 200
        home = urllib.request.Request(stack.console + "/", headers={"accept": "text/html"})
        with urllib.request.urlopen(home, timeout=5) as resp:  # a browser is sent to the login page
            assert resp.url.endswith("/login?next=/") and "登录" in resp.read().decode()
        # the worker's door, asked of the console's origin, is answered by intake on the client's own connection
        with urllib.request.urlopen(f"{stack.console}/apply", timeout=5) as resp:
            assert resp.status == 200 and "申请" in resp.read().decode()
        with urllib.request.urlopen(f"{stack.console}/metrics", timeout=5) as resp:
            assert 'laborcase_connections_handed_total{service="console",to="intake"} 1.0' in resp.read().decode()
        children = psutil.Process(stack.proc.pid).children(recursive=True)
        assert len(children) >= 7  # 5 services, console, broker (pg_ctl daemonizes PostgreSQL)
        # where the data is, as the launcher says (as root, out of pytest's private directory)
        data = next(line.split("data in ", 1)[1].rstrip(")\n") for line in stack.output if "data in " in line)
        pidfile = Path(data) / "postmaster.pid"
        assert pidfile.exists()
    assert stack.proc.returncode == 0
    _, alive = psutil.wait_procs(children, timeout=10)
    assert not alive, f"orphans left behind: {[p.cmdline()[:3] for p in alive]}"
    assert not pidfile.exists(), "embedded PostgreSQL still running"
