"""The supervision service (督办): its topics, handlers and HTTP routes."""

from __future__ import annotations

from pathlib import Path

from events.catalog import CONSUMES, service_topic
from services.backbone.runtime import ServiceSpec

SPEC = ServiceSpec(
    name="supervision",
    topic=service_topic("supervision"),
    consumes=CONSUMES["supervision"],
    handlers={},
    migrations=Path(__file__).parent / "migrations",
)
