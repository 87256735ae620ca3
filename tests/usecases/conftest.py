"""The use-case tier: a service's use cases against real PostgreSQL, each test inside a transaction that is
rolled back at the end, without a broker.

Between the pure domain tests (tests/unit) and the whole-stack flows (tests/integration): a use case runs with
the same ``HandlerContext`` the consumer and the HTTP unit of work give it — the open transaction, the
service's deadlines, the outbox records it publishes — and the test reads what it wrote and what it would
publish (``ctx.records``) before everything is rolled back. One migrated database per service and PostgreSQL
setup (embedded and configured) for the session; tests never see each other's rows.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio

import services
from events.catalog import service_topic
from services.backbone import calendar_store
from services.backbone.consumer import HandlerContext
from services.backbone.db import BACKBONE_MIGRATIONS, create_pool, migrate
from services.backbone.outbox import Record
from services.calendar.model import WorkCalendar
from tests import clock
from tests.conftest import create_database, drop_databases

ROOT = Path(services.__file__).parent
#: the deadline warning ratio the services run with (Settings.deadline_warning_ratio)
WARN_RATIO = 0.8

pytestmark = pytest.mark.asyncio(loop_scope="session")

_DATABASES: dict[tuple[str, str], tuple[asyncpg.Pool, WorkCalendar]] = {}


async def _database(make_db: Callable[[str], Awaitable[str]], admin: str, service: str) -> tuple[asyncpg.Pool, WorkCalendar]:
    key = (admin, service)
    if key not in _DATABASES:
        pool = await create_pool(await make_db(admin), size=2)
        await migrate(pool, [("backbone", BACKBONE_MIGRATIONS), (service, ROOT / service / "migrations")])
        await calendar_store.seed(pool)
        _DATABASES[key] = (pool, await calendar_store.load(pool))
    return _DATABASES[key]


@pytest_asyncio.fixture(loop_scope="session", scope="session")
async def usecase_make_db(embedded_pg: Any) -> AsyncIterator[Callable[[str], Awaitable[str]]]:
    """Session-wide databases for this tier (the integration ``make_db`` is per test)."""
    created: list[tuple[str, str]] = []

    async def make(admin: str) -> str:
        name, dsn = await create_database(admin, "u")
        created.append((admin, name))
        return dsn

    yield make
    for pool, _ in _DATABASES.values():
        await pool.close()
    _DATABASES.clear()
    await drop_databases(created)


class UseCaseWorld:
    """One test's view of a service's database: a rolled-back transaction and contexts on it."""

    def __init__(self, conn: asyncpg.Connection, service: str, calendar: WorkCalendar):
        self.conn, self.service, self.calendar = conn, service, calendar
        self.now: datetime = clock.now()
        self._contexts: list[HandlerContext] = []

    def context(self, *, now: datetime | None = None) -> HandlerContext:
        """A unit of work's context at business time ``now`` (the test's clock by default)."""
        ctx = HandlerContext(self.conn, self.service, service_topic(self.service), WARN_RATIO, self.calendar,
                             now=now or self.now)
        self._contexts.append(ctx)
        return ctx

    def records(self, event_type: str | None = None) -> list[Record]:
        """The outbox records the use cases wrote so far (in order), or only one event type's."""
        return [r for ctx in self._contexts for r in ctx.records if event_type is None or r.event_type == event_type]

    def events(self, event_type: str | None = None) -> list[str]:
        """The types of the events the use cases published so far (in order), or only one type's."""
        return [r.event_type or "" for r in self.records(event_type)]

    async def run(self, step: Callable[[HandlerContext], Awaitable[Any]], *, now: datetime | None = None) -> Any:
        """A use case in a savepoint: a domain error leaves the test's transaction usable, like a refused request."""
        ctx = self.context(now=now)
        async with self.conn.transaction():
            out = await step(ctx)
            await ctx.flush_deferred()  # as the consumer and the runtime's unit of work do
            return out


def world_fixture(service: str) -> Any:
    """``world = world_fixture("mediation")`` in a test module: a fresh rolled-back world per test, on both
    PostgreSQL setups (the ``pg_admin`` parameter)."""

    @pytest_asyncio.fixture(loop_scope="session")
    async def world(usecase_make_db: Any, pg_admin: str) -> AsyncIterator[UseCaseWorld]:
        pool, calendar = await _database(usecase_make_db, pg_admin, service)
        async with pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            w = UseCaseWorld(conn, service, calendar)
            try:
                yield w
            finally:
                await tx.rollback()

    return world


class Enough(Exception):
    """Raised by a test's scope check to stop a use case once it has seen what it came for."""


async def another_writer_holding(pool: asyncpg.Pool, lock: str, *args: Any) -> tuple[asyncpg.Connection, Any]:
    """A connection of ``pool`` in a transaction that holds the rows ``lock`` (a ``SELECT … FOR UPDATE``) locks, as
    another request writing the case would; commit or roll back its transaction, then release the connection."""
    conn = await pool.acquire()
    tx = conn.transaction()
    await tx.start()
    await conn.execute(lock, *args)
    return conn, tx


def scope_checks(*, refuse: Callable[[], Exception] | None = None) -> tuple[list[Any], Callable[[Any], None]]:
    """A route's scope check for a use case: each scope it is given, kept; ``refuse``: the error raised at once (a
    caller out of scope); otherwise the second check (on the locked rows, after the wait) stops the use case."""
    seen: list[Any] = []

    def check(scope: Any) -> None:
        seen.append(scope)
        if refuse is not None:
            raise refuse()
        if len(seen) == 2:
            raise Enough()

    return seen, check
