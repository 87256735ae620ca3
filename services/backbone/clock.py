"""Business time: the "now" of received times, due dates, deadline firing and case logs.

In production it is the system clock. A test runs the services at another moment — a make-up
working Saturday, New Year's Eve in Shanghai, a year without calendar data — by shifting it with
``LABORCASE_CLOCK_OFFSET_SECONDS`` (added to the system clock; the shifted clock keeps ticking, so
deadlines still fire and retries still wait in real seconds). Every process of a run gets the same
offset, so they agree on "now".

Security clocks (token expiry, request-signature skew, rate limits) and infrastructure timers
(parked-event retries, outbox retention, leases) always read the system clock: shifting business
time must never open a hole in either.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True, slots=True)
class Clock:
    offset: timedelta = timedelta(0)

    def now(self) -> datetime:
        """The current instant, aware, in UTC."""
        return datetime.now(UTC) + self.offset

    @classmethod
    def at(cls, moment: datetime) -> Clock:
        """A clock that reads ``moment`` now and keeps ticking from there."""
        if moment.tzinfo is None:
            raise ValueError("a clock needs an aware moment (with its UTC offset)")
        return cls(moment - datetime.now(UTC))

    @classmethod
    def shifted_by(cls, seconds: float) -> Clock:
        return cls(timedelta(seconds=seconds))

    @property
    def shifted(self) -> bool:
        return self.offset != timedelta(0)


SYSTEM_CLOCK = Clock()
