"""The waiting queue's wake-up: "a mediator may have room now" (a case left them, or their capacity changed).

Cases nobody had room for wait in ``awaiting_assignment``; the service's loop offers them again every few
seconds (other replicas free room too) and at once when this signal is raised here.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from services.backbone.runtime import Runtime


class RoomSignal:
    """Raised by the use cases that may free a mediator's room; awaited by the waiting queue."""

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def may_have_freed(self) -> None:
        """Wake the waiting queue: a mediator may have room now."""
        self._event.set()

    async def wait(self, seconds: float) -> None:
        """Until a mediator may have room, or ``seconds`` at most."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)
        self._event.clear()


_signals: weakref.WeakKeyDictionary[Runtime, RoomSignal] = weakref.WeakKeyDictionary()


def room_signal(runtime: Runtime) -> RoomSignal:
    """The signal of one running mediation service (its routes raise it, its waiting-queue loop awaits it)."""
    signal = _signals.get(runtime)
    if signal is None:
        signal = _signals[runtime] = RoomSignal()
    return signal
