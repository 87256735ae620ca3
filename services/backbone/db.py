"""PostgreSQL access: the pool, versioned SQL migrations, and which faults are transient."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any

import asyncpg
import orjson
import pydantic_core
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential_jitter

log = logging.getLogger(__name__)

BACKBONE_MIGRATIONS = Path(__file__).parent / "migrations"
_MIGRATION_LOCK = 7_243_001

# The migration runner's own statements. The whole run holds the advisory lock ($1: _MIGRATION_LOCK).
ADVISORY_LOCK = "SELECT pg_advisory_lock($1)"
ADVISORY_UNLOCK = "SELECT pg_advisory_unlock($1)"
CREATE_MIGRATIONS_TABLE = ("CREATE TABLE IF NOT EXISTS schema_migrations "
                           "(name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
APPLIED_MIGRATIONS = "SELECT name FROM schema_migrations"
RECORD_MIGRATION = "INSERT INTO schema_migrations (name) VALUES ($1)"

DATABASE_EXISTS = "SELECT 1 FROM pg_database WHERE datname = $1"
#: The cheapest question the database can answer (health).
PING = "SELECT 1"
CURRENT_ROLE = "SELECT current_user"

_TRANSIENT_PG = (
    asyncpg.PostgresConnectionError,
    asyncpg.exceptions.OperatorInterventionError,  # admin shutdown, cannot connect now
    asyncpg.exceptions.InsufficientResourcesError,  # too many connections, out of memory
    asyncpg.exceptions.TransactionRollbackError,  # serialization failure, deadlock
)
#: asyncpg's client-side errors that say the connection, not the data, is the problem.
_CONNECTION_STATES = ("connection is closed", "connection was closed", "pool is closing", "pool is closed",
                      "another operation is in progress", "underlying connection is closed")


def is_transient(exc: BaseException) -> bool:
    """A fault that may go away by itself: retry, and never commit the offset meanwhile.

    Decided precisely: an error the data causes (asyncpg's client-side ``DataError`` for an argument it cannot
    encode, a server-side data or constraint error) fails the same way every time and is not transient."""
    from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError, RequestTimedOutError

    if isinstance(exc, asyncpg.InterfaceError):
        # DataError, ClientConfigurationError, Unsupported*Error: the same every time
        return type(exc) is asyncpg.InterfaceError and any(s in str(exc) for s in _CONNECTION_STATES)
    if isinstance(exc, asyncpg.InternalClientError):
        # a request cancelled mid-query (client gone, server restarting): the pool drops that connection
        return "another operation" in str(exc)
    transient = (
        *_TRANSIENT_PG,
        OSError,
        ConnectionError,
        asyncio.TimeoutError,
        KafkaConnectionError,
        KafkaTimeoutError,
        RequestTimedOutError,
    )
    return isinstance(exc, transient)


async def fetchrow_whole(conn: Any, statement: str, *args: Any) -> asyncpg.Record | None:
    """A statement whose row holds rows read whole (composite values: ``SELECT f, c …``), read again when a table
    among them gained a column since this connection first read one of its rows — a migration in a rolling
    deploy. asyncpg refuses the row it can no longer decode and forgets the old shape; the statement changed
    nothing (a lock it took is held already), so it is sent once more."""
    try:
        return await conn.fetchrow(statement, *args)
    except asyncpg.exceptions.OutdatedSchemaCacheError:
        return await conn.fetchrow(statement, *args)


def _as_orjson(value: Any) -> str:
    """What orjson writes natively and the standard library does not: times (ISO 8601) and UUIDs."""
    if isinstance(value, date):  # a datetime too
        return value.isoformat()
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def json_text(value: Any) -> str:
    """A value as JSON text for a json/jsonb parameter: orjson (~10× ``json.dumps``), the standard library for
    what orjson refuses (an integer beyond 64 bits) so that nothing accepted before is refused now — writing
    times and UUIDs as orjson does."""
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()
    except TypeError:
        return json.dumps(value, default=_as_orjson)


def json_value(text: str) -> Any:
    """A json/jsonb column's value: pydantic's parser (~2.4× ``json.loads``, integers exact), the standard library
    for what it refuses (nesting beyond 200 levels)."""
    try:
        return pydantic_core.from_json(text, allow_inf_nan=True)
    except ValueError:
        return json.loads(text)


def _jsonb_binary(value: Any) -> bytes:
    return b"\x01" + json_text(value).encode()  # jsonb's binary format: its version (1), then the text


def _jsonb_value(data: bytes) -> Any:
    if data[:1] != b"\x01":
        raise ValueError(f"unsupported jsonb format version {data[:1]!r}")
    return json_value(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    # jsonb in its binary format (the same text behind a version byte): a row read whole as a composite — a case's
    # clocks or log in one statement (services/mediation/repository.py CASE_FILE) — decodes its jsonb fields then,
    # which asyncpg cannot do for a text-format codec inside a binary composite
    await conn.set_type_codec("jsonb", encoder=_jsonb_binary, decoder=_jsonb_value, schema="pg_catalog",
                              format="binary")
    await conn.set_type_codec("json", encoder=json_text, decoder=json_value, schema="pg_catalog")


async def _keep_session(conn: asyncpg.Connection) -> None:
    """Pooled connections carry no session state (no SET, LISTEN, advisory lock or cursor outside a
    transaction; LISTEN has its own connections), so the default reset query — a round trip on every
    release — is skipped. asyncpg still rolls back a transaction left open before calling this."""


async def create_pool(dsn: str, *, size: int = 8, wait_seconds: float = 60) -> asyncpg.Pool:
    """A pool, waiting (bounded) for the server to accept connections."""
    async for attempt in AsyncRetrying(
        retry=retry_if_exception(is_transient),
        stop=stop_after_delay(wait_seconds),
        wait=wait_exponential_jitter(initial=0.2, max=3),
        reraise=True,
    ):
        with attempt:
            pool = await asyncpg.create_pool(
                dsn, min_size=1, max_size=size, init=_init_connection, command_timeout=60, reset=_keep_session
            )
    assert pool is not None
    return pool


async def migrate(pool: asyncpg.Pool, sources: Sequence[tuple[str, Path]]) -> list[str]:
    """Apply every not-yet-applied ``NNNN_name.sql`` of each (namespace, folder), in order, once.

    Safe with several replicas starting at once: the whole run holds an advisory lock.
    """
    applied: list[str] = []
    async with pool.acquire() as conn:
        await conn.execute(ADVISORY_LOCK, _MIGRATION_LOCK)
        try:
            await conn.execute(CREATE_MIGRATIONS_TABLE)
            done = {r["name"] for r in await conn.fetch(APPLIED_MIGRATIONS)}
            for namespace, folder in sources:
                for path in sorted(folder.glob("*.sql")):
                    name = f"{namespace}/{path.name}"
                    if name in done:
                        continue
                    async with conn.transaction():
                        await conn.execute(path.read_text())  # the migration file itself (several statements)
                        await conn.execute(RECORD_MIGRATION, name)
                    applied.append(name)
                    log.info("migration applied", extra={"migration": name})
        finally:
            await conn.execute(ADVISORY_UNLOCK, _MIGRATION_LOCK)
    return applied


#: Tables a service may only add to (and read): nobody but their owner changes or removes a row.
APPEND_ONLY = ("audit_log", "audit_archives")


def _runtime_grants(role: str) -> list[str]:
    """The GRANT/REVOKE statements for ``role``, in order. Built at run time: a role name is an identifier,
    which cannot be a parameter (it is quoted here instead)."""
    ident = '"' + role.replace('"', '""') + '"'
    return [
        f"GRANT USAGE ON SCHEMA public TO {ident}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {ident}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {ident}",
        *(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {ident}" for table in APPEND_ONLY),
        f"REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM {ident}",
    ]


async def grant_runtime_role(owner: asyncpg.Pool, role: str) -> None:
    """What a service's own database role may do, granted by the role that owns the tables: read and write its
    state, only append to its audit trail, never alter or drop a table or a trigger (it owns none)."""
    statements = _runtime_grants(role)
    async with owner.acquire() as conn, conn.transaction():
        for statement in statements:
            await conn.execute(statement)


async def ensure_database(admin_dsn: str, name: str) -> bool:
    """Create database ``name`` on the server of ``admin_dsn`` unless it exists. True when created."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        if await conn.fetchval(DATABASE_EXISTS, name):
            return False
        await conn.execute(_create_database(name))
        return True
    finally:
        await conn.close()


