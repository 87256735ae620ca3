"""Events published by the notification service (通知) on notification.events: what became of a message to a
worker. They name the case, the step and the outcome — never the phone number or the text."""

from __future__ import annotations

from pydantic import Field

from events.common import Contract, Timestamp


class MessageOutcome(Contract):
    """notification.sent / notification.failed — an SMS to one of the case's workers was sent, or failed for good."""

    case_id: str
    notification_id: str
    kind: str = Field(description="the step the worker was told of (a template of services/notification/templates.toml)")
    source_event_id: str = Field(description="the event the message tells of")
    attempts: int
    at: Timestamp
    reason: str | None = Field(default=None, description="failed: the provider's code and message")
