"""Live board: LISTEN for alert changes (NOTIFY from the projection's transactions) and push them over SSE."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

from services.supervision.alerts import BOARD_CHANNEL

log = logging.getLogger(__name__)


class Board:
    """A version number that moves on every committed alert change; SSE streams wait on it."""

    def __init__(self) -> None:
        self.version = 0
        self._changed = asyncio.Event()

    def bump(self, *_: Any) -> None:
        self.version += 1
        self._changed.set()
        self._changed = asyncio.Event()

    async def wait(self, seen: int, timeout: float) -> bool:
        if self.version != seen:
            return True
        event = self._changed
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)
        return self.version != seen

    async def listen(self, dsn: str, stopping: asyncio.Event) -> None:
        """One LISTEN connection per process, re-established when the database comes back."""
        while not stopping.is_set():
            conn: asyncpg.Connection | None = None
            try:
                conn = await asyncpg.connect(dsn, timeout=5)
                await conn.add_listener(BOARD_CHANNEL, self.bump)
                self.bump()  # catch up on what changed while not listening
                while not stopping.is_set() and not conn.is_closed():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stopping.wait(), 2)
            except Exception as exc:  # database away: retry; SSE clients keep their last board
                log.debug("board listener down", extra={"error": repr(exc)})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopping.wait(), 1)
            finally:
                if conn is not None:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(conn.close(), 2)
