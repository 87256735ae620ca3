"""Quiet hours (免打扰时段): nothing is sent to a worker between 21:00 and 08:00 Asia/Shanghai; a message that falls
due then is held and sent at 08:00. Shanghai keeps UTC+8 all year (no daylight saving), so "08:00 tomorrow" is
always 24 hours after "08:00 today"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta

from services.calendar.model import SHANGHAI


@dataclass(frozen=True)
class QuietHours:
    start: time = time(21, 0)
    end: time = time(8, 0)

    @classmethod
    def parse(cls, start: str, end: str) -> QuietHours:
        return cls(time.fromisoformat(start), time.fromisoformat(end))

    def is_quiet(self, at: datetime) -> bool:
        t = at.astimezone(SHANGHAI).time()
        if self.start == self.end:
            return False
        if self.start > self.end:  # across midnight (21:00–08:00)
            return t >= self.start or t < self.end
        return self.start <= t < self.end

    def next_allowed(self, at: datetime) -> datetime:
        """``at`` itself outside quiet hours, else the end of this quiet period (08:00 Shanghai)."""
        if not self.is_quiet(at):
            return at
        local = at.astimezone(SHANGHAI)
        day = local.date() if local.time() < self.end else local.date() + timedelta(days=1)
        return datetime.combine(day, self.end, SHANGHAI)
