"""The mediation service (调解): its topics, handlers and HTTP routes."""

from __future__ import annotations

from pathlib import Path

from events.catalog import CONSUMES, service_topic
from services.backbone.runtime import ServiceSpec

SPEC = ServiceSpec(
    name="mediation",
    topic=service_topic("mediation"),
    consumes=CONSUMES["mediation"],
    handlers={},
    migrations=Path(__file__).parent / "migrations",
)
