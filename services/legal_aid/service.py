"""The legal_aid service (法律援助): its topics, handlers and HTTP routes."""

from __future__ import annotations

from pathlib import Path

from events.catalog import CONSUMES, service_topic
from services.backbone.runtime import ServiceSpec

SPEC = ServiceSpec(
    name="legal_aid",
    topic=service_topic("legal_aid"),
    consumes=CONSUMES["legal_aid"],
    handlers={},
    migrations=Path(__file__).parent / "migrations",
)
