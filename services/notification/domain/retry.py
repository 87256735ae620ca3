"""When a message that failed for a transient reason (throttled, provider busy, network) is tried again."""

from __future__ import annotations

import random
from datetime import timedelta

#: gateway calls before a message that keeps failing transiently is given up (failed, with the last reason)
MAX_ATTEMPTS = 8


def backoff(attempts: int, *, base: float = 2.0, cap: float = 600.0, jitter: float = 0.25) -> timedelta:
    """Exponential (2 s, 4 s, 8 s … at most 10 minutes) with some jitter, after ``attempts`` failed calls."""
    seconds = min(cap, base * 2 ** max(0, attempts - 1))
    return timedelta(seconds=seconds * (1 + random.uniform(-jitter, jitter)))
