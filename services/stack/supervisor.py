"""``laborcase up``: the whole stack in the foreground, stopped cleanly on Ctrl-C.

Starts the embedded broker and database unless they are configured, creates the databases and
topics, starts every service as its own process and the console, restarts a service that dies,
and on SIGINT/SIGTERM stops everything it started (children die with it even if it is killed).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from events.catalog import SERVICES
from services.backbone import kafka
from services.backbone.db import ensure_database
from services.backbone.handoff import CONSOLE
from services.backbone.handoff import fits as handoff_fits
from services.backbone.runtime import CONFIGURATION_ERROR, EX_CONFIG
from services.backbone.settings import Settings
from services.stack.broker import LocalBroker
from services.stack.postgres import EmbeddedPostgres
from services.stack.processes import free_port, spawn, stop


@dataclass
class Stack:
    settings: Settings
    verbose: bool = False
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    broker: LocalBroker | None = None
    postgres: EmbeddedPostgres | None = None
    children: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    passwords: Path | None = None
    #: per-process additions to ``env`` (the fault-injection harness puts each service behind its own proxy)
    service_env: dict[str, dict[str, str]] = field(default_factory=dict)
    #: restarts of a service that keeps dying wait longer each time (name -> (failures in a row, last start))
    restarts: dict[str, tuple[int, float]] = field(default_factory=dict)
    handoff: Path | None = None
    temporary: list[Path] = field(default_factory=list)
    #: server libraries the embedded PostgreSQL loads (the bench counts statements with ``pg_stat_statements``)
    pg_preload: tuple[str, ...] = ()

    @classmethod
    def isolated(cls, prefix: str, **env: str) -> Stack:
        """A stack in a new temporary home on free ports, beside anything else running (bench, chaos)."""
        home = Path(tempfile.mkdtemp(prefix=prefix))
        home.chmod(0o755)  # as root, the embedded PostgreSQL's own user keeps its data in here
        settings = Settings(home=home, console_port=free_port(),
                            **{f"{s}_port": free_port() for s in SERVICES})  # type: ignore[arg-type]
        inherited = {k: v for k, v in os.environ.items()  # its own key and demo accounts, not the caller's
                     if k not in ("LABORCASE_ACCOUNTS_FILE", "LABORCASE_SECRET_KEY")}
        return cls(settings, env=inherited | env | {
            "LABORCASE_HOME": str(home), "LABORCASE_CONSOLE_PORT": str(settings.console_port),
            **{f"LABORCASE_{s.upper()}_PORT": str(settings.port_for(s)) for s in SERVICES}})

    @property
    def home(self) -> Path:
        return self.settings.home.resolve()

    def log_path(self, name: str) -> Path | None:
        return None if self.verbose else self.home / "logs" / f"{name}.log"

    def ensure_credentials(self) -> Path | None:
        """A signing key and accounts for people and partners, unless configured (never in the repo)."""
        from services.security.accounts import make_demo, write_private
        from services.security.tokens import new_secret

        if not self.env.get("LABORCASE_SECRET_KEY"):
            key = self.home / "secret.key"
            if not key.exists():
                write_private(key, new_secret())
            self.env["LABORCASE_SECRET_KEY"] = key.read_text().strip()
        if self.env.get("LABORCASE_ACCOUNTS_FILE"):
            return None
        accounts, passwords = self.home / "accounts.json", self.home / "initial-passwords.txt"
        if not accounts.exists():
            created = make_demo(accounts)
            write_private(passwords, "".join(f"{user}\t{pw}\n" for user, pw in created.items()))
        self.env["LABORCASE_ACCOUNTS_FILE"] = str(accounts)
        return passwords

    def start_infrastructure(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.passwords = self.ensure_credentials()
        if not (os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or os.environ.get("LABORCASE_KAFKA_BOOTSTRAP_SERVERS")):
            self.broker = LocalBroker(log=self.home / "logs" / "broker.log",
                                      long_poll=os.environ.get("LABORCASE_BROKER_LONG_POLL", "0") == "1")
            self.env["KAFKA_BOOTSTRAP_SERVERS"] = self.broker.start()
            # Tansu cannot do aiokafka's idempotent producer; the outbox and inboxes make it unnecessary.
            self.env.setdefault("LABORCASE_KAFKA_IDEMPOTENCE", "false")
            self.env.setdefault("LABORCASE_KAFKA_SESSION_TIMEOUT_MS", "6000")
            self.env.setdefault("LABORCASE_KAFKA_HEARTBEAT_INTERVAL_MS", "1000")
            # Tansu answers a waiting fetch only when the wait ends, not when data arrives: consumers poll it every
            # 50 ms (a quiet stack's hop p99 near 25 ms, 0.23 core of polling when idle). The long-poll front
            # (services/stack/long_poll.py, LABORCASE_BROKER_LONG_POLL=1) answers a waiting fetch when a record
            # arrives, so consumers keep Kafka's 500 ms wait: idle 0.08 core, but a complete case costs more CPU
            # (its own, and smaller batches: 9 ms in the first benches, about 6 % in December's interleaved
            # lifecycles, docs/domain/targets.md) — off by default (docs/adr/0003-local-broker.md).
            if self.broker.front is None:
                self.env.setdefault("LABORCASE_KAFKA_FETCH_MAX_WAIT_MS", "50")
            # Each service runs one instance, which reads every partition; Tansu's CPU goes on answering each
            # partition of every fetch. Measured (lifecycle of 100 cases, idle stack): 8 partitions → Tansu
            # 13–18 ms per case, idle 0.28–0.31 core; 2 → 10.4–10.8 ms, 0.19 core; 1 → 5.8–8.0 ms, 0.19 core.
            # Two keep the per-partition paths (ordering per key, the rebuild's merge) exercised.
            self.env.setdefault("LABORCASE_KAFKA_PARTITIONS", "2")
        bootstrap = self.env.get("KAFKA_BOOTSTRAP_SERVERS") or self.env["LABORCASE_KAFKA_BOOTSTRAP_SERVERS"]
        if self.broker is None:
            self.check_idempotence(bootstrap)
        missing = [s for s in SERVICES if not getattr(self.settings, f"{s}_dsn")]
        if missing:
            self.postgres = EmbeddedPostgres(self.home / "pgdata", preload=self.pg_preload)
            admin = self.postgres.start()

            async def create() -> None:
                for service in missing:
                    await ensure_database(admin, f"laborcase_{service}")

            asyncio.run(create())
            for service in missing:
                self.env[f"LABORCASE_{service.upper()}_DSN"] = self.postgres.admin_dsn(f"laborcase_{service}")
        # the partitions as the services will read them from the environment set above (Settings checks the value)
        shape = Settings(kafka_partitions=self.env.get("LABORCASE_KAFKA_PARTITIONS") or None)
        asyncio.run(kafka.ensure_topics(bootstrap, kafka.catalog_topics(shape),
                                        settings=self.settings))

    def check_idempotence(self, bootstrap: str) -> None:
        """A configured broker without the idempotent producer (an operator's own Tansu): fall back, or say why not."""
        asyncio.run(kafka.wait_for_broker(bootstrap, timeout=60))
        if asyncio.run(kafka.supports_idempotence(bootstrap)):
            return
        wanted = self.env.get("LABORCASE_KAFKA_IDEMPOTENCE")
        if wanted is None:
            print(f"laborcase: 警告：Kafka 代理 {bootstrap} 不支持幂等生产者，已改为 LABORCASE_KAFKA_IDEMPOTENCE=false"
                  "（事件去重由各服务的收件箱保证）/ the broker refused the idempotent producer; running without it",
                  flush=True)
            self.env["LABORCASE_KAFKA_IDEMPOTENCE"] = "false"
        elif wanted.strip().lower() in ("1", "true", "yes", "on"):
            raise RuntimeError(f"Kafka 代理 {bootstrap} 不支持幂等生产者，但配置了 LABORCASE_KAFKA_IDEMPOTENCE={wanted}；"
                               f"请改为 false / {kafka.IDEMPOTENCE_HINT}")

    def exit_reason(self, name: str) -> str | None:
        """The reason a service logged for refusing to start (a configuration error), if it did."""
        path = self.log_path(name)
        if path is None or not path.exists():
            return None
        with open(path, "rb") as f:
            f.seek(max(0, path.stat().st_size - 65536))
            lines = f.read().decode("utf-8", "replace").splitlines()
        for line in reversed(lines):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("msg") == CONFIGURATION_ERROR:
                return str(entry.get("reason"))
        return None

    def start_process(self, name: str) -> None:
        module = "services.console" if name == "console" else f"services.{name}"
        self.children[name] = spawn([sys.executable, "-m", module], log=self.log_path(name),
                                     env=self.env | self.service_env.get(name, {}))

    def start_services(self) -> None:
        # the console hands each connection to the process that answers it (docs/domain/routes.md, "On one
        # machine"); LABORCASE_HANDOFF=off keeps every request relayed through the console
        if self.env.get("LABORCASE_HANDOFF") != "off" and "LABORCASE_HANDOFF_DIR" not in self.env:
            self.env["LABORCASE_HANDOFF_DIR"] = str(self.handoff_dir())
        for name in (*SERVICES, "console"):
            self.start_process(name)

    def wait_ready(self, timeout: float = 60) -> bool:
        url = f"http://{self.settings.host}:{self.settings.console_port}/readyz"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, proc in self.children.items():
                if proc.poll() is not None:
                    reason = self.exit_reason(name) if proc.returncode == EX_CONFIG else None
                    raise RuntimeError(f"{name} 无法启动：{reason}" if reason else
                                       f"{name} exited with code {proc.returncode}; see {self.log_path(name)}")
            try:
                with urllib.request.urlopen(url, timeout=2) as resp:
                    if resp.status == 200:
                        return True
            except OSError:
                pass
            time.sleep(0.2)
        return False

    def handoff_dir(self) -> Path:
        """Where the processes hand connections to each other: ``<home>/handoff``, or a directory of its own under
        the system's temporary one when that path is too long for a Unix socket's name (108 bytes)."""
        if self.handoff is None:
            handoff = self.home / "handoff"
            if not handoff_fits(handoff, [*SERVICES, CONSOLE]):
                handoff = Path(tempfile.mkdtemp(prefix="laborcase-handoff-"))
                self.temporary.append(handoff)
            handoff.mkdir(mode=0o700, exist_ok=True)
            handoff.chmod(0o700)  # nobody else receives the clients' connections
            self.handoff = handoff
        return self.handoff

    def stop_services(self) -> None:
        """The services and the console, leaving the broker and the database running."""
        for proc in self.children.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.children.values():
            stop(proc, timeout=20)
        self.children.clear()

    def stop(self) -> None:
        self.stop_services()
        for directory in self.temporary:
            shutil.rmtree(directory, ignore_errors=True)
        if self.postgres is not None:
            self.postgres.stop()
        if self.broker is not None:
            self.broker.stop()

    def restarted(self, name: str, now: float) -> None:
        self.restarts[name] = (self.restarts.get(name, (0, 0.0))[0], now)

    def restart_delay(self, name: str, now: float) -> float:
        """Seconds to wait before restarting ``name``: 1, 2, 4 … 30 while it keeps dying within a minute."""
        failures, last_start = self.restarts.get(name, (0, 0.0))
        failures = failures + 1 if now - last_start < 60 else 1
        self.restarts[name] = (failures, last_start)
        return min(30.0, 2.0 ** (failures - 1))

    def supervise(self, stopping: threading.Event) -> int:
        """Restart a service that died (waiting longer each time it dies again soon), until asked to stop.

        A service that refuses its configuration (exit status EX_CONFIG) is not restarted: the stack stops
        and says why. Returns the launcher's exit status."""
        due: dict[str, float] = {}
        while not stopping.wait(0.5):
            now = time.monotonic()
            for name, proc in list(self.children.items()):
                if proc.poll() is None or stopping.is_set():
                    continue
                if proc.returncode == EX_CONFIG:
                    reason = self.exit_reason(name) or f"see {self.log_path(name)}"
                    print(f"laborcase: {name} 配置错误，停止运行：{reason}", file=sys.stderr, flush=True)
                    return 1
                if name not in due:
                    delay = self.restart_delay(name, now)
                    due[name] = now + delay
                    print(f"  ! {name} 已退出（代码 {proc.returncode}），{delay:.0f} 秒后重启", flush=True)
                elif now >= due[name]:
                    del due[name]
                    self.restarted(name, now)
                    self.start_process(name)
        return 0


def up(*, demo: bool = False, verbose: bool = False) -> int:
    settings = Settings()
    stack = Stack(settings, verbose=verbose)
    started = time.monotonic()
    stopping = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        print("laborcase: 正在启动…", flush=True)
        stack.start_infrastructure()
        stack.start_services()
        if not stack.wait_ready():
            print("laborcase: 启动超时，请查看日志", stack.home / "logs", file=sys.stderr)
            return 1
        elapsed = time.monotonic() - started
        console = f"http://{settings.host}:{settings.console_port}"
        print(f"laborcase: 全部就绪，用时 {elapsed:.1f} 秒 (ready in {elapsed:.1f} s)")
        print(f"  控制台 console      {console}")
        print(f"  接口 API            {console}/api/v1/…")
        print(f"  Kafka               {stack.env.get('KAFKA_BOOTSTRAP_SERVERS', settings.kafka_bootstrap_servers)}"
              f"{' (Tansu, memory)' if stack.broker else ''}")
        if stack.postgres:
            print(f"  PostgreSQL          {stack.postgres.admin_dsn()} (embedded, data in {stack.postgres.data_dir})")
        for name in SERVICES:
            print(f"  {name:<19} {settings.url_for(name)}")
        if not verbose:
            print(f"  日志 logs           {stack.home / 'logs'}")
        if stack.passwords is not None and stack.passwords.exists():
            print(f"  登录账号 accounts   {stack.passwords}（用户名与初始密码 / usernames and initial passwords）")
            if demo:
                from services.security.accounts import DEMO_DUTIES

                for line in stack.passwords.read_text().splitlines():
                    user, password = line.split("\t")
                    print(f"      {user:<16} {password:<14} {DEMO_DUTIES.get(user, '')}")
        if demo:
            from services.stack.demo import seed

            print("laborcase: 正在加载演示数据…", flush=True)
            for line in seed(console, stack.home):
                print(f"  {line}")
        print("按 Ctrl-C 停止 (Ctrl-C stops everything).", flush=True)
        return stack.supervise(stopping)
    except RuntimeError as exc:
        print(f"laborcase: {exc}", file=sys.stderr)
        return 1
    finally:
        print("laborcase: 正在停止…", flush=True)
        stack.stop()
        print("laborcase: 已停止", flush=True)
