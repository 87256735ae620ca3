"""The intake service (受理): its topics, handlers and HTTP routes."""

from __future__ import annotations

from pathlib import Path

from events.catalog import CONSUMES, service_topic
from services.backbone.runtime import ServiceSpec

SPEC = ServiceSpec(
    name="intake",
    topic=service_topic("intake"),
    consumes=CONSUMES["intake"],
    handlers={},
    migrations=Path(__file__).parent / "migrations",
)
