"""`laborcase up` end to end: embedded broker and database, every service, the console, Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request

import psutil
import pytest

from services.stack.processes import free_port

pytestmark = pytest.mark.integration


def test_up_starts_everything_and_ctrl_c_stops_it(tmp_path):
    ports = {f"LABORCASE_{s.upper()}_PORT": str(free_port()) for s in
             ("intake", "mediation", "legal_aid", "followup", "supervision", "console")}
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABORCASE_") and k != "KAFKA_BOOTSTRAP_SERVERS"}
    env |= ports | {"LABORCASE_HOME": str(tmp_path / "home")}
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "up"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "Ctrl-C" in line or proc.poll() is not None:
                break
        elapsed = time.monotonic() - started
        print(f"laborcase up ready in {elapsed:.1f} s")
        assert any("ready in" in line for line in lines), "".join(lines)
        console = f"http://127.0.0.1:{ports['LABORCASE_CONSOLE_PORT']}"
        with urllib.request.urlopen(f"{console}/readyz", timeout=5) as resp:
            assert resp.status == 200
        with urllib.request.urlopen(console + "/", timeout=5) as resp:
            assert "案件管理" in resp.read().decode()
        children = psutil.Process(proc.pid).children(recursive=True)
        assert len(children) >= 7  # 5 services, console, broker (pg_ctl daemonizes PostgreSQL)
        pidfile = tmp_path / "home" / "pgdata" / "postmaster.pid"
        assert pidfile.exists()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 0
        _, alive = psutil.wait_procs(children, timeout=10)
        assert not alive, f"orphans left behind: {[p.cmdline()[:3] for p in alive]}"
        assert not pidfile.exists(), "embedded PostgreSQL still running"
    finally:
        if proc.poll() is None:
            proc.kill()
