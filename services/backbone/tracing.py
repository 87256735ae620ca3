"""W3C trace context carried from request to event to event, so one case can be followed across services: every
event a handler publishes is a child span of what caused it.

The ``traceparent`` header is read as OpenTelemetry's propagator reads it (tests/unit/test_http_and_logs.py holds
the two to the same answer for any header) without building its context objects for every request."""

from __future__ import annotations

import random
import re
from contextvars import ContextVar

#: The trace of the HTTP request being served (set at the edge), inherited by its unit of work.
CURRENT: ContextVar[str | None] = ContextVar("laborcase_traceparent", default=None)

#: version-traceid-parentid-flags, and for a future version whatever it adds after them (W3C Trace Context §3.2)
_TRACEPARENT = re.compile(r"^[ \t]*([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:(-.*)|[ \t]*)$")
_MAX_LENGTH = 512


def parent_trace_id(traceparent: str | None) -> int | None:
    """The trace id of a valid ``traceparent``; None when there is none or it is malformed."""
    if not traceparent or len(traceparent) > _MAX_LENGTH:
        return None
    match = _TRACEPARENT.search(traceparent)
    if match is None:
        return None
    version, trace, span, _, rest = match.groups()
    if trace == "0" * 32 or span == "0" * 16 or version == "ff" or (version == "00" and rest):
        return None
    return int(trace, 16)


def child_of(traceparent: str | None) -> str:
    """A new span id in the caller's trace, or a new trace when there is none (or it is malformed); sampled."""
    trace = parent_trace_id(traceparent) or random.getrandbits(128) or 1
    return f"00-{trace:032x}-{random.getrandbits(64) or 1:016x}-01"


def trace_id(traceparent: str | None) -> str | None:
    return traceparent.split("-")[1] if traceparent and traceparent.count("-") == 3 else None


def from_headers(headers: tuple[tuple[str, bytes], ...] | list[tuple[str, bytes]]) -> str | None:
    for key, value in headers:
        if key.lower() == "traceparent":
            return value.decode(errors="replace")
    return None
