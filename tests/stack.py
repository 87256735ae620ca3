"""Run the real ``laborcase up`` in a subprocess for end-to-end and browser tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from services.stack.processes import free_port
from tests import clock

SERVICES = ("intake", "mediation", "legal_aid", "followup", "supervision", "notification", "console")


@dataclass
class RunningStack:
    proc: subprocess.Popen[str]
    console: str
    home: Path
    startup_seconds: float
    output: list[str]
    ports: dict[str, int]

    def password(self, user: str) -> str:
        lines = (self.home / "initial-passwords.txt").read_text().splitlines()
        return dict(line.split("\t") for line in lines)[user]

    def bearer(self, user: str) -> dict[str, str]:
        import httpx

        r = httpx.post(f"{self.console}/api/v1/auth/login", json={"username": user, "password": self.password(user)},
                       timeout=10)
        r.raise_for_status()
        return {"authorization": f"Bearer {r.json()['access_token']}"}


@contextmanager
def laborcase_up(home: Path, *extra: str, env: dict[str, str] | None = None) -> Iterator[RunningStack]:
    """``env``: settings of this stack (e.g. the attachments' object store), on top of a clean environment."""
    settings = env or {}
    ports = {f"LABORCASE_{s.upper()}_PORT": str(free_port()) for s in SERVICES}
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABORCASE_") and k != "KAFKA_BOOTSTRAP_SERVERS"}
    env |= ports | {"LABORCASE_HOME": str(home)} | clock.service_env() | settings
    started = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "services.cli", "up", *extra], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    try:
        for line in proc.stdout:  # type: ignore[union-attr]
            lines.append(line)
            if "Ctrl-C" in line or proc.poll() is not None:
                break
        threading.Thread(target=lambda: [lines.append(x) for x in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
        if not any("ready in" in line for line in lines):
            raise RuntimeError("laborcase up did not become ready:\n" + "".join(lines))
        yield RunningStack(proc, f"http://127.0.0.1:{ports['LABORCASE_CONSOLE_PORT']}", home,
                           time.monotonic() - started, lines,
                           {s: int(ports[f"LABORCASE_{s.upper()}_PORT"]) for s in SERVICES})
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