def _create_database(name: str) -> str:
    """Built at run time: a database name is an identifier, which cannot be a parameter (checked instead)."""
    return f'CREATE DATABASE "{_identifier(name)}"'


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum():
        raise ValueError(f"not a safe database name: {name!r}")
    return name


@asynccontextmanager
async def snapshot(db: asyncpg.Pool | asyncpg.Connection) -> AsyncIterator[asyncpg.Connection]:
    """One connection in a read-only REPEATABLE READ transaction. Reads that must agree with each other (a case's
    row, its clocks, its log) see one committed state, never the halves of a write that commits between them.
    A connection already in a transaction (a use case reading back what it wrote) is used as it is."""
    if not isinstance(db, asyncpg.Pool):
        if db.is_in_transaction():
            yield db
            return
        async with db.transaction(isolation="repeatable_read", readonly=True):
            yield db
        return
    async with db.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
        yield conn


def columns(rows: Sequence[Sequence[Any]], width: int) -> list[list[Any]]:
    """Rows as the ``width`` arrays a set-based statement unnests (``unnest($1::…[], $2::…[], …)``); empty arrays
    for no rows."""
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def assignments(columns: Sequence[str], *, first: int = 2) -> str:
    """``a = $2, b = $3`` for a repository's UPDATE of the given columns ($1 is the key)."""
    for column in columns:
        if not column.isidentifier():
            raise ValueError(f"not a column name: {column!r}")
    return ", ".join(f"{c} = ${i + first}" for i, c in enumerate(columns))


async def answers(pool: asyncpg.Pool, *, seconds: float = 2) -> bool:
    """Whether the database answers a trivial query in time."""
    try:
        await asyncio.wait_for(pool.fetchval(PING), seconds)
        return True
    except Exception:
        return False


async def current_role(pool: asyncpg.Pool) -> str:
    """The role this pool's connections run as (the runtime role that migrations grant to)."""
    return await pool.fetchval(CURRENT_ROLE)
