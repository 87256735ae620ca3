"""The fault-injection harness, short version: services killed with SIGKILL, PostgreSQL restarted, a service
frozen past its broker session and two services cut off the broker through their proxies (one link dropped,
one stalled) while cases flow — then the invariants from the databases and the topics (docs/domain/targets.md),
and supervision's projection rebuilt from the topics compared with the live one, table by table."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration


def test_short_chaos_run_keeps_every_invariant():
    result = subprocess.run(
        [sys.executable, "-m", "services.cli", "chaos", "--cases", "24", "--kills", "2", "--pg-restarts", "1",
         "--pause-seconds", "8", "--cuts", "2", "--cut-seconds", "10", "--rate", "3", "--hostile", "3"],
        capture_output=True, text=True, timeout=600)
    print(result.stdout[-3000:])
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "all invariants hold" in result.stdout
    faults = [ln for ln in result.stdout.splitlines() if ln.startswith("  - ")]
    assert sum("SIGKILL" in f for f in faults) == 2 and any("restart PostgreSQL" in f for f in faults)
    assert any("(proxy: drop)" in f for f in faults) and any("(proxy: stall)" in f for f in faults)
    assert "hostile partner records (dead-lettered by every reader): 6/6" in result.stdout
    # supervision rebuilt from the topics equals what the faults built, table by table
    rebuilt = next(ln for ln in result.stdout.splitlines() if ln.startswith("supervision rebuilt from the topics"))
    assert all(f"{table} (" in rebuilt for table in ("cases", "timeline", "partner_events", "case_deadlines",
                                                     "public_progress")), rebuilt
