"""The sender's wake-up: a message queued to go now is sent once the transaction that queued it commits, not at
the sender's next look (``SmsSettings.poll_seconds``, which still finds what came due meanwhile: a message held
through the night, one queued again after a failure, one another replica queued).

A process-wide bell: each running sender listens with an event of its own, made in its own event loop; the
consumer rings it after a commit that queued a message (``HandlerContext.when_committed``)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class Bell:
    def __init__(self) -> None:
        self._listeners: set[asyncio.Event] = set()

    def ring(self) -> None:
        for event in self._listeners:
            event.set()

    @contextlib.contextmanager
    def listening(self) -> Iterator[asyncio.Event]:
        event = asyncio.Event()
        self._listeners.add(event)
        try:
            yield event
        finally:
            self._listeners.discard(event)


#: rung when a committed transaction queued a message that may go now
QUEUED = Bell()
