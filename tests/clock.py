"""The clock the tests control.

Every date a test needs comes from here, never from the day the suite happens to run. By default the
suite runs at the system's "now" (it must pass on any day); ``LABORCASE_TEST_NOW`` moves the whole run —
the tests and every service they start (in-process or as ``laborcase up``) — to another moment:

    LABORCASE_TEST_NOW=2026-02-14T10:00:00+08:00 python3 dev.py test -m clock

The shifted clock keeps ticking from that moment, so deadlines fire and retries wait in real seconds.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta

from services.backbone.clock import Clock
from services.calendar.model import SHANGHAI, local_date

#: The moments the shifted-clock run uses (``python3 dev.py test`` runs ``-m clock`` at each of them).
SHIFTED_MOMENTS = {
    # a make-up working Saturday (调休上班): a naive weekday test says "weekend"
    "makeup-saturday": "2026-02-14T10:00:00+08:00",
    # New Year's Eve 23:30 in Shanghai is still 15:30 on Dec 31 in UTC: the day differs between the two,
    # and every deadline reaches the next year
    "new-years-eve": "2026-12-31T23:30:00+08:00",
    # deadlines reach a year with no calendar data (the pinned chinese-calendar ends with 2026):
    # due dates are provisional, Monday–Friday, and the operator is alerted
    "year-without-data": "2026-12-28T10:00:00+08:00",
}


def _clock() -> Clock:
    raw = os.environ.get("LABORCASE_TEST_NOW")
    if not raw:
        return Clock()
    return Clock.at(datetime.fromisoformat(SHIFTED_MOMENTS.get(raw, raw)))


CLOCK = _clock()


def now() -> datetime:
    """The test's current instant (aware, UTC)."""
    return CLOCK.now()


def now_iso(*, days: float = 0, hours: float = 0) -> str:
    """``now`` moved by some days/hours, to the second, RFC 3339 in Shanghai (as a clerk would send it)."""
    return (now() + timedelta(days=days, hours=hours)).astimezone(SHANGHAI).replace(microsecond=0).isoformat()


def today() -> date:
    """The Asia/Shanghai date of ``now`` (the day the rules count from)."""
    return local_date(now())


def service_env() -> dict[str, str]:
    """What a service process needs to share the test's clock."""
    return {"LABORCASE_CLOCK_OFFSET_SECONDS": repr(CLOCK.offset.total_seconds())} if CLOCK.shifted else {}


def describe() -> str:
    moment = now().astimezone(SHANGHAI).isoformat(timespec="seconds")
    if not CLOCK.shifted:
        return f"test clock: system time, now {moment} (set LABORCASE_TEST_NOW={moment} to replay this run's dates)"
    return f"test clock: shifted to {os.environ['LABORCASE_TEST_NOW']}, now {moment}"
