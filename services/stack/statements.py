"""Statements per complete case, counted by PostgreSQL itself (``laborcase bench``).

CPU seconds per case swing by a quarter between runs of the same code on a shared host (every process slows
together in a busy spell); the number of statements each service sends for a case, and the time PostgreSQL spends
executing them, do not. The bench's embedded PostgreSQL loads ``pg_stat_statements`` (``Stack.pg_preload``); this
reads it per database — one per service — around the lifecycle. Only the embedded server is counted (nothing is
installed on a server the bench is pointed at); where it cannot be, the bench says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

LIBRARY = "pg_stat_statements"
#: the services' databases, as the stack names them (services/stack/supervisor.py)
PREFIX = "laborcase_"
PER_DATABASE = (
    "SELECT d.datname AS name, sum(s.calls)::bigint AS calls, sum(s.total_exec_time) AS exec_ms "
    "FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid GROUP BY d.datname")


@dataclass(frozen=True)
class Counted:
    """What one service's database was sent: statements (each row of a pipelined ``executemany`` is one) and the
    milliseconds PostgreSQL spent executing them (planning and the protocol around them not included)."""

    calls: int
    exec_ms: float


class StatementGauge:
    def __init__(self, admin_dsn: str):
        self.admin_dsn = admin_dsn

    @classmethod
    async def open(cls, admin_dsn: str) -> StatementGauge | None:
        """The gauge, or None where the server does not load ``pg_stat_statements``."""
        conn = await asyncpg.connect(admin_dsn)
        try:
            await conn.execute(f"CREATE EXTENSION IF NOT EXISTS {LIBRARY}")
            await conn.fetchval(f"SELECT count(*) FROM {LIBRARY}")  # refused unless the library was preloaded
        except asyncpg.PostgresError:
            return None
        finally:
            await conn.close()
        return cls(admin_dsn)

    async def reset(self) -> bool:
        """Counting starts again; False where this role may not reset the counts."""
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            await conn.execute(f"SELECT {LIBRARY}_reset()")
        except asyncpg.PostgresError:
            return False
        finally:
            await conn.close()
        return True

    async def read(self) -> dict[str, Counted] | None:
        """Each service's statements since the last reset (its database named ``laborcase_<service>``); None
        where they cannot be read or none of the services' databases is there."""
        conn = await asyncpg.connect(self.admin_dsn)
        try:
            rows = await conn.fetch(PER_DATABASE)
        except asyncpg.PostgresError:
            return None
        finally:
            await conn.close()
        counted = {r["name"][len(PREFIX):]: Counted(r["calls"], r["exec_ms"]) for r in rows
                   if r["name"].startswith(PREFIX)}
        return counted or None
