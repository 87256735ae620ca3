"""What an operator meets when the stack cannot start as configured: a broker without the idempotent producer,
a service that keeps dying, a service that refuses its configuration — one clear line, never a tight loop."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from services.backbone.runtime import CONFIGURATION_ERROR, EX_CONFIG
from services.backbone.settings import Settings
from services.stack.supervisor import Stack

pytestmark = pytest.mark.integration


def stack_in(home: Path, **env: str) -> Stack:
    return Stack(Settings(home=home), env={k: v for k, v in os.environ.items()
                                           if not k.startswith(("LABORCASE_KAFKA", "KAFKA_"))} | env)


def test_a_service_refused_the_idempotent_producer_says_what_to_set_and_exits_once(kafka_bootstrap, embedded_pg,
                                                                                   tmp_path):
    """Tansu cannot do aiokafka's idempotent producer: the service exits EX_CONFIG with one line, no traceback."""
    import asyncio

    from services.backbone.db import ensure_database

    asyncio.run(ensure_database(embedded_pg.admin_dsn(), "launcher_intake"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABORCASE_", "KAFKA_"))} | {
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap, "LABORCASE_KAFKA_IDEMPOTENCE": "true",
        "LABORCASE_INTAKE_DSN": embedded_pg.admin_dsn("launcher_intake"), "LABORCASE_INTAKE_PORT": "0",
        "LABORCASE_SECRET_KEY": "x" * 40, "LABORCASE_HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-m", "services.intake"], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == EX_CONFIG, done.stderr[-3000:]
    refusals = [json.loads(line) for line in done.stderr.splitlines()
                if line.startswith("{") and CONFIGURATION_ERROR in line]
    assert len(refusals) == 1, done.stderr[-3000:]
    assert "LABORCASE_KAFKA_IDEMPOTENCE=false" in refusals[0]["reason"]
    assert "Traceback" not in done.stderr


def test_the_launcher_falls_back_for_a_configured_broker_without_it_or_says_why_not(kafka_bootstrap, tmp_path, capsys):
    unset = stack_in(tmp_path)
    unset.check_idempotence(kafka_bootstrap)
    assert unset.env["LABORCASE_KAFKA_IDEMPOTENCE"] == "false"
    assert "不支持幂等生产者" in capsys.readouterr().out
    insisted = stack_in(tmp_path, LABORCASE_KAFKA_IDEMPOTENCE="true")
    with pytest.raises(RuntimeError, match="LABORCASE_KAFKA_IDEMPOTENCE"):
        insisted.check_idempotence(kafka_bootstrap)


def test_a_configuration_error_stops_the_stack_instead_of_restarting_it(tmp_path, capsys):
    stack = stack_in(tmp_path)
    log = stack.log_path("intake")
    assert log is not None
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(json.dumps({"msg": CONFIGURATION_ERROR, "reason": "the broker refused it: set X=false"}) + "\n")
    stack.children["intake"] = subprocess.Popen([sys.executable, "-c", f"raise SystemExit({EX_CONFIG})"])
    restarted: list[str] = []
    stack.start_process = restarted.append  # type: ignore[method-assign]
    stopping = threading.Event()
    timer = threading.Timer(10, stopping.set)
    timer.start()
    try:
        assert stack.supervise(stopping) == 1
    finally:
        timer.cancel()
    assert restarted == [] and "set X=false" in capsys.readouterr().err


def test_a_service_that_keeps_dying_is_restarted_ever_more_slowly(tmp_path):
    stack = stack_in(tmp_path)
    now, delays = 100.0, []
    for _ in range(7):  # dies a second after each start
        delays.append(stack.restart_delay("mediation", now))
        now += delays[-1]
        stack.restarted("mediation", now)
        now += 1
    assert delays == [1, 2, 4, 8, 16, 30, 30]
    assert stack.restart_delay("mediation", now + 120) == 1  # it stayed up two minutes: start over
