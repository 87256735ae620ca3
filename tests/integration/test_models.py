"""The models are the migrations: each service's database, built by its ``.sql`` migrations, has exactly the
tables, columns, types, nullability and indexes its SQLModel models declare; and every named statement of the
repositories and the backbone's stores prepares against that database (so a renamed column fails here, not in
production). Both PostgreSQL setups."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path
from types import ModuleType

import asyncpg
import pytest
from sqlalchemy import MetaData

import services
from services.backbone import models as backbone_models
from services.backbone.db import BACKBONE_MIGRATIONS, create_pool, migrate
from tests.schema import describe_database, describe_metadata, differences

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SERVICES = ("intake", "mediation", "legal_aid", "followup", "supervision", "notification")
ROOT = Path(services.__file__).parent
#: A statement: a module-level constant whose text starts with one of these (the repositories' convention).
_STATEMENT = re.compile(r"^\s*(SELECT|INSERT|UPDATE|DELETE|WITH)\b", re.IGNORECASE)


def metadata_of(service: str) -> MetaData:
    module = importlib.import_module(f"services.{service}.models")
    bases = [v for v in vars(module).values() if isinstance(v, type) and getattr(v, "metadata", None) is not None
             and v.__module__ == module.__name__ and not hasattr(v, "__table__")]
    assert len(bases) == 1, f"services/{service}/models.py declares one base with its own metadata"
    return bases[0].metadata


async def migrated(make_db, admin: str, service: str | None) -> tuple[asyncpg.Pool, str]:
    dsn = await make_db(admin)
    pool = await create_pool(dsn, size=2)
    sources = [("backbone", BACKBONE_MIGRATIONS)]
    if service:
        sources.append((service, ROOT / service / "migrations"))
    await migrate(pool, sources)
    return pool, dsn


@pytest.mark.parametrize("service", SERVICES)
async def test_models_match_the_migrations(make_db, pg_admin, service):
    pool, _ = await migrated(make_db, pg_admin, service)
    try:
        async with pool.acquire() as conn:
            built = await describe_database(conn)
        modelled = describe_metadata(backbone_models.BackboneModel.metadata, metadata_of(service))
        assert differences(built, modelled) == []
    finally:
        await pool.close()


async def test_a_column_the_models_do_not_know_is_found(make_db, embedded_admin):
    """The comparison is not vacuous: a migration that adds, retypes or relaxes a column is named."""
    pool, _ = await migrated(make_db, embedded_admin, "mediation")
    try:
        async with pool.acquire() as conn:
            await conn.execute("ALTER TABLE mediation_cases ADD COLUMN note text")
            await conn.execute("ALTER TABLE mediators ALTER COLUMN capacity TYPE bigint")
            await conn.execute("ALTER TABLE outbox ALTER COLUMN topic DROP NOT NULL")
            await conn.execute("CREATE INDEX sessions_by_time ON sessions (scheduled_at)")
            built = await describe_database(conn)
        found = differences(built, describe_metadata(backbone_models.BackboneModel.metadata, metadata_of("mediation")))
        assert found == [
            "column mediation_cases.note: in the database (text), not in the model",
            "column mediators.capacity: database bigint, model integer",
            "column outbox.topic: database nullable=True, model nullable=False",
            "index sessions_by_time on sessions: in the database, not in the model",
        ]
    finally:
        await pool.close()


def statement_modules() -> dict[str, list[ModuleType]]:
    """Every module that owns SQL, by the database it runs against (None: the backbone's tables only)."""
    owners: dict[str, list[ModuleType]] = {}
    for info in pkgutil.walk_packages([str(ROOT)], prefix="services."):
        parts = info.name.split(".")
        leaf = parts[-1]
        if not (leaf.startswith("repository") or leaf.endswith("_store") or leaf == "store"
                or (parts[1] == "backbone" and leaf in ("outbox", "consumer", "db", "caselog", "audit_archive"))):
            continue
        module = importlib.import_module(info.name)
        service = parts[1] if parts[1] in SERVICES else "stack" if parts[1] == "stack" else ""
        owners.setdefault(service, []).append(module)
    return owners


def named_statements(module: ModuleType) -> dict[str, str]:
    return {name: value for name, value in vars(module).items()
            if name.isupper() and isinstance(value, str) and _STATEMENT.match(value)}


async def test_every_named_statement_prepares(make_db, embedded_admin):
    owners = statement_modules()
    assert set(SERVICES) <= owners.keys(), "every service has a repository"
    prepared = 0
    tools = owners.pop("stack", [])
    for service, modules in sorted(owners.items()):
        pool, _ = await migrated(make_db, embedded_admin, service or None)
        try:
            async with pool.acquire() as conn:
                for module in modules:
                    for name, statement in named_statements(module).items():
                        try:
                            await conn.prepare(statement)
                        except asyncpg.PostgresError as exc:
                            pytest.fail(f"{module.__name__}.{name} does not prepare: {exc}")
                        prepared += 1
        finally:
            await pool.close()
    prepared += await _tools_prepare(make_db, embedded_admin, tools)
    assert prepared >= 100, f"only {prepared} named statements found"


async def _tools_prepare(make_db, admin: str, modules: list[ModuleType]) -> int:
    """The operator tools (bench, chaos) read every service's database: each of their statements prepares
    against the database of at least one service (their scratch table created first)."""
    from services.stack import repository as tools

    pools = [(await migrated(make_db, admin, s))[0] for s in SERVICES]
    try:
        for pool in pools:
            await pool.execute(tools.CREATE_FLOOR_STATE)
        count = 0
        for module in modules:
            for name, statement in named_statements(module).items():
                errors = []
                for pool in pools:
                    async with pool.acquire() as conn:
                        try:
                            await conn.prepare(statement)
                            break
                        except asyncpg.PostgresError as exc:
                            errors.append(str(exc))
                else:
                    pytest.fail(f"{module.__name__}.{name} prepares against no service's database: {errors}")
                count += 1
        return count
    finally:
        for pool in pools:
            await pool.close()
