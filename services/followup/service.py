"""The followup service (回访): its topics, handlers and HTTP routes."""

from __future__ import annotations

from pathlib import Path

from events.catalog import CONSUMES, service_topic
from services.backbone.runtime import ServiceSpec

SPEC = ServiceSpec(
    name="followup",
    topic=service_topic("followup"),
    consumes=CONSUMES["followup"],
    handlers={},
    migrations=Path(__file__).parent / "migrations",
)
