"""The audit log's rows (append-only; archived by month in audit_archive.py). Who may read which rows is the
security policy's decision (services/security/policy.py); this module only writes and reads them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, MutableMapping, Sequence
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

import asyncpg

if TYPE_CHECKING:  # the console writes audit rows without loading SQLModel
    from services.backbone.models import AuditLog

WRITE = ("INSERT INTO audit_log (service, actor, role, org_unit, action, case_id, method, path, status, client, "
         "forwarded_for, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)")
ENTRIES = ("SELECT * FROM audit_log WHERE ($1::text IS NULL OR case_id = $1) AND ($2::text IS NULL OR actor = $2) "
           "AND ($3::text[] IS NULL OR org_unit = ANY($3)) ORDER BY id DESC LIMIT $4")


def _row(service: str, entry: dict[str, Any]) -> tuple[Any, ...]:
    return (service, entry["actor"], entry["role"], entry["org_unit"], entry["action"], entry["case_id"],
            entry["method"], entry["path"], entry["status"], entry["client"], entry["forwarded_for"], entry.get("detail"))


class Pending:
    """The audit row of the request being answered (``EdgeMiddleware``), which the request's use case may write in
    its own transaction (``usecase.run(..., audited=True)``): the action and its row commit together — one commit,
    not two. The edge then writes nothing more for the request, unless the answer it sends differs from the row
    written (another status, a case named after the unit of work), when it writes the row as answered too.

    ``entry(status)``: the row's fields for an answer with that status, as the edge reads them from the request's
    state at the time of the call."""

    def __init__(self, service: str, entry: Callable[[int], dict[str, Any]], scope: MutableMapping[str, Any]):
        self.service, self.entry, self.scope = service, entry, scope
        #: the row written in a use case's transaction, once that committed
        self.written: tuple[Any, ...] | None = None

    def row(self, status: int) -> tuple[Any, ...]:
        return _row(self.service, self.entry(status))

    def expected_status(self) -> int:
        """The status the answer will have if nothing fails: the one the use case set (``audit_status`` in the
        request's state), else the one its route declares, else 200."""
        state = self.scope.get("state") or {}
        route = self.scope.get("route")
        return state.get("audit_status") or getattr(route, "status_code", None) or 200

    def already_written(self, status: int) -> bool:
        """Whether the answer about to be sent (``status``) is what the row written in the transaction says."""
        return self.written is not None and self.written == self.row(status)


#: the request being answered in this task (set by the edge for an audited request)
PENDING: ContextVar[Pending | None] = ContextVar("laborcase_audit_pending", default=None)


async def write(pool: asyncpg.Pool, service: str, entry: dict[str, Any]) -> None:
    await pool.execute(WRITE, *_row(service, entry))


class GroupWriter:
    """Audit rows committed in groups: each request still waits until its own row is committed (nothing is
    answered that could not be audited), but the rows of the requests that arrive while a commit is under way
    share the next statement and the next commit, instead of one commit each.

    One flush runs at a time; whatever queued meanwhile is the next group (at most ``max_group`` rows). A failed
    group fails every request in it (each answers 503, as a single failed write did), and the next group is
    tried afresh.
    """

    def __init__(self, pool: asyncpg.Pool, service: str, *, max_group: int = 500):
        self.pool, self.service, self.max_group = pool, service, max_group
        self._queue: list[tuple[tuple[Any, ...], asyncio.Future[None]]] = []
        self._flusher: asyncio.Task[None] | None = None
        self.groups = 0  # how many statements were needed (tests and the bench read it)

    async def write(self, entry: dict[str, Any]) -> None:
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((_row(self.service, entry), done))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.ensure_future(self._flush())
        await done

    async def _flush(self) -> None:
        while self._queue:
            group, self._queue = self._queue[:self.max_group], self._queue[self.max_group:]
            self.groups += 1
            try:
                if len(group) == 1:
                    await self.pool.execute(WRITE, *group[0][0])
                else:
                    await self.pool.executemany(WRITE, [row for row, _ in group])  # one transaction: all or none
            except Exception as exc:
                for _, done in group:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, done in group:
                    if not done.done():
                        done.set_result(None)


async def entries(pool: asyncpg.Pool, *, case_id: str | None, actor: str | None, units: Sequence[str] | None,
                  limit: int) -> list[AuditLog]:
    """Newest first; ``units`` None: every unit's."""
    from services.backbone.models import AuditLog, from_row

    rows = await pool.fetch(ENTRIES, case_id, actor, list(units) if units is not None else None, limit)
    return [from_row(AuditLog, r) for r in rows]
