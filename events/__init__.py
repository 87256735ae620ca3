"""laborcase event contracts: the CloudEvents envelope, the topic catalog and the event models.

A plain contract library: a partner (court, labor bureau) can import it without pulling in
laborcase's runtime. Only pydantic is needed.
"""

from events.catalog import EVENTS, TOPICS, EventSpec, Topic, dead_letter_topic, spec_for
from events.envelope import (
    CE_CONTENT_TYPE,
    CloudEvent,
    EventRejected,
    decode_kafka,
    encode,
    kafka_headers,
    new_event,
    parse_data,
)

__all__ = [
    "CE_CONTENT_TYPE",
    "EVENTS",
    "TOPICS",
    "CloudEvent",
    "EventRejected",
    "EventSpec",
    "Topic",
    "dead_letter_topic",
    "decode_kafka",
    "encode",
    "kafka_headers",
    "new_event",
    "parse_data",
    "spec_for",
]
