"""W3C trace context carried from request to event to event (OpenTelemetry's propagator), so one case can be
followed across services: every event a handler publishes is a child span of what caused it."""

from __future__ import annotations

import random
from contextvars import ContextVar

from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, get_current_span, set_span_in_context
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_propagator = TraceContextTextMapPropagator()
#: The trace of the HTTP request being served (set at the edge), inherited by its unit of work.
CURRENT: ContextVar[str | None] = ContextVar("laborcase_traceparent", default=None)


def child_of(traceparent: str | None) -> str:
    """A new span id in the caller's trace, or a new trace when there is none (or it is malformed)."""
    trace_id = 0
    if traceparent:
        parent = get_current_span(_propagator.extract({"traceparent": traceparent})).get_span_context()
        if parent.is_valid:
            trace_id = parent.trace_id
    span = SpanContext(trace_id=trace_id or random.getrandbits(128) or 1, span_id=random.getrandbits(64) or 1,
                       is_remote=False, trace_flags=TraceFlags(TraceFlags.SAMPLED))
    carrier: dict[str, str] = {}
    _propagator.inject(carrier, context=set_span_in_context(NonRecordingSpan(span)))
    return carrier["traceparent"]


def trace_id(traceparent: str | None) -> str | None:
    return traceparent.split("-")[1] if traceparent and traceparent.count("-") == 3 else None


def from_headers(headers: tuple[tuple[str, bytes], ...] | list[tuple[str, bytes]]) -> str | None:
    for key, value in headers:
        if key.lower() == "traceparent":
            return value.decode(errors="replace")
    return None
