"""CloudEvents 1.0 envelope: JSON structured mode on the wire, Kafka binary mode accepted on input.

``decode_kafka`` turns a Kafka record into a validated ``CloudEvent`` or raises ``EventRejected``
with a precise, machine-readable reason (``malformed``, ``unknown_type``, ``schema_violation``).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import pydantic_core
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

from events.catalog import spec_for

CE_CONTENT_TYPE = "application/cloudevents+json"
JSON_CONTENT_TYPE = "application/json"

Headers = Sequence[tuple[str, bytes]]


class EventRejected(Exception):
    """An event that can never be processed as it is: it belongs in the dead-letter topic."""

    def __init__(self, code: Literal["malformed", "unknown_type", "schema_violation", "invalid", "too_large",
                                     "unauthenticated", "out_of_scope"], detail: str):
        super().__init__(f"{code}: {detail}")
        self.code = code
        self.detail = detail


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event. ``id`` is the idempotency key of every consumer."""

    model_config = ConfigDict(extra="allow", frozen=True)

    specversion: Literal["1.0"]
    id: uuid.UUID
    source: str = Field(min_length=1, max_length=512)
    type: str = Field(min_length=1, max_length=128)
    time: AwareDatetime
    subject: str | None = Field(default=None, max_length=256)
    datacontenttype: str | None = JSON_CONTENT_TYPE
    dataschema: str | None = None
    data: dict[str, Any] | None = None


def new_event(
    event_type: str,
    *,
    source: str,
    data: BaseModel,
    subject: str | None = None,
    time: datetime | None = None,
    event_id: uuid.UUID | None = None,
    **extensions: str,
) -> CloudEvent:
    """Build an event of a catalogued type; the data is validated against the type's model."""
    spec = spec_for(event_type)
    if spec is None:
        raise ValueError(f"unknown event type {event_type!r}")
    if not isinstance(data, spec.model):
        raise TypeError(f"{event_type} carries {spec.model.__name__}, not {type(data).__name__}")
    return CloudEvent(
        specversion="1.0",
        id=event_id or uuid.uuid4(),
        source=source,
        type=event_type,
        time=time or datetime.now(UTC),
        subject=subject,
        dataschema=spec.dataschema,
        data=data.model_dump(mode="json", exclude_none=True),
        **extensions,
    )


def encode(event: CloudEvent) -> bytes:
    """Structured-mode JSON bytes of the event."""
    return event.model_dump_json(exclude_none=True).encode()


def kafka_headers(event: CloudEvent) -> list[tuple[str, bytes]]:
    """Headers for structured mode (the Kafka protocol binding): the content type, the type for routing, and
    the W3C trace context when the event carries one (CloudEvents distributed-tracing extension)."""
    headers = [("content-type", CE_CONTENT_TYPE.encode()), ("ce_type", event.type.encode())]
    traceparent = (event.model_extra or {}).get("traceparent")
    if traceparent:
        headers.append(("traceparent", str(traceparent).encode()))
    return headers


def _header_map(headers: Iterable[tuple[str, bytes | None]] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for key, value in headers or ():
        try:
            out[key.lower()] = (value or b"").decode()
        except UnicodeDecodeError as exc:
            raise EventRejected("malformed", f"header {key!r} is not UTF-8") from exc
    return out


def _is_binary_mode(headers: dict[str, str]) -> bool:
    content_type = headers.get("content-type", "")
    return not content_type.startswith("application/cloudevents") and "ce_specversion" in headers


def _json(value: bytes | None, what: str) -> Any:
    """A record's JSON, parsed by pydantic's own parser (2.4× ``json.loads``; integers kept exact): UTF-8 only,
    a lone surrogate or nesting beyond 200 levels refused, as the database would refuse them later."""
    if value is None:
        raise EventRejected("malformed", f"{what} is empty")
    try:
        return pydantic_core.from_json(value, allow_inf_nan=False)
    except ValueError as exc:
        if "recursion limit" in str(exc):
            raise EventRejected("malformed", f"{what} is nested too deeply") from exc
        raise EventRejected("malformed", f"{what} is not valid JSON: {exc}") from exc


def _envelope_errors(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'event'}: {e['msg']}" for e in exc.errors())


def decode_kafka(value: bytes | None, headers: Iterable[tuple[str, bytes | None]] | None = None) -> CloudEvent:
    """Parse a Kafka record as a CloudEvent (structured JSON, or binary mode with ``ce_*`` headers)."""
    return decode_kafka_data(value, headers)[0]


def decode_kafka_data(value: bytes | None,
                      headers: Iterable[tuple[str, bytes | None]] | None = None) -> tuple[CloudEvent, BaseModel]:
    """The CloudEvent of a Kafka record and its data as the catalogued model (each validated once)."""
    hmap = _header_map(headers)
    if _is_binary_mode(hmap):
        attributes: dict[str, Any] = {k[3:]: v for k, v in hmap.items() if k.startswith("ce_")}
        content_type = hmap.get("content-type", JSON_CONTENT_TYPE)
        if not content_type.startswith(JSON_CONTENT_TYPE):
            raise EventRejected("malformed", f"unsupported data content type {content_type!r}")
        attributes["datacontenttype"] = content_type
        attributes["data"] = _json(value, "event data") if value else None
        raw = attributes
    else:
        raw = _json(value, "event")
        if not isinstance(raw, dict):
            raise EventRejected("malformed", "a structured CloudEvent must be a JSON object")
    return parse_envelope_data(raw)


def type_header(headers: Iterable[tuple[str, bytes | None]] | None) -> str | None:
    """The ``ce_type`` header, when the producer set one (ours always do): routing without parsing."""
    for key, value in headers or ():
        if key.lower() == "ce_type" and value:
            try:
                return value.decode()
            except UnicodeDecodeError:
                return None
    return None


def parse_envelope(raw: dict[str, Any]) -> CloudEvent:
    """Validate the envelope attributes and the data of a catalogued type."""
    return parse_envelope_data(raw)[0]


def parse_envelope_data(raw: dict[str, Any]) -> tuple[CloudEvent, BaseModel]:
    try:
        event = CloudEvent.model_validate(raw)
    except ValidationError as exc:
        raise EventRejected("malformed", f"invalid CloudEvent envelope: {_envelope_errors(exc)}") from exc
    return event, parse_data(event)


def parse_data(event: CloudEvent) -> BaseModel:
    """The event's data as its catalogued model, or ``EventRejected``."""
    spec = spec_for(event.type)
    if spec is None:
        raise EventRejected("unknown_type", f"unknown event type {event.type!r}")
    if event.data is None:
        raise EventRejected("schema_violation", f"{event.type}: data is missing")
    try:
        return spec.model.model_validate(event.data)
    except ValidationError as exc:
        raise EventRejected("schema_violation", f"{event.type}: {_envelope_errors(exc)}") from exc
