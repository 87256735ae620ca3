"""How many wrong passwords an account or an address may try, pure: a growing delay, then a temporary lock.

Per account (someone guessing one person's password): from the 5th failure in a row the account is locked
for 30 s, doubling with each further failure, at most 15 min. Per address (someone trying many accounts):
from the 50th failure (an office's clerks often share one address), 60 s doubling, at most 30 min. Every
wrong password is also answered after a delay that grows with the failures (0.25 s … 4 s). Thirty minutes
without a failure start the count over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

FORGET_AFTER = timedelta(minutes=30)


@dataclass(frozen=True)
class Limit:
    lock_after: int
    first_lock: timedelta
    longest_lock: timedelta


ACCOUNT = Limit(5, timedelta(seconds=30), timedelta(minutes=15))
ADDRESS = Limit(50, timedelta(seconds=60), timedelta(minutes=30))  # an office's clerks share one address


@dataclass(frozen=True)
class Attempts:
    failures: int = 0
    last_failure: datetime | None = None
    locked_until: datetime | None = None

    def locked_for(self, now: datetime) -> timedelta | None:
        if self.locked_until is not None and self.locked_until > now:
            return self.locked_until - now
        return None


def after_failure(a: Attempts, now: datetime, limit: Limit) -> Attempts:
    failures = 1 if a.last_failure is None or now - a.last_failure > FORGET_AFTER else a.failures + 1
    locked_until = a.locked_until
    if failures >= limit.lock_after:
        lock = min(limit.first_lock * 2 ** (failures - limit.lock_after), limit.longest_lock)
        locked_until = now + lock
    return Attempts(failures, now, locked_until)


def answer_delay(failures: int) -> float:
    """Seconds before a wrong password is answered."""
    return min(0.25 * 2 ** max(failures - 1, 0), 4.0)


def minutes(d: timedelta) -> int:
    return max(1, -(-int(d.total_seconds()) // 60))


# --- the worker's door (进度查询): case number + query code ---------------------------------------------------
#: per case number (someone guessing one case's code): from the 5th wrong code a lock of 60 s, doubling, at most an
#: hour — with 50-bit codes that leaves an attacker ~a hundred tries a day against one case (2^-43 of the space).
PUBLIC_CASE = Limit(5, timedelta(seconds=60), timedelta(hours=1))
#: per address (someone trying many case numbers): mobile networks put many workers behind one address, so later
PUBLIC_ADDRESS = Limit(30, timedelta(seconds=60), timedelta(hours=1))
