"""``laborcase bench`` at tiny sizes: every docs/domain/targets.md figure is measured and printed. The figures themselves
are judged from full runs (README), never asserted here."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from events.catalog import SERVICES

pytestmark = pytest.mark.integration

FIGURES = ("floor:", "start-up of the services", "full lifecycle", "events published by the services",
           "ratio of the lifecycle's event rate to the floor", "hop latency at 50 cases/s, p50",
           "hop latency at 50 cases/s, p99", "hop latency at 5 cases/s, p99", "overdue alert latency, due → on the board, p99",
           "GET /api/v1/alerts through the console, no boards open, p99",
           "GET /api/v1/alerts through the console, 20 boards open, p99",
           "peak RSS intake", "peak RSS mediation", "peak RSS legal_aid", "peak RSS followup", "peak RSS supervision",
           "deadline scan, 100 due among 1 thousand open", "deadline scan, 100 due among 10,000 open",
           "deadline scan cost ratio", "grow every database to 2,000 cases", "supervision statistics (all units) with 2,000",
           "supervision breach forecast with 2,000", "peak RSS supervision with 2,000 cases",
           "worker's progress lookups, capacity while cases flow", "worker's progress lookups offered 1,000/s",
           "worker's progress lookup at 1,000/s, p99", "rebuild of supervision, 2,000 events",
           "rebuild, peak RSS at 2,000 events", "reads through the console's origin, ratio to straight to the owner",
           "statements to PostgreSQL per complete case", "PostgreSQL's execution time per complete case",
           "CPU per complete case, the system per ms of the driver's",
           "rebuild, memory of the run's second half / its first")


def test_bench_prints_every_figure_with_a_number():
    result = subprocess.run([sys.executable, "-m", "services.cli", "bench", "--smoke", "--profile", "5"],
                            capture_output=True, text=True, timeout=600)
    print(result.stdout)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    for figure in FIGURES:
        line = next((ln for ln in result.stdout.splitlines() if figure in ln), None)
        assert line is not None, f"{figure!r} not printed"
        value = line.split(")")[-1] if figure.endswith("p99") else line.rsplit("  ", 1)[-1]
        assert re.search(r"\d", line.split(figure, 1)[1]), f"{figure!r} has no number: {line}"
        assert "nan" not in value and "inf" not in value, line
    # --profile: where each service's CPU goes, by library, in milliseconds per case
    lines = result.stdout.splitlines()
    assert any("where the services' CPU goes, by library" in ln for ln in lines), result.stdout[-3000:]
    total = 0.0
    for who in SERVICES:
        line = next((ln for ln in lines if ln.strip().startswith(f"{who}, ")), None)
        assert line is not None, f"no profile line for {who}"
        ms = float(re.search(rf"{who}, (\d+\.\d):", line).group(1))
        assert ms > 0, f"{who}'s CPU per case not found: {line}"  # a service's name that missed its CPU gives 0
        assert re.search(r"(aiokafka|asyncpg|laborcase services/\w+) \d+\.\d\d", line), line
        total += ms
    whole = next(ln for ln in lines if ln.strip().startswith("all services, "))
    assert float(re.search(r"all services, (\d+\.\d):", whole).group(1)) == pytest.approx(total, abs=0.1 * len(SERVICES))
